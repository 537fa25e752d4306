"""Defects found in the engine by a review, each reproduced with raw sockets against the real
binary: a peer's FIN must not drop what is owed, a pong never precedes the 101, reloads revoke
what they should, drain stops accepting, abuse is bounded, and nothing follows the server's
close frame."""

import os
import re
import resource
import signal
import socket
import struct
import time

import pytest

from authclient import (DeviceKey, check_error, check_hello, device_connect, service_connect,
                        token_digest, write_lines)
from conftest import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Conn, RawWs, build_frame,
                      close_payload, get_request, upgrade_request, worker_stats)
from test_auth import DEFAULT_POLICY, WS_PATH, connect_ok, open_gw, ping_ok, recv_text, send_json


def half_closed_exchange(srv, data, timeout=5.0):
    """Send data, shut down our writing side at once, read everything until EOF."""
    s = socket.create_connection((srv.host, srv.port), timeout=timeout)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    c = Conn(srv.host, srv.port, sock=s)
    out, ending = c.read_to_end(time.monotonic() + timeout)
    c.close()
    return out, ending


def parse_frames(data):
    """Unmasked server frames from bytes -> [(opcode, payload)]; asserts they are whole."""
    frames, i = [], 0
    while i < len(data):
        assert i + 2 <= len(data), f"truncated frame header at {i}: {data[i:]!r}"
        b0, b1 = data[i], data[i + 1]
        n, off = b1 & 0x7F, i + 2
        if n == 126:
            n, off = struct.unpack("!H", data[i + 2:i + 4])[0], i + 4
        elif n == 127:
            n, off = struct.unpack("!Q", data[i + 2:i + 10])[0], i + 10
        assert off + n <= len(data), f"truncated frame payload at {i}"
        frames.append((b0 & 0x0F, bytes(data[off:off + n])))
        i = off + n
    return frames


def split_101(data):
    assert data.startswith(b"HTTP/1.1 101 "), f"expected the 101 first, got {data[:60]!r}"
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no end of the 101 head: {data[:300]!r}"
    return rest


# ---------------------------------------------------------------------------------------------
# 1. A peer's FIN does not drop what is owed
# ---------------------------------------------------------------------------------------------


def test_healthz_then_fin_gets_the_whole_response(echo_server):
    for _ in range(20):  # the defect lost most responses, not all: ask several times
        out, ending = half_closed_exchange(echo_server,
                                           get_request(echo_server.hostport, "/healthz"))
        assert out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:200]
        assert out.endswith(b"\r\n\r\nok\n"), out[-100:]
        assert ending == "eof", ending


def test_error_response_then_fin_gets_the_whole_response(echo_server):
    out, ending = half_closed_exchange(echo_server, get_request(echo_server.hostport, "/nope"))
    assert out.startswith(b"HTTP/1.1 404 "), out[:200]
    assert ending == "eof"


