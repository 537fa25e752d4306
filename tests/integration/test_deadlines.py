"""Connection deadlines (docs/timeouts.md), measured from the peer's side on loopback.

Every deadline here is short (hundreds of ms) so the file runs quickly. Each test waits for the
event it expects with a deadline and checks the time it happened against a window:

  * not later than the deadline + UPPER_TOL (the wheel may fire late by the loop's wake-up
    latency; a sanitizer build is slower), and
  * where an early close would be a bug, not earlier than the deadline - EARLY_TOL, measured
    from a client-side instant that is certainly before the server started its clock.

A test that covers a deadline fails (by timing out on the event it waits for) if the server
stopped enforcing that deadline.
"""

import asyncio
import fcntl
import os
import select
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest
import websockets
import websockets.legacy.client
from websockets.frames import Opcode

from conftest import (
    OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, Conn, RawWs, build_frame, make_binary,
    read_rss_kb, upgrade_request,
)

UPPER_TOL = 0.5   # an event may come this much after its deadline
EARLY_TOL = 0.05  # ... and no earlier than this before it


def ms(seconds):
    return f"{int(round(seconds * 1000))}ms"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def next_event(c, deadline):
    """The next thing that happens on a RawWs before `deadline`.

    Returns (kind, frame, t): kind is "frame" (frame set), "eof", "reset" or "timeout"; t is the
    monotonic time at which it was seen.
    """
    try:
        f = c.recv_frame(deadline=deadline)
        return "frame", f, time.monotonic()
    except TimeoutError:
        return "timeout", None, time.monotonic()
    except EOFError:
        return "eof", None, time.monotonic()
    except ConnectionResetError:
        return "reset", None, time.monotonic()


def describe(kind, frame):
    if kind != "frame":
        return kind
    if frame.opcode == OP_CLOSE:
        return f"close {frame.close_code} {bytes(frame.close_reason)!r}"
    return repr(frame)


def expect_quiet_until(c, deadline, allow_pings=False, answer_pings=False):
    """Assert nothing (no frame, no EOF, no reset) arrives before `deadline`.

    allow_pings: pings are tolerated (and answered with a pong if answer_pings).
    Returns the pings seen.
    """
    pings = []
    while True:
        kind, f, t = next_event(c, deadline)
        if kind == "timeout":
            return pings
        if kind == "frame" and f.opcode == OP_PING and allow_pings:
            pings.append((t, f))
            if answer_pings:
                c.send_frame(OP_PONG, f.payload)
            continue
        raise AssertionError(f"expected silence until the deadline, got {describe(kind, f)} "
                             f"{deadline - t:.3f} s before it")


def wait_tcp_end(c, deadline):
    """Read frames until TCP ends (EOF or reset) or the deadline passes.

    Returns (ending, t, frames) with ending in "eof", "reset", "timeout".
    """
    frames = []
    while True:
        kind, f, t = next_event(c, deadline)
        if kind == "frame":
            frames.append(f)
            continue
        return kind, t, frames


def timed_upgrade(srv, path="/echo", cls=None, **kw):
    """Upgrade a fresh raw client; returns (client, t_before_request, t_after_101)."""
    c = srv.track(RawWs(srv.host, srv.port) if cls is None else cls(srv.host, srv.port))
    t0 = time.monotonic()
    c.upgrade(path, **kw)
    return c, t0, time.monotonic()


def assert_echo_works(c, tag=b"still-alive", answer_pings=True):
    payload = tag + os.urandom(8)
    c.send_binary(payload)
    deadline = time.monotonic() + 5.0
    while True:
        kind, f, _ = next_event(c, deadline)
        assert kind == "frame", f"no echo: {kind}"
        if f.opcode == OP_PING:
            if answer_pings:
                c.send_frame(OP_PONG, f.payload)
            continue
        assert f.opcode == OP_BINARY and f.fin and f.payload == payload, \
            f"unexpected frame instead of the echo: {describe(kind, f)}"
        return


