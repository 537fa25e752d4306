"""ringway-load against the real gateway (and, for the dead-peer policy, against a silent fake).

Each test runs the load generator as a subprocess with a hard timeout and reads its --json
report. The echo test cross-checks the report with the server's own counters, printed at exit
("worker N stats: ... bytes_in=... bytes_out=..."): with clean closes every byte one side sent
is a byte the other side received, so the two must agree exactly.

No test here asserts a rate the server reached: the rates in the reports are checked only for
their arithmetic, and the open-loop rate only as a bound on what the client scheduled. These
tests load the machine, so ctest runs this file with nothing beside it (docs/testing.md).
"""

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import threading

import pytest

from conftest import REPO, SANITIZER_MARKERS, tls_port, tls_server, worker_stats

LOAD_TIMEOUT = 60.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def load_binary():
    path = os.environ.get("RINGWAY_LOAD_BIN") or os.path.join(
        REPO, "build", "release", "tools", "ringway-load")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"ringway-load not found or not executable: {path} (set RINGWAY_LOAD_BIN)")
    return path


def run_load(*args, timeout=LOAD_TIMEOUT, expect_rc=0):
    argv = [load_binary()] + [str(a) for a in args]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"ringway-load did not finish within {timeout:.0f} s: {argv}\n"
                    f"stderr: {e.stderr}")
    diag = f"argv: {argv}\nexit: {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr[-4000:]}"
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, "sanitizer report from ringway-load\n" + diag
    if expect_rc is not None:
        assert p.returncode == expect_rc, diag
    report = None
    if "--json" in argv:
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, "expected exactly one JSON line on stdout\n" + diag
        report = json.loads(lines[0])
    return report, p.stderr, diag


def check_percentiles(r):
    assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"], r


REQUIRED_FIELDS = (
    "mode connections depth size duration_s messages msgs_per_s server_cpu_s "
    "msgs_per_server_cpu_s p50_us p90_us p99_us p999_us max_us errors connects connects_per_s "
    "unavailable client_rss_kb server_rss_kb server_rss_per_conn_bytes").split()


@pytest.mark.time_limit(60)
def test_echo_closed_loop_matches_the_servers_counters(server):
    srv = server(workers=1)
    conns, depth, size = 20, 4, 20
    r, _, diag = run_load("echo", "--url", srv.url("/echo"), "--connections", conns,
                          "--depth", depth, "--size", size, "--duration", "2s",
                          "--warmup", "500ms", "--server-pid", srv.pid, "--json")
    for k in REQUIRED_FIELDS:
        assert k in r, f"missing {k}: {r}"
    assert r["mode"] == "echo" and r["connections"] == conns and r["depth"] == depth
    assert r["messages"] > 0, diag
    assert r["errors"] == 0, diag
    assert r["connected"] == conns
    assert 1.9 <= r["duration_s"] <= 3.0, r
    assert r["msgs_per_s"] == pytest.approx(r["messages"] / r["duration_s"], rel=0.01)
    check_percentiles(r)
    assert r["server_cpu_s"] > 0 and r["msgs_per_server_cpu_s"] > 0, r
    # Every message sent was echoed and verified (the run waits for them before closing).
    assert r["messages"] <= r["messages_total"] == r["messages_sent"], r

    srv.stop()
    stats = worker_stats(srv)
    assert stats["accepted"] == stats["closed"] == conns, stats
    # Clean closes on both sides: byte counts agree exactly in both directions.
    assert stats["bytes_in"] == r["bytes_out"], (stats, r)
    assert stats["bytes_out"] == r["bytes_in"], (stats, r)
    # The client's bytes are its messages (6-byte masked headers for 20 bytes) plus, per
    # connection, one upgrade request and one close frame.
    frames = r["messages_sent"] * (size + 6)
    assert frames <= stats["bytes_in"] <= frames + conns * 300, (stats, r)
    # The server's are the echoes (2-byte headers) plus one 101 and one close each.
    echoes = r["messages_total"] * (size + 2)
    assert echoes <= stats["bytes_out"] <= echoes + conns * 300, (stats, r)