def test_close_frame_then_fin_gets_the_echoed_close(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo")
    frames = build_frame(OP_TEXT, b"last words") + build_frame(OP_CLOSE, close_payload(1000, "bye"))
    for _ in range(10):
        out, ending = half_closed_exchange(echo_server, req + frames)
        got = parse_frames(split_101(out))
        assert got == [(OP_TEXT, b"last words"), (OP_CLOSE, struct.pack("!H", 1000))], got
        assert ending == "eof", ending


def test_messages_then_fin_without_close_are_all_echoed(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo")
    msgs = [os.urandom(3000 + i) for i in range(50)]
    out, ending = half_closed_exchange(echo_server,
                                       req + b"".join(build_frame(OP_BINARY, m) for m in msgs))
    assert parse_frames(split_101(out)) == [(OP_BINARY, m) for m in msgs]
    assert ending == "eof"


def test_connect_request_then_fin_still_gets_its_answer(server, tmp_path):
    key = DeviceKey.generate()
    devices = tmp_path / "devices.txt"
    write_lines(devices, [key.registry_line(["send"])])
    srv = server("--devices", devices)
    c, nonce = open_gw(srv)
    send_json(c, device_connect(key, nonce, ["send"]))
    c.sock.shutdown(socket.SHUT_WR)
    hello = recv_text(c, what="the hello after our FIN")
    check_hello(hello, req_id="1", role="device", device_id=key.device_id, scopes=["send"],
                policy=DEFAULT_POLICY)
    out, ending = c.read_to_end(time.monotonic() + 5)
    assert out == b"" and ending == "eof", (out, ending)


# ---------------------------------------------------------------------------------------------
# 2. A pong never precedes the 101
# ---------------------------------------------------------------------------------------------


def test_ping_pipelined_with_the_upgrade_is_answered_after_the_101(echo_server):
    for _ in range(20):
        with Conn(echo_server.host, echo_server.port) as c:
            c.send(upgrade_request(echo_server.hostport, "/echo") + build_frame(OP_PING, b"hi"))
            head = c.read_until(b"\r\n\r\n", time.monotonic() + 5, "the 101")
            assert head.startswith(b"HTTP/1.1 101 "), head[:80]
            c.fill(4, time.monotonic() + 5, "the pong")
            assert bytes(c.buf[:4]) == b"\x8a\x02hi", bytes(c.buf[:20])


# ---------------------------------------------------------------------------------------------
# 4. Reloads revoke tokens and shrunken grants; a verdict from an old registry is re-checked
# ---------------------------------------------------------------------------------------------


def reload(srv):
    before = srv.stderr.count("reloaded:")
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while srv.stderr.count("reloaded:") == before:
        assert time.monotonic() < deadline, "no reload logged\n" + srv.stderr[-2000:]
        srv.assert_alive()
        time.sleep(0.01)


def service_session(srv, token, scopes):
    c, _ = open_gw(srv)
    send_json(c, service_connect(token, scopes))
    text = recv_text(c, what="the service hello")
    assert '"ok":true' in text, text
    return c


def test_removed_or_rotated_service_token_closes_its_sessions_4001(server, tmp_path):
    tokens = tmp_path / "tokens.txt"
    write_lines(tokens, [f"billing {token_digest('tok-billing')} publish:*",
                         f"metrics {token_digest('tok-metrics')} publish:*",
                         f"audit {token_digest('tok-audit')} publish:*"])
    devices = tmp_path / "devices.txt"
    write_lines(devices, [])
    srv = server("--devices", devices, "--service-tokens", tokens)
    billing = service_session(srv, "tok-billing", ["publish:x"])
    metrics = service_session(srv, "tok-metrics", ["publish:x"])
    audit = service_session(srv, "tok-audit", ["publish:x"])
    # billing removed; metrics keeps its name with a new token; audit unchanged.
    write_lines(tokens, [f"metrics {token_digest('tok-metrics-2')} publish:*",
                         f"audit {token_digest('tok-audit')} publish:*"])
    reload(srv)
    for c in (billing, metrics):
        f = c.expect_close(4001, reply=True, timeout=5, require_reason=True)
        assert bytes(f.close_reason) == b"revoked"
    ping_ok(audit)


def test_shrunken_device_grant_is_revoked_and_a_wider_one_kept(server, tmp_path):
    alice, bob = DeviceKey.generate(), DeviceKey.generate()
    devices = tmp_path / "devices.txt"
    write_lines(devices, [alice.registry_line(["send", "subscribe:chat.*"]),
                          bob.registry_line(["send"])])
    srv = server("--devices", devices)
    a, _ = connect_ok(srv, alice, ["send", "subscribe:chat.room"])
    b, _ = connect_ok(srv, bob, ["send"])
    # alice loses subscribe:chat.*; bob gains a scope (his grant still stands in full).
    write_lines(devices, [alice.registry_line(["send"]),
                          bob.registry_line(["send", "subscribe:news.*"])])
    reload(srv)
    f = a.expect_close(4001, reply=True, timeout=5, require_reason=True)
    assert bytes(f.close_reason) == b"revoked"
    ping_ok(b)
    # A session whose granted scopes are all still allowed survives a narrowing elsewhere.
    write_lines(devices, [alice.registry_line(["send"]), bob.registry_line(["send"])])
    reload(srv)
    ping_ok(b)


def test_verdict_from_before_a_reload_is_checked_against_the_new_registry(server, tmp_path):
    alice = DeviceKey.generate()
    devices = tmp_path / "devices.txt"
    write_lines(devices, [alice.registry_line(["send"])])
    # Verification takes 1.5 s, so the reload lands while alice is being verified.
    srv = server("--devices", devices, "--auth-test-delay-us", 1_500_000, "--auth-timeout", "5s")
    c, nonce = open_gw(srv)
    send_json(c, device_connect(alice, nonce, ["send"]))
    # The idle verifier takes the job at once and then holds its verdict for 1.5 s, so the
    # verdict it delivers was computed against the registry this reload replaces.
    write_lines(devices, ["# alice removed"])
    reload(srv)
    text = recv_text(c, timeout=5, what="the answer to the connect")
    check_error(text, "DEVICE_UNKNOWN", req_id="1", retryable=False)
    f = c.expect_close(1008, reply=True)
    assert bytes(f.close_reason) == b"DEVICE_UNKNOWN"


# ---------------------------------------------------------------------------------------------
# 5. Drain stops accepting; a paused accept retries on its own
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(30)
def test_drain_closes_the_listener_and_exits_at_the_deadline(server):
    srv = server("--workers", "2", "--close-timeout", "1s")
    stubborn = srv.raw_ws()  # will never answer the 1001
    waiting = Conn(srv.host, srv.port)  # connected before the drain, request not yet sent
    srv.terminate()
    f = stubborn.recv_frame(timeout=5)
    assert f.opcode == OP_CLOSE and f.close_code == 1001, f
    t0 = time.monotonic()
    refused = 0
    while srv.alive() and time.monotonic() - t0 < 10:
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=1)
            s.close()
        except ConnectionRefusedError:
            refused += 1
        except ConnectionResetError:
            pass  # it reached a backlog just as the listener closed: reset, not served
        time.sleep(0.02)
    assert refused > 0, "new connections were still accepted during the drain"
    assert not srv.alive(), "the drain did not end at its deadline"
    assert time.monotonic() - t0 < 5, "the drain outlived its deadline by far"
    waiting.close()
    assert srv.wait_exit() == 0


def held_http_connections(srv, limit):
    """Opens connections until one is refused at the per-address HTTP cap (`limit`): then every
    one before it has been accepted by the server. Returns those."""
    held = []
    for _ in range(limit + 3):
        c = Conn(srv.host, srv.port)
        try:
            resp = c.read_response(timeout=0.3)
        except TimeoutError:
            held.append(c)  # accepted and waiting for its request (or not accepted yet)
            continue
        assert resp.status == 503, resp
        c.close()
        return held
    raise AssertionError(f"no connection was refused at the cap of {limit}")


def wait_healthz_ok(srv, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        with Conn(srv.host, srv.port) as c:
            c.send(get_request(srv.hostport, "/healthz"))
            resp = c.read_response(timeout=3)
        if resp.status == 200:
            return
        assert time.monotonic() < deadline, f"/healthz still answers {resp.status}"


def test_healthz_during_drain_is_503(server):
    srv = server("--close-timeout", "2s", "--max-http-per-address", "1")
    held = srv.raw_ws()
    [early] = held_http_connections(srv, 1)  # accepted before the drain, request not yet sent
    srv.terminate()
    f = held.recv_frame(timeout=5)
    assert f.opcode == OP_CLOSE and f.close_code == 1001, f
    early.send(get_request(srv.hostport, "/healthz"))
    resp = early.read_response(timeout=5)
    assert resp.status == 503 and resp.body == b"draining\n", resp
    held.send_close(1001)
    assert srv.wait_exit(timeout=5) == 0


# A paused accept retrying on its own (no close needed) is tested in tests/unit/io/worker_test.cc:
# io_uring caches the descriptor limit when an accept is armed, so lowering it from outside a
# running server cannot make its armed accept fail.


# ---------------------------------------------------------------------------------------------
# 6. Bounds under abuse
# ---------------------------------------------------------------------------------------------


def test_a_message_that_never_finishes_is_cut_at_the_message_timeout(server):
    srv = server("--message-timeout", "700ms", "--ping-interval", "10s")
    c = srv.raw_ws()
    t0 = time.monotonic()
    c.send_frame(OP_TEXT, b"the start of ", fin=False)
    # Keep the connection busy (so idle never fires) without finishing the message.
    pongs = 0
    while time.monotonic() - t0 < 0.5:
        c.send_frame(OP_PING, b"k")
        f = c.recv_frame(timeout=2)
        assert f.opcode == OP_PONG, f
        pongs += 1
        time.sleep(0.05)  # pacing: a client that keeps talking, not waiting for a state
    f = c.expect_close(1008, timeout=3)
    took = time.monotonic() - t0
    assert bytes(f.close_reason) == b"message timeout"
    assert 0.6 <= took <= 2.0, took
    assert pongs > 0


def test_a_frame_whose_payload_stalls_is_cut_at_the_message_timeout(server):
    srv = server("--message-timeout", "500ms")
    c = srv.raw_ws()
    t0 = time.monotonic()
    frame = build_frame(OP_BINARY, b"x" * 1000)
    c.send(frame[:300])  # header and part of the payload, then silence
    f = c.expect_close(1008, timeout=3)
    assert bytes(f.close_reason) == b"message timeout"
    assert 0.4 <= time.monotonic() - t0 <= 2.0


def test_per_address_cap_on_http_phase_connections(server):
    srv = server("--max-http-per-address", "3")
    silent = held_http_connections(srv, 3)
    assert len(silent) == 3
    for c in silent:
        c.close()
    wait_healthz_ok(srv)  # their slots come back when they close


def test_per_address_cap_on_echo_connections(server):
    srv = server("--max-echo-per-address", "2")
    a, b = srv.raw_ws(), srv.raw_ws()
    c = Conn(srv.host, srv.port)
    c.send(upgrade_request(srv.hostport, "/echo"))
    assert c.read_response(timeout=3).status == 503
    a.send_close(1000)
    a.expect_close(1000)
    a.close()
    deadline = time.monotonic() + 3
    while True:  # the slot comes back when the server has closed a
        with Conn(srv.host, srv.port) as probe:
            probe.send(upgrade_request(srv.hostport, "/echo"))
            if probe.read_response(timeout=3, head_only=True).status == 101:
                break
        assert time.monotonic() < deadline, "the echo slot never came back"
    b.send_frame(OP_TEXT, b"ok")
    b.expect_echo(OP_TEXT, b"ok")


def test_peer_caused_log_lines_are_rate_limited(server):
    srv = server()
    for _ in range(300):
        with Conn(srv.host, srv.port) as c:
            c.send(b"BOGUS\r\n\r\n")
            c.read_response(timeout=3)
    srv.stop()
    lines = srv.stderr.count("bad request head")
    assert lines <= 100, f"{lines} log lines for 300 bad requests"
    m = re.findall(r"(\d+) similar lines suppressed", srv.stderr)
    assert m and sum(map(int, m)) + lines >= 300, srv.stderr[-2000:]


@pytest.mark.parametrize("flags,what", [
    (["--idle-timeout", "200h"], "at most 7 days"),
    (["--close-timeout", "100000000000000000ms"], "at most 7 days"),
    (["--max-buffered", "3GiB"], "at most 1GiB"),
    (["--ring-entries", "6"], "power of two"),
])
def test_out_of_range_flags_are_refused(ringway_bin, flags, what):
    import subprocess
    r = subprocess.run([ringway_bin, "--listen", "127.0.0.1:0", *flags], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and what in r.stderr, (r.returncode, r.stderr)


def test_a_tiny_submission_queue_serves_many_connections(server):
    srv = server("--workers", "1", "--ring-entries", "8")
    conns = [srv.raw_ws() for _ in range(120)]
    for i, c in enumerate(conns):
        c.send_frame(OP_TEXT, b"m%d" % i)
    for i, c in enumerate(conns):
        c.expect_echo(OP_TEXT, b"m%d" % i)
    srv.stop()
    assert worker_stats(srv)["sq_full"] > 0


# ---------------------------------------------------------------------------------------------
# 7. After the server's close frame, nothing more
# ---------------------------------------------------------------------------------------------


def test_nothing_follows_the_servers_close_frame(server):
    srv = server("--close-timeout", "1s")
    c = srv.raw_ws()
    srv.terminate()  # the server sends 1001 and waits for our close
    f = c.recv_frame(timeout=5)
    assert f.opcode == OP_CLOSE and f.close_code == 1001, f
    # Pings, data, and a protocol violation: none may be answered after the close.
    c.send_frame(OP_PING, b"p")
    c.send_frame(OP_TEXT, b"echo me")
    c.send(build_frame(OP_TEXT, b"unmasked", mask=False))
    out, ending = c.read_to_end(time.monotonic() + 5)
    assert out == b"", f"the server sent {parse_frames(out)} after its close frame"
    assert ending in ("eof", "reset"), ending
    assert srv.wait_exit() == 0
