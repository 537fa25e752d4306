"""permessage-deflate (RFC 7692) on the real binary: negotiation with Python websockets (which
offers it by default) and with hand-built offers, echo of compressible and incompressible
messages, fragmented compressed messages with pings between the fragments, the failures
(a compression bomb closed 1009, invalid data 1007, RSV1 on a continuation or without
negotiation 1002), and a publish to many subscribers compressed once (docs/deflate.md)."""

import asyncio
import json
import os
import zlib

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from authclient import DeviceKey, check_challenge, device_connect, token_digest, write_lines
from conftest import (OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWs, ServerClosed,
                      upgrade_request, new_key)
from test_auth import WS_PATH
from test_operations import scrape

RSV1 = 4
ON_ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
# Takeover within the budget, to a client that lets the server cut its kept window to 4 KiB.
TAKEOVER_ANSWER = "permessage-deflate; client_max_window_bits=12"


def json_text(n):
    """Compressible JSON-like text of exactly n bytes."""
    out, i = [], 0
    size = 0
    while size < n:
        part = json.dumps({"device": f"sensor-{i % 97}", "t": i, "ok": True}) + ","
        out.append(part)
        size += len(part)
        i += 1
    return "".join(out)[:n]


def deflate_raw(data, *, final=False, level=6):
    """Raw deflate as a client sends it: sync-flushed with the 00 00 ff ff tail cut off (or
    ending in a final block)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    if final:
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class DeflateWs(RawWs):
    """A raw client that offers permessage-deflate and inflates what the server compresses."""

    allowed_rsv = RSV1

    def upgrade(self, path="/echo", *, offer="permessage-deflate; client_max_window_bits",
                **kw):
        key = new_key()
        extra = [("Sec-WebSocket-Extensions", offer)] if offer else []
        req = upgrade_request(f"{self.host}:{self.port}", path, key=key, extra=extra)
        return super().upgrade(path, request=req, **kw)

    def recv_deflated(self, timeout=5.0):
        """One data message -> (opcode, payload, was it compressed)."""
        import time
        deadline = time.monotonic() + timeout
        opcode, parts, compressed = None, [], False
        while True:
            f = self.recv_frame(deadline=deadline)
            if f.opcode == 0x8:
                raise ServerClosed(f)
            if f.opcode in (OP_PING, OP_PONG):
                continue
            if opcode is None:
                opcode, compressed = f.opcode, bool(f.rsv & RSV1)
            else:
                assert f.opcode == OP_CONT and not f.rsv, f
            parts.append(f.payload)
            if f.fin:
                break
        payload = b"".join(parts)
        if compressed:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        return opcode, payload, compressed


def deflate_client(srv, path="/echo", **kw):
    c = srv.track(DeflateWs(srv.host, srv.port))
    c.upgrade(path, **kw)
    return c


async def ws_echo(url, messages, **connect_kw):
    async with websockets.connect(url, max_size=None, open_timeout=5, close_timeout=3,
                                  ping_interval=None, **connect_kw) as ws:
        header = ws.response_headers.get("Sec-WebSocket-Extensions")
        for m in messages:
            await ws.send(m)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert got == m, f"echo of {len(m)} bytes differs"
        return header


SIZES = [0, 1, 255, 256, 1000, 16384, 65536, 300_000, (1 << 20) - 16]


def test_websockets_negotiates_and_echoes_every_size(server):
    srv = server()
    texts = [json_text(n) for n in SIZES]
    blobs = [os.urandom(n) for n in SIZES]
    header = asyncio.run(ws_echo(srv.url(), texts + blobs))
    assert header == ON_ANSWER
    m = scrape(srv)
    assert m["ringway_deflate_negotiated_total"] == 1
    # websockets compresses everything it sends; the server compresses what is worth it.
    assert m["ringway_inflate_messages_total"] >= len(SIZES)
    assert m["ringway_deflate_messages_total"] >= 5
    assert m["ringway_deflate_bytes_out_total"] < m["ringway_deflate_bytes_in_total"] / 3


@pytest.mark.parametrize("params,answer_extra", [
    (dict(server_max_window_bits=10), "; server_max_window_bits=10"),
    (dict(server_max_window_bits=9, client_max_window_bits=12), "; server_max_window_bits=9"),
    (dict(server_no_context_takeover=True, client_no_context_takeover=True), ""),
    (dict(client_max_window_bits=9), ""),
])
def test_websockets_parameters(server, params, answer_extra):
    srv = server()
    factory = ClientPerMessageDeflateFactory(**params)
    msgs = [json_text(n) for n in (300, 5000, 200_000)] + [os.urandom(3000)]
    header = asyncio.run(ws_echo(srv.url(), msgs, extensions=[factory], compression=None))
    assert header == ON_ANSWER + answer_extra


def test_server_max_window_bits_8_is_declined(server):
    srv = server()
    c = deflate_client(srv, offer="permessage-deflate; server_max_window_bits=8")
    assert c.response.header("sec-websocket-extensions") is None
    c.send_text("x" * 1000)
    op, payload = c.recv_message()
    assert payload == b"x" * 1000


def test_first_acceptable_offer_wins(server):
    srv = server()
    c = deflate_client(srv, offer="permessage-deflate; foo=1, "
                                  "permessage-deflate; server_max_window_bits=11")
    assert c.response.header("sec-websocket-extensions") == \
        ON_ANSWER + "; server_max_window_bits=11"


def test_off_mode_never_negotiates(server):
    srv = server("--deflate", "off")
    header = asyncio.run(ws_echo(srv.url(), [json_text(5000)]))
    assert header is None
    assert scrape(srv)["ringway_deflate_negotiated_total"] == 0


def test_small_messages_go_uncompressed(server):
    srv = server("--deflate-min-size", "512")
    c = deflate_client(srv)
    for n, expect_compressed in ((100, False), (511, False), (512, True), (4000, True)):
        text = json_text(n).encode()
        c.send_text(deflate_raw(text), rsv=RSV1)
        op, payload, compressed = c.recv_deflated()
        assert (op, payload, compressed) == (OP_TEXT, text, expect_compressed), n
    # Incompressible data is sent as it is.
    blob = os.urandom(4000)
    c.send_binary(blob)
    assert c.recv_deflated() == (OP_BINARY, blob, False)


def test_fragmented_compressed_messages_with_pings(server):
    srv = server()
    c = deflate_client(srv)
    for n in (1000, 70_000, 1 << 19):
        text = json_text(n).encode()
        z = deflate_raw(text)
        parts = [z[i:i + max(1, len(z) // 4)] for i in range(0, len(z), max(1, len(z) // 4))]
        for i, part in enumerate(parts):
            first, last = i == 0, i == len(parts) - 1
            c.send_frame(OP_TEXT if first else OP_CONT, part, fin=last, rsv=RSV1 if first else 0)
            if not last:
                c.send_frame(OP_PING, b"p%d" % i)
        op, payload, compressed = c.recv_deflated(timeout=10)
        assert op == OP_TEXT and payload == text and compressed, n
    # A message a client ends with a final block is read too.
    c.send_binary(deflate_raw(b"final block " * 100, final=True), rsv=RSV1)
    assert c.recv_deflated()[1] == b"final block " * 100


def test_compression_bomb_closed_1009(server):
    srv = server("--max-message-size", "1MiB")
    c = deflate_client(srv)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(co.compress(chunk) for _ in range(256)) + co.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 300 * 1024  # 256 MiB inflated
    c.send_binary(bomb, rsv=RSV1)
    c.expect_close(1009)
    m = scrape(srv)
    assert m["ringway_inflate_too_big_total"] == 1
    assert m['ringway_closes_total{code="1009"}'] == 1


def test_invalid_deflate_data_closed_1007(server):
    srv = server()
    c = deflate_client(srv)
    c.send_text(b"\xff\xff\xff\xff\x12\x34 not deflate", rsv=RSV1)
    c.expect_close(1007)
    # Valid deflate of invalid UTF-8 in a text message is 1007 too.
    c2 = deflate_client(srv)
    c2.send_text(deflate_raw(b"ok \xc3\x28"), rsv=RSV1)
    c2.expect_close(1007)
    assert scrape(srv)["ringway_inflate_invalid_total"] == 1


def test_rsv1_on_a_continuation_closed_1002(server):
    srv = server()
    c = deflate_client(srv)
    c.send_frame(OP_TEXT, b"hel", fin=False)
    c.send_frame(OP_CONT, b"lo", rsv=RSV1)
    c.expect_close(1002)


def test_rsv1_without_negotiation_closed_1002(server):
    srv = server()
    c = deflate_client(srv, offer=None)
    assert c.response.header("sec-websocket-extensions") is None
    c.send_text(deflate_raw(b"hello"), rsv=RSV1)
    c.expect_close(1002)


def test_rsv1_on_a_control_frame_closed_1002(server):
    srv = server()
    c = deflate_client(srv)
    c.send_frame(OP_PING, b"", rsv=RSV1)
    c.expect_close(1002)


# ---------------------------------------------------------------------------------------------
# The gateway route: one compression per publish
# ---------------------------------------------------------------------------------------------


async def subscriber(url, key, channel, ready, got, compression="deflate"):
    async with websockets.connect(url, open_timeout=5, close_timeout=3, ping_interval=None,
                                  compression=compression) as ws:
        nonce = check_challenge(await ws.recv())
        await ws.send(json.dumps(device_connect(key, nonce, ["subscribe:*", "publish:*"])))
        hello = json.loads(await ws.recv())
        assert hello["ok"], hello
        await ws.send(json.dumps({"type": "req", "id": "s", "method": "subscribe",
                                  "params": {"channel": channel}}))
        res = json.loads(await ws.recv())
        assert res["ok"], res
        ready.release()
        ev = json.loads(await asyncio.wait_for(ws.recv(), 10))
        got.append((ws.response_headers.get("Sec-WebSocket-Extensions"), ev))


@pytest.mark.parametrize("workers", [1, 2])
def test_publish_to_many_subscribers_is_compressed_once(server, tmp_path, workers):
    keys = [DeviceKey.generate() for _ in range(7)]
    dev = tmp_path / "devices.txt"
    write_lines(dev, [k.registry_line(["subscribe:*", "publish:*"]) for k in keys])
    tok = tmp_path / "tokens.txt"
    write_lines(tok, [f"svc {token_digest('t0k3n')} publish:*"])
    srv = server("--devices", dev, "--service-tokens", tok, "--workers", str(workers))
    url = srv.url(WS_PATH)
    data = {"readings": [{"sensor": f"s{i}", "value": i * 1.5, "unit": "C"} for i in range(40)]}

    async def run():
        ready = asyncio.Semaphore(0)
        got = []
        # Five subscribers with deflate, one without.
        tasks = [asyncio.create_task(subscriber(url, k, "fleet.1", ready, got)) for k in keys[:5]]
        tasks.append(asyncio.create_task(subscriber(url, keys[5], "fleet.1", ready, got,
                                                    compression=None)))
        for _ in tasks:
            await asyncio.wait_for(ready.acquire(), 10)
        before = scrape(srv)
        async with websockets.connect(url, open_timeout=5, close_timeout=3, ping_interval=None,
                                      compression=None) as pub:
            nonce = check_challenge(await pub.recv())
            await pub.send(json.dumps(device_connect(keys[6], nonce, ["publish:*"])))
            assert json.loads(await pub.recv())["ok"]
            await pub.send(json.dumps({"type": "req", "id": "p", "method": "publish",
                                       "params": {"channel": "fleet.1", "data": data}}))
            res = json.loads(await pub.recv())
            assert res["ok"] and res["payload"]["delivered"] == 6, res
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return before, got

    before, got = asyncio.run(run())
    after = scrape(srv)
    assert len(got) == 6
    for header, ev in got:
        assert ev["payload"]["data"] == data
    assert sorted(h is not None for h, _ in got) == [False] + [True] * 5
    delta = {k: after[k] - before[k] for k in ("ringway_deflate_messages_total",
                                               "ringway_deflate_shared_deliveries_total",
                                               "ringway_deliveries_total")}
    assert delta == {"ringway_deflate_messages_total": 1,
                     "ringway_deflate_shared_deliveries_total": 5,
                     "ringway_deliveries_total": 6}, delta


# ---------------------------------------------------------------------------------------------
# Takeover mode
# ---------------------------------------------------------------------------------------------


def similar_messages(count=40):
    return [json.dumps({"device": "sensor-7", "seq": i, "temperature": 20 + i % 5,
                        "humidity": 40 + i % 7, "status": "ok", "firmware": "1.4.2",
                        "site": "north-west-field", "tags": ["roof", "outdoor", "battery"]})
            + " " * 60 for i in range(count)]


def test_takeover_keeps_context_and_compresses_better(server):
    msgs = similar_messages()
    sizes = {}
    for mode in ("on", "takeover"):
        srv = server("--deflate", mode, "--deflate-min-size", "64")
        header = asyncio.run(ws_echo(srv.url(), msgs))
        m = scrape(srv)
        sizes[mode] = m["ringway_deflate_bytes_out_total"]
        assert m["ringway_deflate_messages_total"] == len(msgs)
        if mode == "takeover":
            # websockets' default offer: nothing is asked of the server, so context is kept.
            assert header == TAKEOVER_ANSWER
            assert m["ringway_deflate_takeover_total"] == 1
        else:
            assert header == ON_ANSWER
    assert sizes["takeover"] * 2 < sizes["on"], sizes


def test_takeover_honours_no_context_takeover_offers(server):
    srv = server("--deflate", "takeover")
    factory = ClientPerMessageDeflateFactory(server_no_context_takeover=True)
    header = asyncio.run(ws_echo(srv.url(), similar_messages(5), extensions=[factory],
                                 compression=None))
    assert header == "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
    factory = ClientPerMessageDeflateFactory(client_no_context_takeover=True)
    header = asyncio.run(ws_echo(srv.url(), similar_messages(5), extensions=[factory],
                                 compression=None))
    assert header == "permessage-deflate; client_no_context_takeover"


def test_takeover_beyond_the_budget_falls_back(server):
    # Room for one connection's state on the one worker.
    srv = server("--deflate", "takeover", "--deflate-memory-budget", "100KiB", workers=1)

    async def run():
        async with websockets.connect(srv.url(), ping_interval=None) as first:
            assert first.response_headers["Sec-WebSocket-Extensions"] == TAKEOVER_ANSWER
            async with websockets.connect(srv.url(), ping_interval=None) as second:
                assert second.response_headers["Sec-WebSocket-Extensions"] == ON_ANSWER
                for ws in (first, second):
                    for m in similar_messages(5):
                        await ws.send(m)
                        assert await ws.recv() == m
        # Both closed: once the server has let go of them, the budget is free again.
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            m = scrape(srv)
            if m['ringway_connections{state="echo"}'] == 0 and \
                    m['ringway_connections{state="closing"}'] == 0:
                break
            assert asyncio.get_running_loop().time() < deadline, m
            await asyncio.sleep(0.02)
        async with websockets.connect(srv.url(), ping_interval=None) as third:
            assert third.response_headers["Sec-WebSocket-Extensions"] == TAKEOVER_ANSWER

    asyncio.run(run())
    m = scrape(srv)
    assert m["ringway_deflate_takeover_total"] == 2
    assert m["ringway_deflate_takeover_fallbacks_total"] == 1


# ---------------------------------------------------------------------------------------------
# node's ws
# ---------------------------------------------------------------------------------------------


NODE_SCRIPT = os.path.join(os.path.dirname(__file__), "node", "deflate_echo.js")


@pytest.mark.parametrize("mode", ["on", "takeover"])
def test_node_ws_echoes_compressed_messages(server, mode):
    import shutil
    import subprocess
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not os.path.isdir("/usr/share/nodejs/ws"):
        pytest.fail("node and node-ws are needed: bash tools/setup.sh installs them")
    srv = server("--deflate", mode)
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    out = subprocess.run([node, NODE_SCRIPT, srv.url(), mode], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    if mode == "on":
        assert lines[0] == "extensions: " + ON_ANSWER, lines[0]
    else:
        assert lines[0] == "extensions: " + TAKEOVER_ANSWER, lines[0]
    assert lines[1] == "negotiated: permessage-deflate", lines[1]
    assert lines[-1] == "closed 1000"
    m = scrape(srv)
    assert m["ringway_inflate_messages_total"] >= 10
    assert m["ringway_deflate_messages_total"] >= 4


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("mode", ["on", "takeover"])
def test_ringway_load_offers_deflate_and_echoes_compressed_json(server, mode):
    # ringway-load --deflate against each mode: every echo verified after inflating, nothing
    # lost, and the wire carries a fraction of the payload both ways.
    from test_heavy_load import run_load
    srv = server("--deflate", mode, workers=1)
    common = ["echo", "--url", srv.url("/echo"), "--connections", 8, "--depth", 2, "--size",
              "1KiB", "--payload", "json", "--duration", "1s", "--json"]
    plain, _, diag_plain = run_load(*common)
    packed, _, diag = run_load(*common, "--deflate")
    for r, d in ((plain, diag_plain), (packed, diag)):
        assert r["errors"] == 0 and r["messages"] > 0, d
    m = scrape(srv)
    assert m["ringway_deflate_negotiated_total"] == 8, m
    assert m["ringway_deflate_messages_total"] >= packed["messages"], m
    per_plain = plain["bytes_out"] / plain["messages_sent"]
    per_packed = packed["bytes_out"] / packed["messages_sent"]
    assert per_plain > 1024 and per_packed < per_plain / 2, (per_plain, per_packed, diag)
    # Replies came back compressed too (the load inflated and checked each one).
    assert packed["bytes_in"] / packed["messages_total"] < per_plain / 2, diag
    srv.assert_alive()


@pytest.mark.time_limit(30)
def test_ringway_load_sends_uncompressed_when_the_window_allowed_is_8_bits():
    # zlib cannot compress with a 256-byte window: a server answering client_max_window_bits=8
    # must get plain frames (RFC 7692 allows any message uncompressed), not a failure.
    import socket
    import struct
    import threading
    from conftest import ws_accept
    from test_heavy_load import run_load
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    seen = {"frames": 0, "rsv1": 0}

    def serve(conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            request, _, buf = head.partition(b"\r\n\r\n")
            key = next(l.split(b":", 1)[1].strip() for l in request.split(b"\r\n")
                       if l.lower().startswith(b"sec-websocket-key:"))
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                         ws_accept(key).encode() + b"\r\nSec-WebSocket-Extensions: "
                         b"permessage-deflate; client_max_window_bits=8\r\n\r\n")
            while True:
                while len(buf) >= 2:
                    n, off = buf[1] & 0x7F, 2
                    if n == 126:
                        if len(buf) < 4:
                            break
                        n, off = struct.unpack("!H", buf[2:4])[0], 4
                    if len(buf) < off + 4 + n:
                        break
                    mask, payload = buf[off:off + 4], bytearray(buf[off + 4:off + 4 + n])
                    for i in range(n):
                        payload[i] ^= mask[i % 4]
                    op, rsv1 = buf[0] & 0x0F, bool(buf[0] & 0x40)
                    buf = buf[off + 4 + n:]
                    if op == 8:
                        conn.sendall(b"\x88\x00")
                        return
                    if op == 2:  # echoed as it came (uncompressed, or RSV1 kept: the load fails)
                        seen["frames"] += 1
                        seen["rsv1"] += rsv1
                        first = 0x80 | op | (0x40 if rsv1 else 0)
                        hdr = bytes([first, n]) if n < 126 else bytes([first, 126]) + struct.pack("!H", n)
                        conn.sendall(hdr + payload)
                data = conn.recv(65536)
                if not data:
                    return
                buf += data

    def accept_loop():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        r, _, diag = run_load("echo", "--url", f"ws://127.0.0.1:{port}/echo", "--connections", 2,
                              "--size", 512, "--payload", "json", "--duration", "1s", "--deflate",
                              "--close-timeout", "1s", "--json")
        assert r["errors"] == 0 and r["messages"] > 0, diag
        assert seen["frames"] > 0 and seen["rsv1"] == 0, (seen, diag)
    finally:
        lsock.close()
