"""Idle connections do not wake the server: 2000 upgraded connections and no traffic.

Measured as wake-ups, not CPU time: the context switches (voluntary + involuntary, from
/proc/PID/task/TID/status) of each rw-worker-N thread over a quiet window. A worker with
nothing to do sleeps in io_uring_enter until its next deadline; an event loop that polled,
spun or ticked on a short timer would switch hundreds of times a second. How much CPU idle
connections cost is a benchmark, not a test: bench/idle_cpu.sh. Heavy (2000 sockets opened at
once): ctest runs this file with nothing beside it (docs/testing.md).
"""

import asyncio
import os
import resource
import time

import pytest

from conftest import OP_TEXT, build_frame, upgrade_request

N_IDLE = 2000
WORKERS = 2
QUIET_WINDOW = 2.0
# Wake-ups one worker may have in the window: the timer wheel may wake early for a crowded slot
# and go back to sleep, a few times. A 1 ms tick would be 2000.
MAX_WAKEUPS_PER_WORKER = 20


@pytest.fixture
def raised_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_IDLE + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.fail(f"hard RLIMIT_NOFILE {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def worker_switches(pid):
    """{thread id: context switches so far} of the process's rw-worker-* threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if not f.read().startswith("rw-worker"):
                continue
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            out[tid] = sum(int(line.split()[1]) for line in f
                           if line.startswith(("voluntary_ctxt_switches",
                                               "nonvoluntary_ctxt_switches")))
    return out


@pytest.mark.time_limit(60)
def test_idle_connections_do_not_wake_the_workers(server, raised_nofile):
    srv = server("--ping-interval", "10s", workers=WORKERS)

    async def main():
        conns = []

        async def open_one():
            r, w = await asyncio.wait_for(asyncio.open_connection(srv.host, srv.port), 5)
            conns.append((r, w))
            w.write(upgrade_request(srv.hostport, "/echo"))
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101"), head[:100]

        async def echo(r, w, i):
            payload = b"idle-%d" % i
            w.write(build_frame(OP_TEXT, payload))
            got = await asyncio.wait_for(r.readexactly(2 + len(payload)), 5)
            assert got == bytes([0x81, len(payload)]) + payload, f"connection {i}: {got!r}"

        try:
            for _ in range(N_IDLE // 200):
                await asyncio.gather(*(open_one() for _ in range(200)))
            assert len(conns) == N_IDLE
            # Let the upgrades' tail of work finish; then count wake-ups over a quiet window.
            await asyncio.sleep(0.3)
            before = worker_switches(srv.pid)
            t0 = time.monotonic()
            await asyncio.sleep(QUIET_WINDOW)
            after = worker_switches(srv.pid)
            window = time.monotonic() - t0
            assert len(before) == WORKERS, f"expected {WORKERS} rw-worker threads: {before}"
            woke = {tid: after[tid] - before[tid] for tid in before}
            print(f"worker wake-ups over {window:.2f} s with {N_IDLE} idle connections: {woke}")
            assert max(woke.values()) <= MAX_WAKEUPS_PER_WORKER, (
                f"workers woke {woke} times in {window:.2f} s with {N_IDLE} idle connections "
                f"(at most {MAX_WAKEUPS_PER_WORKER} each)")
            # Every connection is still open and served.
            for start in range(0, N_IDLE, 500):
                await asyncio.gather(*(echo(r, w, start + i)
                                       for i, (r, w) in enumerate(conns[start:start + 500])))
        finally:
            for _, w in conns:
                w.close()

    asyncio.run(asyncio.wait_for(main(), 50))
    srv.assert_alive()
