"""redis-server processes for the cluster tests: one server, or a Redis Cluster of masters, on
loopback ports chosen at run time, in a temporary directory, with no persistence (a restart
loses every key: what the tests want to see survived). Stopped at the fixture's teardown.

Debian's redis-server binary is run directly; the system service is never touched."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
START_TIMEOUT = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _encode(args):
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def command(port, *args, timeout=2.0, password=None):
    """One command over RESP, the reply as Python values (enough for the tests' needs)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rb")
        if password:
            s.sendall(_encode(["AUTH", password]))
            _read(f)
        s.sendall(_encode(args))
        return _read(f)


def _read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise RuntimeError(f"unexpected reply {line!r}")


class RedisServer:
    """A redis-server on 127.0.0.1:port. kill() and start() again keep the port."""

    def __init__(self, port=None, cluster=False, extra=(), password=None):
        self.port = port or free_port()
        self.password = password
        self.cluster = cluster
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="ringway-redis-")
        self.proc = None
        self.log = os.path.join(self.dir, "redis.log")

    def start(self):
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir, "--logfile", self.log,
                "--daemonize", "no", "--protected-mode", "no"]
        if self.cluster:
            # A fresh cluster identity each start: nodes.conf lives in the directory and is
            # removed with it.
            # The cluster bus port is chosen too (by default it is port + 10000).
            if not getattr(self, "bus_port", None):
                self.bus_port = free_port()
            argv += ["--cluster-enabled", "yes", "--cluster-config-file",
                     os.path.join(self.dir, "nodes.conf"), "--cluster-node-timeout", "2000",
                     "--cluster-port", str(self.bus_port)]
        if self.password:
            argv += ["--requirepass", self.password]
        argv += self.extra
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if command(self.port, "PING", password=self.password) == "PONG":
                    return self
            except (OSError, ConnectionError, RuntimeError):
                pass
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"redis-server did not answer PING within {START_TIMEOUT} s")
            time.sleep(0.02)

    def log_tail(self, n=2000):
        try:
            with open(self.log) as f:
                return f.read()[-n:]
        except OSError:
            return "(no log)"

    def kill(self):
        """SIGKILL: no goodbye to clients, and (no persistence) every key is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class RedisCluster:
    """Masters only (no replicas): redis-cli --cluster create spreads the 16384 slots."""

    def __init__(self, masters=3):
        self.nodes = [RedisServer(cluster=True) for _ in range(masters)]

    def start(self):
        for n in self.nodes:
            n.start()
        hosts = [f"127.0.0.1:{n.port}" for n in self.nodes]
        r = subprocess.run([REDIS_CLI, "--cluster", "create", *hosts, "--cluster-replicas", "0",
                            "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{r.stdout}\n{r.stderr}")
        deadline = time.monotonic() + 20
        while True:  # every node agrees the cluster is up
            states = [command(n.port, "CLUSTER", "INFO") for n in self.nodes]
            if all("cluster_state:ok" in s for s in states):
                return self
            if time.monotonic() > deadline:
                pytest.fail(f"the cluster did not reach cluster_state:ok: {states}")
            time.sleep(0.05)

    def stop(self):
        for n in self.nodes:
            n.stop()

    @property
    def url(self):
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def owner_of(self, slot):
        """The node serving a slot."""
        for entry in command(self.nodes[0].port, "CLUSTER", "SLOTS"):
            lo, hi, master = entry[0], entry[1], entry[2]
            if lo <= slot <= hi:
                return next(n for n in self.nodes if n.port == master[1])
        raise AssertionError(f"no node serves slot {slot}")


@pytest.fixture
def redis():
    """Factory: redis(port=None) -> a started RedisServer; all are stopped at teardown."""
    started = []

    def make(port=None, start=True, password=None):
        r = RedisServer(port, password=password)
        started.append(r)
        return r.start() if start else r

    yield make
    for r in started:
        r.stop()


@pytest.fixture
def redis_cluster():
    c = RedisCluster(3)
    try:
        yield c.start()
    finally:
        c.stop()