@pytest.mark.time_limit(60)
def test_echo_open_loop_echoes_every_scheduled_message(server):
    srv = server(workers=1)
    conns, rate, size, warmup = 10, 2000, 64, 0.5
    r, _, diag = run_load("echo", "--url", srv.url("/echo"), "--connections", conns, "--depth", 8,
                          "--rate", rate, "--size", size, "--duration", "2s",
                          "--warmup", f"{int(warmup * 1000)}ms", "--json")
    assert r["errors"] == 0 and r["connected"] == conns, diag
    assert r["rate"] == rate, r
    assert 1.9 <= r["duration_s"] <= 3.0, r
    assert r["msgs_per_s"] == pytest.approx(r["messages"] / r["duration_s"], rel=0.01)
    # The schedule never runs ahead of the rate: a generous bound on what the client sent over
    # the warmup and the measured window. How many of those the server managed is not a test.
    assert 0 < r["messages_sent"] <= rate * (warmup + r["duration_s"]) * 1.1 + conns, r
    # Every message sent was echoed and verified (the run waits for the ones in flight).
    assert r["messages"] <= r["messages_total"] == r["messages_sent"], r
    check_percentiles(r)

    srv.stop()
    stats = worker_stats(srv)
    assert stats["accepted"] == stats["closed"] == conns, stats
    assert stats["bytes_in"] == r["bytes_out"] and stats["bytes_out"] == r["bytes_in"], (stats, r)
    echoes = r["messages_total"] * (size + 2)
    assert echoes <= stats["bytes_out"] <= echoes + conns * 300, (stats, r)


@pytest.mark.time_limit(60)
def test_echo_with_threads_and_source_addresses(server):
    srv = server(workers=2)
    r, _, diag = run_load("echo", "--url", srv.url("/echo"), "--connections", 40, "--threads", 2,
                          "--source-addrs", "127.0.0.1-127.0.0.4", "--size", 1000, "--depth", 2,
                          "--duration", "1s", "--warmup", "200ms", "--json")
    assert r["errors"] == 0 and r["messages"] > 0 and r["connected"] == 40, diag
    srv.stop()


@pytest.mark.time_limit(60)
def test_idle_holds_connections_and_answers_pings(server):
    # Pings every 300 ms and an idle timeout of 900 ms: a client that did not answer pings would
    # be closed (4002) well within the 2.5 s hold, and reconnect.
    srv = server("--ping-interval", "300ms", "--idle-timeout", "900ms", workers=1)
    n = 200
    r, _, diag = run_load("idle", "--url", srv.url("/echo"), "--connections", n,
                          "--ping-interval", "300ms", "--duration", "2500ms",
                          "--server-pid", srv.pid, "--json")
    assert r["mode"] == "idle"
    assert r["connected"] == n and r["connects"] == n, diag
    assert r["errors"] == 0 and r["reconnects"] == 0 and r["dead"] == 0, diag
    assert r["pings"] >= n, r  # every connection saw (and answered) at least one ping
    assert r["client_rss_kb"] > 0 and r["server_rss_kb"] > 0, r
    assert r["server_rss_per_conn_bytes"] > 0, r
    check_percentiles(r)  # connect latency
    srv.stop()
    stats = worker_stats(srv)
    assert stats["accepted"] == stats["closed"] == n, stats


@pytest.fixture
def load_keys(tmp_path):
    def make(count, scopes="send"):
        keys, registry = tmp_path / "keys", tmp_path / "registry"
        _, err, diag = run_load("keys", "--count", count, "--out-keys", keys,
                                "--out-registry", registry, "--scopes", scopes, timeout=30)
        assert (os.stat(keys).st_mode & 0o777) == 0o600, "seeds must not be world-readable"
        lines = keys.read_text().splitlines()
        reg = registry.read_text().splitlines()
        assert len(lines) == len(reg) == count, diag
        # Each registry line is the public key of the seed on the same line.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives import serialization
        seed = base64.urlsafe_b64decode(lines[0] + "=")
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert reg[0] == base64.urlsafe_b64encode(pub).rstrip(b"=").decode() + " " + scopes
        return keys, registry
    return make


@pytest.mark.time_limit(60)
def test_connect_with_keys(server, load_keys):
    keys, registry = load_keys(50)
    srv = server("--devices", registry, workers=1)
    r, _, diag = run_load("connect", "--url", srv.url("/ws"), "--keys", keys, "--connections", 50,
                          "--scopes", "send", "--duration", "20s", "--server-pid", srv.pid,
                          "--json")
    assert r["mode"] == "connect"
    assert r["connects"] == 50, diag
    assert r["errors"] == 0 and r["auth_failures"] == 0 and r["unavailable"] == 0, diag
    # The report's own consistency (its numbers carry nine significant digits), not a rate.
    assert r["connects_per_s"] == pytest.approx(r["connects"] / r["duration_s"], rel=0.01), r
    check_percentiles(r)
    srv.stop()


@pytest.mark.time_limit(60)
def test_connect_reconnect_storm(server, load_keys):
    keys, registry = load_keys(50)
    srv = server("--devices", registry, workers=1)
    r, _, diag = run_load("connect", "--url", srv.url("/ws"), "--keys", keys, "--connections", 20,
                          "--reconnect", "--duration", "1500ms", "--json")
    assert r["connects"] > 20, diag  # each slot came back at least once
    assert r["errors"] == 0 and r["auth_failures"] == 0, diag
    assert 1.4 <= r["duration_s"] <= 2.5
    srv.stop()
    stats = worker_stats(srv)
    assert stats["accepted"] == stats["closed"] >= r["connects"], (stats, r)