class SmallRcvbufWs(RawWs):
    """A RawWs whose socket has a small receive buffer set before connect (no autotuning), so
    that what the server sends and it does not read backs up into the server quickly."""

    RCVBUF = 4096

    def __init__(self, host, port, timeout=5.0):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
            s.settimeout(timeout)
            s.connect((host, port))
        except BaseException:
            s.close()
            raise
        Conn.__init__(self, host, port, timeout=timeout, sock=s)
        self.host, self.port = host, port
        self.response = None


class RssSampler:
    """Samples a process's RSS every `period` seconds on a thread; `peak_kb` is the maximum."""

    def __init__(self, pid, period=0.01):
        self.pid, self.period = pid, period
        self.base_kb = self.peak_kb = read_rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak_kb = max(self.peak_kb, read_rss_kb(self.pid))
            except (OSError, AssertionError):
                return
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.peak_kb = max(self.peak_kb, read_rss_kb(self.pid))
        except (OSError, AssertionError):
            pass

    @property
    def growth_mb(self):
        return (self.peak_kb - self.base_kb) / 1024


# ---------------------------------------------------------------------------------------------
# 1. Handshake deadline
# ---------------------------------------------------------------------------------------------

HS = 0.4


def test_handshake_silent_connection_closed_without_response(server):
    srv = server("--handshake-timeout", ms(HS), "--ping-interval", "10s")
    t0 = time.monotonic()
    c = srv.track(Conn(srv.host, srv.port))
    t1 = time.monotonic()
    data, ending = c.read_to_end(t1 + HS + 3.0)
    t = time.monotonic()
    assert ending in ("eof", "reset"), \
        f"silent connection still open {t - t1:.2f} s after connect (handshake timeout {HS} s)"
    assert data == b"", f"server sent bytes to a peer that never sent a request: {data[:200]!r}"
    assert t - t1 <= HS + UPPER_TOL, \
        f"closed {t - t1:.3f} s after connect, handshake timeout {HS} s"
    assert t - t0 >= HS - EARLY_TOL, f"closed after only {t - t0:.3f} s (handshake timeout {HS} s)"
    srv.assert_alive()


