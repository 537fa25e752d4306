"""ringway-load fanout against the real gateway's channels, and (peer target) against a small
broadcast server written here that can be told to lose messages, so the loss accounting is
checked against a known answer."""

import asyncio
import hashlib
import json
import threading

import pytest
import websockets

from test_heavy_load import check_percentiles, load_keys, run_load  # noqa: F401 (load_keys: fixture)

CHANNEL = "bench.fanout"
SCOPES = f"subscribe:{CHANNEL},publish:{CHANNEL}"
TOKEN = "fanout-test-token"


def gateway(server, tmp_path, registry, *extra, workers=2):
    tokens = tmp_path / "tokens"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    tokens.write_text(f"bench-publisher {digest} publish:{CHANNEL}\n")
    return server("--devices", registry, "--service-tokens", tokens, *extra, workers=workers)


@pytest.mark.time_limit(90)
def test_fanout_through_the_gateway_with_a_service_publisher(server, load_keys, tmp_path):
    n, rate = 30, 400
    keys, registry = load_keys(n, SCOPES)
    # Two workers: the channel's sequencer sends each frame to the other worker's subscribers.
    srv = gateway(server, tmp_path, registry, "--request-rate", 10000, "--request-burst", 10000)
    r, _, diag = run_load("fanout", "--url", srv.url("/ws"), "--keys", keys, "--token", TOKEN,
                          "--connections", n, "--rate", rate, "--size", 100, "--duration", "2s",
                          "--warmup", "500ms", "--server-pid", srv.pid, "--json")
    assert r["mode"] == "fanout" and r["target"] == "ringway", r
    assert r["subscribers"] == n and r["subscribed"] == n and r["publishers"] == 1, r
    assert r["errors"] == 0 and r["lost"] == 0 and r["lost_total"] == 0, diag
    assert r["publish_refused"] == 0, diag
    assert r["published"] == pytest.approx(rate * r["duration_s"], rel=0.1), r
    # Every answer counted every subscriber, and no subscriber saw a gap (lost == 0 above), so
    # each got every message from its subscribe on; only those in flight when the run stopped
    # (at most half a second's worth, even on a busy machine) can be missing from the total.
    assert r["delivered_reported"] == n * r["publish_ok"], r
    assert r["messages_total"] <= n * r["messages_sent"], r
    assert r["messages_total"] >= n * (r["messages_sent"] - rate // 2), r
    assert r["deliveries"] == r["messages"] > 0, r
    assert r["deliveries_per_s"] == pytest.approx(r["deliveries"] / r["duration_s"], rel=0.01)
    assert r["deliveries_per_server_cpu_s"] > 0, r
    check_percentiles(r)
    srv.stop()


@pytest.mark.time_limit(90)
def test_fanout_with_device_publishers(server, load_keys, tmp_path):
    keys, registry = load_keys(12, SCOPES)
    srv = gateway(server, tmp_path, registry, "--request-rate", 10000, "--request-burst", 10000)
    r, _, diag = run_load("fanout", "--url", srv.url("/ws"), "--keys", keys,
                          "--connections", 10, "--publishers", 2, "--threads", 2,
                          "--rate", 300, "--duration", "1500ms", "--warmup", "300ms", "--json")
    assert r["errors"] == 0 and r["lost"] == 0 and r["subscribed"] == 10, diag
    # Both publishers share the channel's one order: offsets still go up by one everywhere.
    assert r["delivered_reported"] == 10 * r["publish_ok"] > 0, r
    srv.stop()


@pytest.mark.time_limit(90)
def test_publishes_over_the_request_rate_are_refused_not_errors(server, load_keys, tmp_path):
    keys, registry = load_keys(5, SCOPES)
    srv = gateway(server, tmp_path, registry, "--request-rate", 20, "--request-burst", 5)
    r, _, diag = run_load("fanout", "--url", srv.url("/ws"), "--keys", keys, "--token", TOKEN,
                          "--connections", 5, "--rate", 200, "--duration", "1s",
                          "--warmup", "200ms", "--json")
    assert r["errors"] == 0 and r["lost"] == 0, diag
    assert r["publish_refused"] > 0, r
    # Only what was accepted got an offset: nothing is missing at the subscribers.
    assert 0 < r["publish_ok"] < r["published"], r
    srv.stop()


@pytest.mark.time_limit(60)
def test_subscribe_without_the_scope_is_a_failure(server, load_keys, tmp_path):
    keys, registry = load_keys(3, f"publish:{CHANNEL}")
    srv = gateway(server, tmp_path, registry)
    r, _, diag = run_load("fanout", "--url", srv.url("/ws"), "--keys", keys, "--token", TOKEN,
                          "--connections", 3, "--duration", "500ms", "--warmup", "0s",
                          "--ramp-timeout", "2s", "--backoff-min", "100ms", "--backoff-max",
                          "200ms", "--json", expect_rc=1)
    assert r["subscribed"] == 0, r
    assert any("SCOPE_DENIED" in k for k in r["error_reasons"]), r
    srv.stop()


class BroadcastPeer:
    """Sends every text message to every other connection, except those whose seq is listed
    in `drop` (mod 10): a peer that loses messages on purpose."""

    def __init__(self, drop=()):
        self.drop = set(drop)
        self.clients = set()
        self.dropped = 0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(10), "the broadcast peer did not start"

    def _run(self, started):
        asyncio.set_event_loop(self.loop)

        async def handler(ws, path=None):
            self.clients.add(ws)
            try:
                async for msg in ws:
                    if json.loads(msg)["seq"] % 10 in self.drop:
                        self.dropped += 1
                        continue
                    websockets.broadcast([c for c in self.clients if c is not ws], msg)
            except websockets.ConnectionClosed:
                pass
            finally:
                self.clients.discard(ws)

        async def main():
            self.server = await websockets.serve(handler, "127.0.0.1", 0, compression=None)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            await self.server.wait_closed()

        self.loop.run_until_complete(main())

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(timeout=10)


@pytest.mark.time_limit(60)
def test_peer_target_counts_each_publishers_gaps():
    peer = BroadcastPeer(drop={3})  # one message in ten never reaches anyone
    try:
        r, _, diag = run_load("fanout", "--target", "peer", "--url",
                              f"ws://127.0.0.1:{peer.port}/", "--connections", 8,
                              "--publishers", 2, "--rate", 200, "--size", 64,
                              "--duration", "2s", "--warmup", "500ms", "--json")
    finally:
        peer.close()
    assert r["target"] == "peer" and r["subscribed"] == 8, r
    assert r["errors"] == 0, diag
    assert r["publish_refused"] == 0 and r["publish_ok"] == 0, r  # a peer does not answer
    # Per subscriber and per publisher, one seq in ten is missing: lost / (lost + got) = 0.1.
    assert r["lost"] == pytest.approx(r["deliveries"] / 9, rel=0.15), r
    assert r["lost_total"] >= r["lost"], r
    check_percentiles(r)


@pytest.mark.time_limit(60)
def test_peer_target_without_loss():
    peer = BroadcastPeer()
    try:
        r, _, diag = run_load("fanout", "--target", "peer", "--url",
                              f"ws://127.0.0.1:{peer.port}/", "--connections", 5,
                              "--rate", 100, "--duration", "1s", "--warmup", "300ms", "--json")
    finally:
        peer.close()
    assert r["errors"] == 0 and r["lost"] == 0 and r["lost_total"] == 0, diag
    assert r["deliveries"] == pytest.approx(5 * r["published"], abs=15), r