@pytest.mark.time_limit(60)
def test_connect_counts_unavailable_apart_from_failures(server, load_keys):
    # One verification at a time, slowed down, with a queue of one: most connects are shed
    # with UNAVAILABLE (retryable); the client waits retryAfterMs and tries again.
    keys, registry = load_keys(30)
    srv = server("--devices", registry, "--auth-threads", 1, "--auth-queue", 1,
                 "--auth-test-delay-us", 20000, workers=1)
    r, _, diag = run_load("connect", "--url", srv.url("/ws"), "--keys", keys, "--connections", 30,
                          "--respect-retry", "--duration", "20s", "--json")
    assert r["unavailable"] > 0, diag
    assert r["errors"] == 0 and r["auth_failures"] == 0, diag
    assert r["connects"] == 30, diag
    srv.stop()


@pytest.mark.time_limit(60)
def test_unknown_devices_are_failures_not_unavailable(server, load_keys, tmp_path):
    keys, _ = load_keys(5)
    other = tmp_path / "other"
    other.write_text("")
    srv = server("--devices", other, workers=1)
    r, err, diag = run_load("connect", "--url", srv.url("/ws"), "--keys", keys,
                            "--connections", 5, "--duration", "1s", "--backoff-min", "100ms",
                            "--backoff-max", "200ms", "--json", expect_rc=1)
    assert r["connects"] == 0 and r["unavailable"] == 0, diag
    assert r["auth_failures"] >= 5 and r["errors"] >= 5, diag
    assert any("DEVICE_UNKNOWN" in k for k in r["error_reasons"]), r
    assert "reconnecting in" in err
    srv.stop()


class SilentServer:
    """Completes WebSocket upgrades, then never sends another byte: a dead peer."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                key = re.search(rb"Sec-WebSocket-Key: (\S+)", head).group(1)
                accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            except (OSError, AttributeError):
                c.close()
                continue
            self.accepted += 1
            self.conns.append(c)  # kept open, never written to again

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.time_limit(60)
def test_silence_past_three_ping_intervals_is_a_dead_connection():
    fake = SilentServer()
    try:
        r, err, diag = run_load("idle", "--url", f"ws://127.0.0.1:{fake.port}/echo",
                                "--connections", 2, "--ping-interval", "200ms",
                                "--duration", "2500ms", "--backoff-min", "100ms",
                                "--backoff-max", "400ms", "--json", expect_rc=1)
    finally:
        fake.close()
    assert r["dead"] >= 2, diag
    assert r["reconnects"] >= r["dead"], diag
    assert fake.accepted >= 4, diag  # both came back after being declared dead
    # One line per reconnect, with the session's duration: at least 3 x 200 ms of silence.
    lines = re.findall(r"conn \d+: session lasted (\d+\.\d+) s \(dead: [^)]*\); "
                       r"reconnecting in (\d+) ms", err)
    assert len(lines) >= 2, diag
    for duration, delay in lines:
        assert 0.6 <= float(duration) < 1.5, lines
        assert 100 <= int(delay) <= 400, lines


# wss:// against a TLS listener (conftest's test PKI)
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(60)
def test_wss_echo_idle_and_connect_with_resumption(server, pki):
    srv = tls_server(server, pki, workers=1)
    port = tls_port(srv)
    url = f"wss://localhost:{port}/echo"
    r, _, diag = run_load("echo", "--url", url, "--ca-file", pki["ca"], "--connections", 10,
                          "--depth", 2, "--size", 20000, "--duration", "1s", "--warmup", "200ms",
                          "--json")  # 20 kB messages: records split across receives
    assert r["tls"] and r["messages"] > 0 and r["errors"] == 0, diag
    r, _, diag = run_load("idle", "--url", f"wss://127.0.0.1:{port}/echo", "--ca-file", pki["ca"],
                          "--connections", 100, "--duration", "500ms", "--json")
    assert r["connected"] == 100 and r["errors"] == 0, diag
    for resume in (False, True):
        r, _, diag = run_load("connect", "--reconnect", "--url", url, "--ca-file", pki["ca"],
                              "--connections", 4, "--duration", "1s", "--json",
                              *(["--tls-resume"] if resume else []))
        assert r["connects"] > 0 and r["errors"] == 0, diag
        assert r["tls_handshakes"] >= r["connects"], diag
        if resume:  # every handshake after the first ticket arrived
            assert r["tls_resumed"] >= r["tls_handshakes"] - 8, diag
        else:
            assert r["tls_resumed"] == 0, diag
    # A certificate the client does not trust: every attempt fails in the handshake.
    r, _, diag = run_load("echo", "--url", url, "--connections", 2, "--duration", "300ms",
                          "--ramp-timeout", "1s", "--json", expect_rc=None)
    assert "tls: certificate refused: unable to get local issuer certificate" in diag, diag
