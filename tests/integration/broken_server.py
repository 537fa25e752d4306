#!/usr/bin/env python3
"""A deliberately broken WebSocket server, for testing ringway-probe's FAIL verdicts.

It upgrades every request (whatever the path, however slowly it arrives), never pings, never
closes anything, ignores invalid frames and never reaps a connection: silent peers, half-closed
peers, peers that never read and peers that never answer a close all stay connected until the
process exits. Well-formed masked text/binary frames of up to 1 MiB are echoed, so clients that
never read do fill its buffers (it then simply stops reading from them).

Plain asyncio on raw non-blocking sockets; no WebSocket library.

    python3 broken_server.py [--host 127.0.0.1] [--port 0]

prints `broken_server listening on HOST:PORT` once it accepts connections, and runs until
SIGTERM/SIGINT.
"""

import argparse
import asyncio
import base64
import hashlib
import signal
import socket
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 64 * 1024
MAX_ECHO = 1 << 20

# Every accepted socket, kept referenced so that nothing ever closes it before exit.
HELD = []


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def find_header(head, wanted):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip()
    return b""


def find_key(head):
    return find_header(head, b"sec-websocket-key")


def server_frame(opcode, payload):
    n = len(payload)
    if n <= 125:
        head = bytes([0x80 | opcode, n])
    elif n <= 0xFFFF:
        head = bytes([0x80 | opcode, 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", n)
    return head + payload


def unmask(data, key):
    n = len(data)
    if n == 0:
        return b""
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


class FrameScanner:
    """Finds frame boundaries in a byte stream. Frames it will not echo (control frames,
    unmasked ones, reserved bits, huge ones) are skipped without being buffered."""

    def __init__(self):
        self.buf = bytearray()
        self.skip = 0  # payload bytes still to drop

    def feed(self, data):
        """Returns the (opcode, payload) frames to echo."""
        out = []
        if self.skip:
            dropped = min(self.skip, len(data))
            self.skip -= dropped
            data = data[dropped:]
        self.buf += data
        while not self.skip:
            b = self.buf
            if len(b) < 2:
                break
            b0, b1 = b[0], b[1]
            masked = bool(b1 & 0x80)
            n = b1 & 0x7F
            off = 2
            if n == 126:
                if len(b) < 4:
                    break
                n = struct.unpack("!H", b[2:4])[0]
                off = 4
            elif n == 127:
                if len(b) < 10:
                    break
                n = struct.unpack("!Q", b[2:10])[0]
                off = 10
            if masked:
                off += 4
            if len(b) < off:
                break
            opcode = b0 & 0x0F
            echo = masked and (b0 & 0x70) == 0 and opcode in (1, 2) and n <= MAX_ECHO
            if not echo:
                # Ignore it: drop its payload, buffered or still to come.
                have = len(b) - off
                if have >= n:
                    del b[:off + n]
                else:
                    self.skip = n - have
                    del b[:]
                continue
            if len(b) < off + n:
                break
            key = bytes(b[off - 4:off])
            payload = unmask(bytes(b[off:off + n]), key)
            del b[:off + n]
            out.append((opcode, payload))
        return out


async def serve_connection(loop, conn):
    HELD.append(conn)
    try:
        head = bytearray()
        while b"\r\n\r\n" not in head:
            if len(head) > MAX_HEAD:
                return
            data = await loop.sock_recv(conn, 65536)
            if not data:
                return  # the client's FIN: stop reading, keep the socket open
            head += data
        request, _, rest = bytes(head).partition(b"\r\n\r\n")
        key = find_key(request)
        # It agrees to permessage-deflate when offered, so the deflate checks reach the frames
        # it then mishandles (it drops every RSV1 frame without a word).
        ext = b""
        if find_header(request, b"sec-websocket-extensions").startswith(b"permessage-deflate"):
            ext = b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        await loop.sock_sendall(conn, b"HTTP/1.1 101 Switching Protocols\r\n"
                                      b"Upgrade: websocket\r\nConnection: Upgrade\r\n" + ext +
                                      b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n")
        scanner = FrameScanner()
        data = rest
        while True:
            for opcode, payload in scanner.feed(data):
                # Blocks (stops reading) while the client does not read.
                await loop.sock_sendall(conn, server_frame(opcode, payload))
            data = await loop.sock_recv(conn, 65536)
            if not data:
                return  # FIN without a close frame: ignored, socket kept
    except (ConnectionError, OSError):
        return  # even a reset socket is kept until exit


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(128)
    lsock.setblocking(False)
    host, port = lsock.getsockname()[:2]
    print(f"broken_server listening on {host}:{port}", flush=True)

    tasks = set()

    async def accept_loop():
        while True:
            conn, _ = await loop.sock_accept(lsock)
            conn.setblocking(False)
            t = loop.create_task(serve_connection(loop, conn))
            tasks.add(t)
            t.add_done_callback(tasks.discard)

    acceptor = loop.create_task(accept_loop())
    await stop
    acceptor.cancel()
    for t in list(tasks):
        t.cancel()
    for s in HELD:
        s.close()
    lsock.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