def test_handshake_header_dribbler_cut_at_deadline(server):
    """One byte of a valid upgrade request every 100 ms: bytes keep arriving, but the handshake
    deadline runs from accept, so the connection is cut at the deadline anyway."""
    hs = 0.5
    srv = server("--handshake-timeout", ms(hs), "--ping-interval", "10s")
    request = upgrade_request(srv.hostport, "/echo")
    t0 = time.monotonic()
    c = srv.track(Conn(srv.host, srv.port))
    t1 = time.monotonic()
    give_up = t1 + hs + 3.0
    sent, next_send, got = 0, t1, b""
    ending = None
    while ending is None:
        now = time.monotonic()
        if now >= give_up:
            raise AssertionError(f"dribbling client still connected {now - t1:.2f} s after connect "
                                 f"({sent} of {len(request)} request bytes sent; handshake "
                                 f"timeout {hs} s)")
        if now >= next_send and sent < len(request):
            try:
                c.sock.sendall(request[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                ending = "send error"
                break
            sent += 1
            next_send += 0.1
        wake = min(next_send if sent < len(request) else give_up, give_up)
        c.sock.settimeout(max(0.001, wake - time.monotonic()))
        try:
            data = c.sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            ending = "reset"
            break
        if not data:
            ending = "eof"
            break
        got += data
    t = time.monotonic()
    assert got == b"", f"server answered a request it never completely received: {got[:200]!r}"
    assert sent < len(request), "the whole request went out before the cut (test too slow)"
    assert sent >= int(hs / 0.1) - 1, f"only {sent} bytes sent before the cut at {t - t1:.3f} s"
    assert t - t1 <= hs + UPPER_TOL, f"cut {t - t1:.3f} s after connect ({ending}), handshake " \
                                     f"timeout {hs} s"
    assert t - t0 >= hs - EARLY_TOL, f"cut after only {t - t0:.3f} s ({ending})"
    srv.assert_alive()


def test_handshake_completed_in_time_is_not_cut(server):
    """An upgrade request sent in three pieces 100 ms apart (done well within the deadline): the
    handshake deadline ends at the 101, so the connection outlives it and echoes."""
    hs = 0.5
    srv = server("--handshake-timeout", ms(hs), "--ping-interval", "10s")
    request = upgrade_request(srv.hostport, "/echo")
    piece = len(request) // 3 + 1
    c, t0, t1 = timed_upgrade(srv, request=request, chunk=piece, pause=0.1)
    assert t1 - t0 < hs, f"upgrade took {t1 - t0:.3f} s, not within the {hs} s handshake timeout"
    expect_quiet_until(c, t0 + hs + UPPER_TOL)
    assert_echo_works(c)
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# 2-4. Pings and the idle deadline
# ---------------------------------------------------------------------------------------------


def test_silent_client_receives_ping_after_interval(server):
    pi = 0.3
    srv = server("--ping-interval", ms(pi), "--idle-timeout", "5s")
    c, t0, t1 = timed_upgrade(srv)
    kind, f, t = next_event(c, t1 + pi + UPPER_TOL)
    assert kind == "frame" and f.opcode == OP_PING, \
        f"expected a ping within {pi + UPPER_TOL} s of the upgrade, got {describe(kind, f)} " \
        f"after {t - t1:.3f} s"
    assert t - t0 >= pi - EARLY_TOL, f"ping after only {t - t0:.3f} s (ping interval {pi} s)"
    # Again after each further interval of silence.
    kind, f2, t2 = next_event(c, t + pi + UPPER_TOL)
    assert kind == "frame" and f2.opcode == OP_PING, \
        f"expected a second ping within {pi + UPPER_TOL} s of the first, got {describe(kind, f2)}"
    assert t2 - t >= pi - EARLY_TOL, f"second ping only {t2 - t:.3f} s after the first"
    srv.assert_alive()


def test_never_pongs_closed_4002_then_tcp_closed_after_close_timeout(server):
    """Default idle timeout (3 x ping interval): pinged, never answers, closed 4002 'idle
    timeout'; never answers the close either, so TCP goes at the close timeout."""
    pi, ct = 0.3, 0.4
    idle = 3 * pi
    srv = server("--ping-interval", ms(pi), "--close-timeout", ms(ct))
    c, t0, t1 = timed_upgrade(srv)
    pings = []
    while True:
        kind, f, t = next_event(c, t1 + idle + UPPER_TOL)
        if kind == "frame" and f.opcode == OP_PING:
            pings.append(t - t1)
            continue
        assert kind == "frame" and f.opcode == OP_CLOSE, \
            f"expected close 4002 within {idle + UPPER_TOL} s, got {describe(kind, f)} after " \
            f"{t - t1:.3f} s (pings at {pings})"
        break
    t_close = t
    assert f.close_code == 4002 and bytes(f.close_reason) == b"idle timeout", \
        f"expected close 4002 'idle timeout', got {describe(kind, f)}"
    assert t_close - t0 >= idle - EARLY_TOL, \
        f"idle close after only {t_close - t0:.3f} s (idle timeout {idle} s)"
    assert len(pings) >= 2, f"closed idle after {len(pings)} ping(s) at {pings}; expected >= 2"
    # Never answer the close.
    ending, t_end, frames = wait_tcp_end(c, t_close + ct + UPPER_TOL)
    assert not frames, f"frames after the close frame: {frames}"
    assert ending in ("eof", "reset"), \
        f"TCP still open {t_end - t_close:.3f} s after the close frame (close timeout {ct} s)"
    assert t_end - t_close >= ct - EARLY_TOL, \
        f"TCP closed only {t_end - t_close:.3f} s after the close frame (close timeout {ct} s)"
    srv.assert_alive()


def test_raw_client_answering_pings_survives(server):
    pi = 0.2
    idle = 3 * pi
    srv = server("--ping-interval", ms(pi))
    c, t0, t1 = timed_upgrade(srv)
    pings = expect_quiet_until(c, t1 + 4 * idle, allow_pings=True, answer_pings=True)
    assert len(pings) >= int(4 * idle / pi) // 2, \
        f"only {len(pings)} pings in {4 * idle:.1f} s with a {pi} s ping interval"
    assert_echo_works(c)
    srv.assert_alive()


class PingCountingProtocol(websockets.legacy.client.WebSocketClientProtocol):
    """websockets' client protocol (which answers pings itself), counting the pings read."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.pings_received = 0

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        if frame.opcode == Opcode.PING:
            self.pings_received += 1
        return frame


def test_websockets_client_with_auto_pong_survives(server):
    pi = 0.2
    idle = 3 * pi
    srv = server("--ping-interval", ms(pi))

    async def main():
        async with websockets.connect(srv.url(), ping_interval=None, open_timeout=5,
                                      close_timeout=2, compression=None,
                                      create_protocol=PingCountingProtocol) as ws:
            try:
                await asyncio.wait_for(ws.wait_closed(), 4 * idle)
            except asyncio.TimeoutError:
                pass
            else:
                raise AssertionError(f"connection closed: {ws.close_code} {ws.close_reason!r} "
                                     f"after {ws.pings_received} pings")
            assert ws.open
            assert ws.pings_received >= int(4 * idle / pi) // 2, \
                f"only {ws.pings_received} pings in {4 * idle:.1f} s"
            await ws.send("hello")
            got = await asyncio.wait_for(ws.recv(), 5)
            assert got == "hello"

    asyncio.run(asyncio.wait_for(main(), 15))
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# 5. The close deadline after a server close nobody answers (drain)
# ---------------------------------------------------------------------------------------------


def test_sigterm_close_never_answered_tcp_closed_after_close_timeout(server):
    """The drain deadline is close timeout + 1 s, so a close timeout that were not enforced would
    show up as TCP closed ~1 s late."""
    ct = 0.5
    srv = server("--close-timeout", ms(ct), "--ping-interval", "10s")
    c, _, _ = timed_upgrade(srv)
    t_sig = time.monotonic()
    srv.terminate()
    kind, f, t_close = next_event(c, t_sig + 3.0)
    assert kind == "frame" and f.opcode == OP_CLOSE and f.close_code == 1001, \
        f"expected close 1001 after SIGTERM, got {describe(kind, f)}"
    ending, t_end, frames = wait_tcp_end(c, t_close + ct + 2.0)
    assert not frames, f"frames after the close frame: {frames}"
    assert ending in ("eof", "reset"), \
        f"TCP still open {t_end - t_close:.3f} s after the close frame (close timeout {ct} s)"
    assert t_end - t_close <= ct + UPPER_TOL, \
        f"TCP closed {t_end - t_close:.3f} s after the close frame (close timeout {ct} s)"
    assert t_end - t_close >= ct - EARLY_TOL, \
        f"TCP closed only {t_end - t_close:.3f} s after the close frame (close timeout {ct} s)"
    rc = srv.wait_exit(5.0)
    assert rc == 0, f"ringway exit code {rc} after SIGTERM (None: still running)"


# ---------------------------------------------------------------------------------------------
# 6. Half-closed peer
# ---------------------------------------------------------------------------------------------


def test_half_closed_client_is_closed_at_once(server):
    srv = server("--ping-interval", "10s", "--close-timeout", "5s")
    c, _, _ = timed_upgrade(srv)
    assert_echo_works(c)
    t0 = time.monotonic()
    c.sock.shutdown(socket.SHUT_WR)
    ending, t, frames = wait_tcp_end(c, t0 + 3.0)
    assert ending in ("eof", "reset"), \
        f"half-closed connection still open after {t - t0:.2f} s"
    assert t - t0 <= 0.5, f"half-closed connection closed only after {t - t0:.3f} s"
    assert all(f.opcode == OP_CLOSE for f in frames) and len(frames) <= 1, \
        f"unexpected frames after our FIN: {frames}"
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# 7. Slow consumers
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(40)
def test_slow_consumers_closed_and_memory_bounded(server):
    """Five clients send 32 KiB binary messages as fast as they can and never read. Each must be
    terminated (a 4003 'slow consumer' close frame if it ever becomes readable, and EOF or a
    reset), the server's RSS must stay within 64 MB of where it started, and another client must
    keep getting echoes meanwhile.

    Each client stops sending after CAP bytes: were --max-buffered not enforced, the server
    would queue ~5 x CAP of echoes (far over the RSS bound) and no client would be closed."""
    ct = 0.5
    n_clients = 5
    frame_size = 32 << 10
    cap = 24 << 20
    bound = 5.0  # every slow client terminated within this long after it started sending
    # Two workers whatever the core count: each worker's receive buffer ring (1024 x 16 KiB)
    # becomes resident as it is used, and that must not be mistaken for queued output.
    srv = server("--max-message-size", "64KiB", "--max-buffered", "256KiB",
                 "--close-timeout", ms(ct), "--ping-interval", "10s", workers=2)
    slow = [timed_upgrade(srv, cls=SmallRcvbufWs)[0] for _ in range(n_clients)]
    other, _, _ = timed_upgrade(srv)
    assert_echo_works(other)
    frame = build_frame(OP_BINARY, make_binary(frame_size))
    state = [{"sent": 0, "pos": 0, "end": None, "how": None} for _ in slow]
    close_frames = []

    with RssSampler(srv.pid) as rss:
        for c in slow:
            c.sock.setblocking(False)
        t_start = time.monotonic()
        other_checked = False
        # Send until every client has failed a send (reset by the server) or sent `cap` bytes.
        while True:
            now = time.monotonic()
            if not other_checked and sum(s["sent"] for s in state) >= 4 * n_clients * frame_size:
                assert_echo_works(other, tag=b"while-slow-consumers")
                other_checked = True
            sending = [i for i, s in enumerate(state) if s["end"] is None and s["sent"] < cap]
            if not sending or now - t_start > bound:
                break
            _, writable, _ = select.select([], [slow[i].sock for i in sending], [], 0.02)
            for i in sending:
                c, s = slow[i], state[i]
                if c.sock not in writable:
                    continue
                try:
                    n = c.sock.send(frame[s["pos"]:])
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError) as e:
                    s["end"], s["how"] = time.monotonic(), f"send: {e.__class__.__name__}"
                    continue
                s["sent"] += n
                s["pos"] = (s["pos"] + n) % len(frame)
        assert other_checked, "the slow clients never got going"
        # The rest: read what they were sent, to the end of the connection.
        for i, c in enumerate(slow):
            s = state[i]
            c.sock.setblocking(True)
            if s["end"] is not None:
                continue
            ending, t, frames = wait_tcp_end(c, t_start + bound)
            bad = [f for f in frames if f.opcode not in (OP_BINARY, OP_CLOSE)]
            assert not bad, f"slow client {i}: unexpected frames {bad[:3]}"
            close_frames += [f for f in frames if f.opcode == OP_CLOSE]
            assert ending in ("eof", "reset"), \
                (f"slow client {i} not terminated {t - t_start:.2f} s after it started sending "
                 f"({s['sent']} bytes sent, {len(frames)} frames read, "
                 f"server RSS +{rss.growth_mb:.1f} MB)")
            s["end"], s["how"] = t, f"read: {ending}"

    summary = [(s["sent"], round(s["end"] - t_start, 3), s["how"]) for s in state]
    late = [x for x in summary if x[1] > bound]
    assert not late, f"slow clients terminated later than {bound} s: {late}"
    for f in close_frames:
        assert f.close_code == 4003 and bytes(f.close_reason) == b"slow consumer", \
            f"slow consumer closed with {f.close_code} {bytes(f.close_reason)!r}"
    assert rss.growth_mb < 64, (f"server RSS grew by {rss.growth_mb:.1f} MB with {n_clients} "
                                f"slow consumers (base {rss.base_kb / 1024:.1f} MB)")
    print(f"slow consumers (sent, ended at, how): {summary}; RSS +{rss.growth_mb:.1f} MB; "
          f"{len(close_frames)} close frames read")
    assert_echo_works(other, tag=b"after-slow-consumers")
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# 8. Disabled deadlines
# ---------------------------------------------------------------------------------------------

WINDOW = 1.5  # 3 x the 500 ms interval the disabled deadline would otherwise have


@pytest.mark.parametrize("flags", [
    ("--ping-interval", "0", "--idle-timeout", "0"),
    ("--ping-interval", "0"),  # the idle default is 3 x 0 = 0: disabled too
], ids=["both-zero", "ping-zero-idle-default"])
def test_disabled_pings_and_idle(server, flags):
    srv = server(*flags)
    c, _, t1 = timed_upgrade(srv)
    expect_quiet_until(c, t1 + WINDOW)
    assert_echo_works(c)
    srv.assert_alive()


def test_idle_disabled_pings_continue_without_close(server):
    pi = 0.3
    srv = server("--ping-interval", ms(pi), "--idle-timeout", "0")
    c, _, t1 = timed_upgrade(srv)
    pings = expect_quiet_until(c, t1 + WINDOW, allow_pings=True, answer_pings=False)
    assert len(pings) >= int(WINDOW / pi) - 1, \
        f"{len(pings)} pings in {WINDOW} s with a {pi} s ping interval"
    assert_echo_works(c)
    srv.assert_alive()


def test_pings_disabled_idle_timeout_still_closes(server):
    """--ping-interval 0 with an explicit idle timeout: no ping ever, close 4002 at the idle
    timeout."""
    idle, ct = 0.6, 0.4
    srv = server("--ping-interval", "0", "--idle-timeout", ms(idle), "--close-timeout", ms(ct))
    c, t0, t1 = timed_upgrade(srv)
    kind, f, t = next_event(c, t1 + idle + UPPER_TOL)
    assert kind == "frame" and f.opcode == OP_CLOSE, \
        f"expected only close 4002 within {idle + UPPER_TOL} s, got {describe(kind, f)} after " \
        f"{t - t1:.3f} s"
    assert f.close_code == 4002 and bytes(f.close_reason) == b"idle timeout", describe(kind, f)
    assert t - t0 >= idle - EARLY_TOL, f"idle close after only {t - t0:.3f} s"
    ending, t_end, frames = wait_tcp_end(c, t + ct + UPPER_TOL)
    assert ending in ("eof", "reset") and not frames, \
        f"after the close frame: {ending}, frames {frames}"
    srv.assert_alive()


@pytest.mark.parametrize("flags,what", [
    (("--ping-interval", "500ms", "--idle-timeout", "300ms"), "idle timeout below ping interval"),
    (("--ping-interval", "500ms", "--idle-timeout", "500ms"), "idle timeout equal to ping"),
    (("--max-message-size", "64KiB", "--max-buffered", "64KiB"), "max-buffered == max message"),
], ids=["idle-lt-ping", "idle-eq-ping", "buffered-eq-message"])
def test_inconsistent_deadline_flags_rejected(ringway_bin, flags, what):
    argv = [ringway_bin, "--listen", "127.0.0.1:0", *flags]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"ringway started (ran 10 s) with {what}: {argv}") from None
    assert r.returncode != 0, f"ringway accepted {what}: {argv}\n{r.stdout!r}\n{r.stderr!r}"
    assert b"listening" not in r.stdout, f"ringway listened with {what}"


# ---------------------------------------------------------------------------------------------
# 9. A ping goes ahead of queued data
# ---------------------------------------------------------------------------------------------


def tcp_queues(local_port, remote_port):
    """(send queue, receive queue) in bytes of the established TCP socket local_port ->
    remote_port on this host, from /proc/net/tcp{,6}: what its process wrote that the peer has
    not acknowledged, and what arrived that its process has not read."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state = fields[1], fields[2], fields[3]
                if (state == "01" and int(local.rsplit(":", 1)[1], 16) == local_port
                        and int(remote.rsplit(":", 1)[1], 16) == remote_port):
                    tx, rx = fields[4].split(":")
                    return int(tx, 16), int(rx, 16)
    raise AssertionError(f"no established TCP socket {local_port} -> {remote_port} in /proc/net")


def socket_ioctl(sock, request):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0" * 4))[0]


def test_ping_goes_ahead_of_queued_echoes(server):
    """A client with a tiny receive buffer sends three times what the kernel can hold of the
    server's output, then goes silent without reading. The server's socket send buffer grows to
    at most net.ipv4.tcp_wmem's maximum (the server sets no SO_SNDBUF); with the client's
    receive buffer that bounds what the kernel absorbs, so most echoes wait in the server's own
    queue on any host (the test measures what the kernel held once the ping was due and fails
    if nothing was left queued). The ping the silence triggers must go out at the next frame
    boundary, ahead of the queued echoes: reading everything afterwards, the first ping comes
    before the last echo, not behind all of them. (Output the server already handed to an
    in-flight send is not queued: the ping may follow it, so the test does not pin the ping's
    position closer than that.)

    The ping cannot be observed without reading (which would move the queue), so the test waits
    until the server has read everything, then a ping interval + UPPER_TOL, before it reads."""
    pi = 0.3
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    absorb = wmem_max + 2 * SmallRcvbufWs.RCVBUF  # the kernel doubles SO_RCVBUF
    frame_size = 32 << 10
    wire = frame_size + 4  # an echo's bytes on the wire: 2-byte header + 16-bit length
    n = 3 * absorb // frame_size + 1
    total = n * wire
    # Built before connecting: a pause after the upgrade would itself be a silence and a ping.
    payloads = [struct.pack("!I", i) + make_binary(frame_size - 4, seed=i) for i in range(n)]
    data = b"".join(build_frame(OP_BINARY, p) for p in payloads)
    srv = server("--ping-interval", ms(pi), "--idle-timeout", "30s",
                 "--max-message-size", "64KiB", "--max-buffered", f"{total // 1024 + 1024}KiB")
    c, _, _ = timed_upgrade(srv, cls=SmallRcvbufWs)
    assert not c.buf, f"bytes after the 101: {bytes(c.buf[:100])!r}"
    client_port = c.sock.getsockname()[1]
    c.sock.settimeout(10.0)
    c.sock.sendall(data)
    # Silence starts when the server has read the last byte: nothing is left in the client's
    # send queue or the server's receive queue.
    deadline = time.monotonic() + 10.0
    while socket_ioctl(c.sock, termios.TIOCOUTQ) or tcp_queues(srv.port, client_port)[1]:
        assert time.monotonic() < deadline, "the server did not read the client's data in 10 s"
        time.sleep(0.01)
    time.sleep(pi + UPPER_TOL)
    in_kernel = tcp_queues(srv.port, client_port)[0] + socket_ioctl(c.sock, termios.FIONREAD)
    assert in_kernel + 2 * wire <= total, (
        f"the kernel took {in_kernel} of {total} bytes of echoes (tcp_wmem max {wmem_max}): "
        f"nothing was left queued in the server for the ping to go ahead of")
    deadline = time.monotonic() + 10.0
    got, offset, first_ping_at, pings_before = [], 0, None, None
    while len(got) < n:
        kind, f, _ = next_event(c, deadline)
        assert kind == "frame", f"{kind} after {len(got)} of {n} echoes"
        if f.opcode == OP_PING:
            if first_ping_at is None:
                first_ping_at, pings_before = offset, len(got)
            offset += 2 + len(f.payload)
            continue
        assert f.opcode == OP_BINARY and f.fin, f"unexpected frame {f!r}"
        got.append(f.payload)
        offset += wire
    assert got == payloads, "echoes corrupted or reordered"
    print(f"kernel held {in_kernel} bytes; first ping at byte {first_ping_at} "
          f"(after {pings_before} of {n} echoes)")
    if first_ping_at is None:
        kind, f, _ = next_event(c, time.monotonic() + pi + UPPER_TOL)
        late = kind == "frame" and f.opcode == OP_PING
        raise AssertionError(
            f"the ping came after all {n} queued echoes instead of ahead of them" if late else
            f"no ping at all after {pi + UPPER_TOL} s of silence (then: {describe(kind, f)})")
    srv.assert_alive()
