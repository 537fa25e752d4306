"""More connections than the server's file-descriptor limit.

The server runs under `prlimit --nofile=1024:1024`. With io_uring direct descriptors (the default)
it must hold 1500 upgraded connections at once; with --no-direct-descriptors it must survive the
attempt and keep serving. Heavy (3000 sockets at once): ctest runs this file with nothing
beside it (docs/testing.md).
"""

import asyncio
import os
import resource
import shutil
import time

import pytest

from conftest import (
    OP_TEXT, build_frame, get_request, read_nofile_limit, upgrade_request,
)

N_CONNS = 1500
NOFILE = 1024
BATCH = 100


def prlimit_prefix():
    path = shutil.which("prlimit") or "/usr/bin/prlimit"
    if not os.access(path, os.X_OK):
        pytest.fail("prlimit (util-linux) is required for this test")
    return [path, f"--nofile={NOFILE}:{NOFILE}", "--"]


@pytest.fixture(autouse=True)
def raise_own_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_CONNS + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.fail(f"test process hard RLIMIT_NOFILE {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def run(coro, timeout):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


class Client:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    def close(self, abort=False):
        try:
            if abort:
                self.writer.transport.abort()  # RST
            else:
                self.writer.close()  # FIN
        except Exception:
            pass


async def open_tcp(host, port, timeout):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0), limit=65536), timeout)
    return Client(reader, writer)


async def upgrade(client, hostport, timeout):
    client.writer.write(upgrade_request(hostport, "/echo"))
    head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), timeout)
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 101"):
        raise AssertionError(f"upgrade answered {status!r}")


async def echo_once(client, i, timeout):
    payload = b"conn-%d" % i
    client.writer.write(build_frame(OP_TEXT, payload))
    head = await asyncio.wait_for(client.reader.readexactly(2), timeout)
    assert head[0] == 0x80 | OP_TEXT and head[1] == len(payload), f"bad echo header {head!r}"
    got = await asyncio.wait_for(client.reader.readexactly(len(payload)), timeout)
    assert got == payload, f"connection {i}: echo {got!r}"


async def gather_bounded(coros, limit):
    """Run coroutines with at most `limit` in flight; results or exceptions, in order."""
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


async def healthz_ok(host, port, hostport, deadline):
    """Poll /healthz until it answers 200 ok or the deadline passes."""
    last = None
    while time.monotonic() < deadline:
        try:
            c = await open_tcp(host, port, min(2.0, max(0.1, deadline - time.monotonic())))
            try:
                c.writer.write(get_request(hostport, "/healthz"))
                head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 2.0)
                if head.startswith(b"HTTP/1.1 200"):
                    body = await asyncio.wait_for(c.reader.readexactly(3), 2.0)
                    if body == b"ok\n":
                        return True
                last = head[:100]
            finally:
                c.close()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            last = repr(e)
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz did not answer 200 ok in time; last: {last}")


@pytest.mark.time_limit(60)
def test_1500_connections_with_direct_descriptors(server):
    srv = server("--workers", "2", prefix=prlimit_prefix())
    assert read_nofile_limit(srv.pid) == (NOFILE, NOFILE), "prlimit did not apply to ringway"
    host, port = srv.host, srv.port

    async def main():
        clients = []
        try:
            # Open and upgrade in batches so the listen backlog is never the bottleneck.
            for start in range(0, N_CONNS, BATCH):
                batch = await gather_bounded(
                    [open_tcp(host, port, 5.0) for _ in range(BATCH)], BATCH)
                errors = [b for b in batch if isinstance(b, BaseException)]
                for b in batch:
                    if not isinstance(b, BaseException):
                        clients.append(b)
                assert not errors, (f"connect failed at connection ~{start}: "
                                    f"{len(errors)} errors, first {errors[0]!r}")
                results = await gather_bounded(
                    [upgrade(c, srv.hostport, 5.0) for c in clients[start:]], BATCH)
                failed = [(start + i, r) for i, r in enumerate(results)
                          if isinstance(r, BaseException)]
                assert not failed, (f"{len(failed)} of batch at {start} not upgraded; "
                                    f"first: {failed[0]!r}")
            assert len(clients) == N_CONNS
            srv.assert_alive()
            # All 1500 are open at once; each one echoes.
            results = await gather_bounded(
                [echo_once(c, i, 10.0) for i, c in enumerate(clients)], 300)
            failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
            if failed:
                srv.assert_alive()
            assert not failed, f"{len(failed)} connections did not echo; first: {failed[0]!r}"
        finally:
            for i, c in enumerate(clients):
                c.close()
            await asyncio.sleep(0.05)  # let the transports run their close callbacks
        srv.assert_alive()
        await healthz_ok(host, port, srv.hostport, time.monotonic() + 10)

    run(main(), timeout=50)


@pytest.mark.time_limit(60)
def test_1500_connections_without_direct_descriptors_does_not_crash(server):
    srv = server("--workers", "2", "--no-direct-descriptors", prefix=prlimit_prefix())
    assert read_nofile_limit(srv.pid) == (NOFILE, NOFILE), "prlimit did not apply to ringway"
    host, port = srv.host, srv.port

    async def main():
        clients = []
        stats = {}
        try:
            # Some connections may never be accepted (SYN backlog full, connect times out) or be
            # closed at once by the server; that is allowed here.
            opened = await gather_bounded([open_tcp(host, port, 2.0) for _ in range(N_CONNS)],
                                          250)
            clients = [c for c in opened if not isinstance(c, BaseException)]
            stats["connected"] = len(clients)
            results = await asyncio.wait_for(
                gather_bounded([upgrade(c, srv.hostport, 4.0) for c in clients], N_CONNS), 10)
            upgraded = [c for c, r in zip(clients, results) if not isinstance(r, BaseException)]
            stats["upgraded"] = len(upgraded)
            srv.assert_alive()
            assert upgraded, f"no connection was upgraded at all: {stats}"
            # Those that were upgraded work.
            echo = await gather_bounded([echo_once(c, i, 5.0) for i, c in enumerate(upgraded)],
                                        300)
            failed = [r for r in echo if isinstance(r, BaseException)]
            if failed:
                srv.assert_alive()
            assert not failed, (f"{len(failed)} upgraded connections did not echo: "
                                f"{failed[0]!r}; {stats}")
        finally:
            for i, c in enumerate(clients):
                c.close(abort=bool(i % 2))  # half FIN, half RST
            await asyncio.sleep(0.05)
        # Once the clients are gone the server serves new requests again.
        srv.assert_alive()
        await healthz_ok(host, port, srv.hostport, time.monotonic() + 10)
        srv.assert_alive()
        return stats

    stats = run(main(), timeout=50)
    print(f"without direct descriptors: {stats}")
