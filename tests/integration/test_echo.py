"""Echo behaviour of GET /echo, driven mostly by the `websockets` client (asyncio API, 10.4)."""

import asyncio
import socket
import struct
import time

import pytest
import websockets

from conftest import OP_BINARY, OP_TEXT, RawWs, build_frame, make_binary, make_text

SIZES = [0, 125, 126, 127, 128, 65535, 65536, 1 << 20]


def run(coro, timeout=10.0):
    """Run a coroutine under a hard deadline."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def connect(srv, path="/echo", **kw):
    opts = dict(max_size=None, compression=None, open_timeout=5, close_timeout=3,
                ping_interval=None, max_queue=None)
    opts.update(kw)
    return websockets.connect(srv.url(path), **opts)


def payload_for(kind, size):
    return make_text(size) if kind == "text" else make_binary(size)


async def echo_roundtrip(ws, msg, timeout=5.0):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), timeout)
    assert type(got) is type(msg), f"type changed: sent {type(msg).__name__}, got {type(got).__name__}"
    assert len(got) == len(msg), f"echo length {len(got)} != {len(msg)}"
    assert got == msg, "echo content differs"


# --- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_echo_sizes(echo_server, kind, size):
    msg = payload_for(kind, size)

    async def main():
        async with connect(echo_server) as ws:
            await echo_roundtrip(ws, msg)
            await echo_roundtrip(ws, msg)  # and again on the same connection

    run(main())


def test_echo_all_sizes_one_connection(echo_server):
    async def main():
        async with connect(echo_server) as ws:
            for size in SIZES:
                for kind in ("text", "binary"):
                    await echo_roundtrip(ws, payload_for(kind, size))

    run(main())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_echo_sizes_raw_frames_small_writes(echo_server, kind, size):
    data = payload_for(kind, size)
    data = data.encode("utf-8") if isinstance(data, str) else data
    opcode = OP_TEXT if kind == "text" else OP_BINARY
    frame = build_frame(opcode, data)
    c = echo_server.raw_ws()
    assert c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    c.send(frame, chunk=7)  # ~150k writes for 1 MiB: well under a second on loopback
    c.expect_echo(opcode, data, timeout=8.0)
    # The connection is still in a sane state afterwards.
    c.send_text("after", chunk=7)
    c.expect_echo(OP_TEXT, b"after")


# --- many messages ---------------------------------------------------------------------------------


def test_pipelined_200_messages(echo_server):
    msgs = []
    for i in range(200):
        size = (i * 37) % 700
        msgs.append(make_text(size) + f"#{i}" if i % 2 else make_binary(size, seed=i) + b"#%d" % i)

    async def main():
        async with connect(echo_server) as ws:
            for m in msgs:
                await ws.send(m)
            for i, m in enumerate(msgs):
                got = await asyncio.wait_for(ws.recv(), 5)
                assert got == m, f"message {i} out of order or corrupted"

    run(main())


def test_pipelined_200_raw_frames_one_write(echo_server):
    c = echo_server.raw_ws()
    msgs = [(OP_TEXT if i % 3 else OP_BINARY, (b"m%d-" % i) * (i % 50)) for i in range(200)]
    c.send(b"".join(build_frame(op, p) for op, p in msgs))
    for op, p in msgs:
        c.expect_echo(op, p)


def test_concurrent_connections(echo_server):
    async def client(n):
        async with connect(echo_server) as ws:
            for i in range(20):
                m = make_text(n * 100 + i) if i % 2 else make_binary(n * 1000 + i, seed=n * 31 + i)
                await echo_roundtrip(ws, m)
        return n

    async def main():
        done = await asyncio.gather(*(client(n) for n in range(16)))
        assert sorted(done) == list(range(16))

    run(main())


def test_large_messages_both_directions_at_once(echo_server):
    """Send several 1 MiB messages without reading: the server must not deadlock on output."""
    msgs = [make_binary(1 << 20, seed=s) for s in range(6)]

    async def main():
        async with connect(echo_server) as ws:
            async def reader():
                for i, m in enumerate(msgs):
                    got = await asyncio.wait_for(ws.recv(), 8)
                    assert got == m, f"large message {i} differs"
            r = asyncio.create_task(reader())
            for m in msgs:
                await ws.send(m)
            await r

    run(main(), timeout=15)


def test_abrupt_disconnects_do_not_disturb_server(echo_server):
    """Clients vanish mid-frame, mid-handshake, or before reading a large echo (some with RST)."""
    srv = echo_server
    big = build_frame(OP_BINARY, make_binary(1 << 20))
    for i in range(30):
        c = RawWs(srv.host, srv.port)
        try:
            if i % 3 == 0:
                c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: web")  # mid-handshake
            else:
                c.upgrade()
                if i % 3 == 1:
                    c.send(big[:5000])  # mid-frame
                else:
                    c.send(big)  # the echo will have nowhere to go
        finally:
            if i % 2:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # with SO_LINGER 0: RST
    srv.assert_alive()

    async def main():
        async with connect(srv) as ws:
            await echo_roundtrip(ws, make_text(70000))

    run(main())


# --- fragmentation and control frames ------------------------------------------------------------


def test_fragmented_text_message(echo_server):
    parts = ["Hel", "", "lo, ", make_text(300), "\u20ac end"]

    async def main():
        async with connect(echo_server) as ws:
            await ws.send(parts)
            assert await asyncio.wait_for(ws.recv(), 5) == "".join(parts)

    run(main())


def test_fragmented_binary_message(echo_server):
    parts = [make_binary(n, seed=n) for n in (1, 0, 126, 65536, 3)]

    async def main():
        async with connect(echo_server) as ws:
            await ws.send(parts)
            assert await asyncio.wait_for(ws.recv(), 5) == b"".join(parts)

    run(main())


def test_fragmented_message_with_interleaved_ping(echo_server):
    async def main():
        async with connect(echo_server) as ws:
            async def fragments():
                yield "first-"
                # Between fragments: a ping, and wait for its pong, while the message is open.
                waiter = await ws.ping(b"mid-message")
                await asyncio.wait_for(waiter, 5)
                yield "second-"
                waiter = await ws.ping(b"again")
                await asyncio.wait_for(waiter, 5)
                yield "third"
            await ws.send(fragments())
            assert await asyncio.wait_for(ws.recv(), 5) == "first-second-third"

    run(main())


@pytest.mark.parametrize("data", [b"", b"x", b"\x00\xff" * 62 + b"!"], ids=["empty", "1", "125"])
def test_ping_pong(echo_server, data):
    assert len(data) <= 125

    async def main():
        async with connect(echo_server) as ws:
            waiter = await ws.ping(data)
            await asyncio.wait_for(waiter, 5)
            await echo_roundtrip(ws, "still open")

    run(main())


def test_default_client_with_permessage_deflate_offer(echo_server):
    """A client offering permessage-deflate works whether or not the server accepts it."""
    async def main():
        async with connect(echo_server, compression="deflate") as ws:
            await echo_roundtrip(ws, make_text(5000))
            await echo_roundtrip(ws, make_binary(70000))

    run(main())


# --- closing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4000, 4999])
def test_client_close_code_echoed(echo_server, code):
    async def main():
        async with connect(echo_server) as ws:
            await echo_roundtrip(ws, "before close")
            await asyncio.wait_for(ws.close(code=code, reason="bye"), 5)
            assert ws.close_code == code, f"server answered close {ws.close_code} {ws.close_reason!r}"

    run(main())


def test_sigterm_sends_1001_and_exits_0(server):
    srv = server()

    async def main():
        async with connect(srv) as ws:
            await echo_roundtrip(ws, "hello")
            srv.terminate()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1001, (ws.close_code, ws.close_reason)
            assert ws.close_reason == "server shutting down"

    run(main())
    rc = srv.wait_exit(5)
    assert rc == 0, f"exit code {rc} after SIGTERM"


def test_sigterm_with_many_clients_workers_2(server):
    srv = server(workers=2)

    async def client(ready):
        async with connect(srv) as ws:
            await echo_roundtrip(ws, "x")
            ready.append(1)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 6)
            await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code, ws.close_reason

    async def main():
        ready = []
        tasks = [asyncio.create_task(client(ready)) for _ in range(12)]
        deadline = time.monotonic() + 5
        while len(ready) < 12:
            assert time.monotonic() < deadline, f"only {len(ready)} of 12 clients connected"
            await asyncio.sleep(0.01)
        srv.terminate()
        results = await asyncio.gather(*tasks)
        assert all(r == (1001, "server shutting down") for r in results), results

    run(main())
    assert srv.wait_exit(5) == 0


def test_sigterm_raw_client_sees_1001_then_eof(server):
    srv = server()
    c = srv.raw_ws()
    c.send_text("hi")
    c.expect_echo(OP_TEXT, b"hi")
    srv.terminate()
    f = c.expect_close(1001, reply=True, require_reason=True, eof_timeout=5)
    assert bytes(f.close_reason) == b"server shutting down"
    c.close()  # as a real client does after the server's FIN
    t0 = time.monotonic()
    rc = srv.wait_exit(5)
    assert rc == 0, f"exit code {rc} (None = still running 5 s after the handshake completed)"
    assert time.monotonic() - t0 < 3, "exit took longer than 3 s after the close handshake"


@pytest.mark.time_limit(25)
def test_sigterm_with_unresponsive_client_still_exits(server):
    """A client that never answers the server's close must not keep the server alive for long
    (close-handshake deadline 5 s)."""
    srv = server()
    c = srv.raw_ws()
    srv.terminate()
    t0 = time.monotonic()
    f = c.recv_frame(timeout=5)
    assert f.opcode == 0x8 and f.close_code == 1001, f
    # Do not answer; the server must still close TCP and exit.
    c.expect_eof(timeout=8)
    rc = srv.wait_exit(10 - (time.monotonic() - t0))
    assert rc == 0, f"exit code {rc} (None = still running) after SIGTERM with a silent client"


# --- io modes ---------------------------------------------------------------------------------------

IO_MODES = {
    "default": (),
    "no_direct_descriptors": ("--no-direct-descriptors",),
    "no_defer_taskrun": ("--no-defer-taskrun",),
    "workers_2": ("--workers", "2"),
    "workers_2_no_direct_no_defer": ("--workers", "2", "--no-direct-descriptors",
                                     "--no-defer-taskrun"),
}


@pytest.mark.parametrize("mode", list(IO_MODES))
def test_io_mode_smoke(server, mode):
    srv = server(*IO_MODES[mode])

    async def client(n):
        async with connect(srv) as ws:
            for size in (0, 1, 125, 126, 65536, (1 << 20) if n == 0 else 1000):
                await echo_roundtrip(ws, make_text(size))
                await echo_roundtrip(ws, make_binary(size, seed=n))
            waiter = await ws.ping(b"p%d" % n)
            await asyncio.wait_for(waiter, 5)
            await ws.send(["frag", "mented"])
            assert await asyncio.wait_for(ws.recv(), 5) == "fragmented"
            await asyncio.wait_for(ws.close(code=4000 + n), 5)
            assert ws.close_code == 4000 + n

    async def main():
        await asyncio.gather(*(client(n) for n in range(8)))

    run(main())
    # Raw client too: one echo, then a client-initiated close handshake.
    c = srv.raw_ws()
    c.send_binary(b"raw")
    c.expect_echo(OP_BINARY, b"raw")
    c.send_close(1000)
    c.expect_close(1000)


def _ipv6_loopback_usable():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_usable(), reason="no IPv6 loopback on this host")
def test_ipv6_listen_smoke(server):
    srv = server(listen="[::1]:0")
    assert srv.host == "::1", srv.host

    async def main():
        async with connect(srv) as ws:
            await echo_roundtrip(ws, make_text(1000))
            await echo_roundtrip(ws, make_binary(70000))

    run(main())
    c = srv.raw_ws()
    c.send_text("v6")
    c.expect_echo(OP_TEXT, b"v6")
