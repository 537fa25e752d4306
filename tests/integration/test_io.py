"""The io layer's edge paths, proven on the real binary: receive-buffer exhaustion (ENOBUFS) is
flow control that loses nothing, and large sends to a slow reader deliver every byte in order.
The server's exit line counts how often each path ran, so a test can prove its path was taken.

The kernel retries a stream socket's short send inside the ring until it is whole, so a partial
send completion only shows up when a send is interrupted; the slow-reader test checks integrity
rather than demanding one."""

import asyncio
import os
import socket
import time

import pytest
import websockets

from conftest import OP_BINARY, OP_TEXT, build_frame, worker_stats


def test_buffer_ring_exhaustion_loses_nothing(server):
    # Two 512-byte receive buffers for 24 busy connections: most turns run out of buffers.
    srv = server("--workers", "1", "--recv-buffers", "2", "--recv-buffer-size", "512")

    async def client(i):
        async with websockets.connect(srv.url(), max_size=None, compression=None,
                                      ping_interval=None) as ws:
            for j in range(12):
                payload = os.urandom(4096 + 97 * i + j)
                await ws.send(payload)
                assert await asyncio.wait_for(ws.recv(), 10) == payload

    async def main():
        await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(24))), 30)

    asyncio.run(main())
    srv.stop()
    stats = worker_stats(srv)
    assert stats.get("recv_enobufs", 0) > 0, f"ENOBUFS path never ran: {stats}"
    assert stats["accepted"] == stats["closed"] == 24


def test_large_sends_to_a_slow_reader_deliver_every_byte_in_order(server):
    srv = server("--workers", "1")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A tiny receive window makes the server's large sends complete in pieces.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((srv.host, srv.port))
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    payloads = [os.urandom(300_000 + k) for k in range(3)]
    for p in payloads:
        s.sendall(build_frame(OP_BINARY, p))
    expected = b"".join(bytes([0x82, 127]) + len(p).to_bytes(8, "big") + p for p in payloads)
    got = bytearray()
    deadline = time.monotonic() + 20
    while len(got) < len(expected):
        assert time.monotonic() < deadline, f"only {len(got)} of {len(expected)} bytes"
        chunk = s.recv(2048)  # read slowly, in small pieces
        assert chunk, "server closed early"
        got += chunk
    assert bytes(got) == expected
    s.close()
    srv.stop()
    stats = worker_stats(srv)
    assert stats["bytes_out"] >= len(expected)


def test_a_closed_connection_never_touches_the_next_one(server):
    # A finishes a close handshake and drops its socket at once; B, accepted right after, may
    # be handed the same descriptor. Nothing queued for A (its shutdown, its close) may reach B.
    srv = server("--workers", "1")
    for i in range(150):
        a = srv.raw_ws()
        a.send_close(1000)
        a.close()
        b = srv.raw_ws()
        b.send_text(b"x%d" % i)
        b.expect_echo(OP_TEXT, b"x%d" % i)
        b.close()
