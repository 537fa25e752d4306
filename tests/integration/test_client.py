"""The client library against the real server, driven through ringway-cli (whose subscribe,
publish and login-test are thin layers over client::Session): logins, pub/sub, a server killed
and restarted on the same port, a silently dead network path (a relay that stops forwarding),
retryAfterMs honoured, drains (1001), and auth failures that stop the client.

Timing assertions are bounds with tolerance: the policy's numbers (docs/clients.md) plus slack
for a loaded 2-core machine. Every wait has a deadline.
"""

import http.client
import json
import os
import queue
import re
import selectors
import signal
import socket
import subprocess
import threading
import time

import pytest

from authclient import DeviceKey, KEY_FILE_TAG, b64url, token_digest, write_lines
from conftest import REPO, SANITIZER_MARKERS, Server, ringway_binary, tls_port, tls_server

TOKEN = "client-test-token"
ALL = ["subscribe:*", "publish:*", "send"]
CLI_BACKOFF = ["--backoff-base", "100ms", "--backoff-max", "800ms", "--drain-spread", "500ms"]


# ---------------------------------------------------------------------------------------------
# Helpers (test_cli.py imports these)
# ---------------------------------------------------------------------------------------------


def cli_binary():
    build = os.environ.get("RINGWAY_BUILD_DIR") or os.path.join(REPO, "build", "release")
    path = os.path.join(build, "tools", "ringway-cli")
    if not os.access(path, os.X_OK):
        pytest.fail(f"ringway-cli not found or not executable: {path} (set RINGWAY_BUILD_DIR)")
    return path


def free_port():
    """A port free right now, to restart a server on the same address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_key(path, key):
    """A key file as `ringway keygen` writes it (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{KEY_FILE_TAG} {b64url(key.seed)}\n")
    return str(path)


class Setup:
    """Registry and token files for a gateway, plus key files for its devices."""

    def __init__(self, tmp_path, devices=(), tokens=((TOKEN, ALL),)):
        self.tmp = tmp_path
        self.keys = {}
        self.devices_file = tmp_path / "devices.txt"
        self.tokens_file = tmp_path / "tokens.txt"
        lines = []
        for name, scopes in devices:
            k = DeviceKey.generate()
            self.keys[name] = (k, write_key(tmp_path / f"{name}.key", k))
            lines.append(k.registry_line(scopes))
        write_lines(self.devices_file, lines)
        write_lines(self.tokens_file,
                    [f"svc{i} {token_digest(t)} {','.join(s)}" for i, (t, s) in enumerate(tokens)])

    def key_file(self, name):
        return self.keys[name][1]

    def device_id(self, name):
        return self.keys[name][0].device_id

    def args(self, *extra):
        return ["--devices", self.devices_file, "--service-tokens", self.tokens_file,
                "--workers", "2", *extra]


def start_own_server(setup, addr, *extra):
    """A server outside the fixture (the caller kills it); returns a conftest.Server."""
    return Server([ringway_binary(), "--listen", addr] + [str(a) for a in setup.args(*extra)])


def kill_server(srv):
    if srv.proc.poll() is None:
        srv.proc.kill()
    srv.proc.wait(timeout=5)


class Cli:
    """A ringway-cli process; stdout and stderr lines are collected with their arrival time."""

    def __init__(self, *args, stdin=subprocess.DEVNULL):
        self.argv = [cli_binary()] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.out, self.err = [], []  # (monotonic time, line)
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._pump, args=(s, l), daemon=True)
                         for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self._cond:
                lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def diag(self):
        with self._cond:
            return (f"argv: {self.argv}\nexit: {self.proc.poll()}\nstdout:\n" +
                    "\n".join(l for _, l in self.out) + "\nstderr:\n" +
                    "\n".join(l for _, l in self.err))

    def wait_line(self, which, pattern, timeout=10.0, after=0):
        """The first (time, line, match) of stdout/stderr at index >= after matching the regex.
        Returns (index, time, match)."""
        lines = self.out if which == "out" else self.err
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(lines)):
                    m = rx.search(lines[i][1])
                    if m:
                        return i, lines[i][0], m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {which} line matching {pattern!r} within "
                                         f"{timeout:.1f} s\n" + self.diag())
                self._cond.wait(remaining)

    def err_count(self, pattern):
        with self._cond:
            return sum(1 for _, l in self.err if re.search(pattern, l))

    def messages(self):
        with self._cond:
            return [json.loads(l) for _, l in self.out]

    def wait_exit(self, timeout=10.0):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ringway-cli still running after {timeout:.0f} s\n" + self.diag())
        for t in self._threads:
            t.join(timeout=5)
        self.check_sanitizers()
        return rc

    def check_sanitizers(self):
        with self._cond:
            text = "\n".join(l for _, l in self.err)
        for marker in SANITIZER_MARKERS:
            assert marker not in text, f"sanitizer report from ringway-cli\n" + self.diag()

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def clis():
    """Factory for Cli processes; every one still running at teardown is killed."""
    started = []

    def make(*args, **kw):
        c = Cli(*args, **kw)
        started.append(c)
        return c

    yield make
    for c in started:
        c.kill()
        c.check_sanitizers()


def run_cli(*args, timeout=15.0, input=None):
    """Runs ringway-cli to completion: (exit code, stdout, stderr)."""
    r = subprocess.run([cli_binary()] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, input=input)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, f"sanitizer report from ringway-cli {args}:\n{r.stderr}"
    return r.returncode, r.stdout, r.stderr


def http_publish(srv, channel, data, token=TOKEN):
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        c.request("POST", "/v1/publish", body=json.dumps({"channel": channel, "data": data}),
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 202, (r.status, body)
        return json.loads(body)
    finally:
        c.close()


def gw_url(srv_or_addr):
    hostport = srv_or_addr if isinstance(srv_or_addr, str) else srv_or_addr.hostport
    return f"ws://{hostport}/ws"


def subscriber(clis, url, key_file, *channels, extra=()):
    """A `ringway-cli subscribe` that has had its first subscribe answers."""
    c = clis("--url", url, "--key", key_file, *CLI_BACKOFF, *extra, "subscribe", *channels)
    for ch in channels:
        c.wait_line("err", rf"^ringway-cli: subscribed {re.escape(ch)} \(epoch ")
    return c


class Relay:
    """A TCP relay the client connects through. freeze() stops forwarding in both directions on
    the connections it carries, without closing anything: to both ends the path just goes
    silent, as when a NAT drops its mapping or a cable is pulled. New connections are relayed
    normally."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs = []  # [client, server, frozen]
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def freeze(self):
        with self.lock:
            for p in self.pairs:
                if not p[2]:
                    p[2] = True
                    for s in p[:2]:
                        try:
                            self.sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
        return time.monotonic()

    def _run(self):
        while self.running:
            for key, _ in self.sel.select(timeout=0.05):
                if key.data is None:
                    try:
                        c, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    s = socket.create_connection(self.upstream, timeout=5)
                    c.setblocking(False)
                    s.setblocking(False)
                    pair = [c, s, False]
                    with self.lock:
                        self.pairs.append(pair)
                        self.sel.register(c, selectors.EVENT_READ, (pair, s))
                        self.sel.register(s, selectors.EVENT_READ, (pair, c))
                    continue
                pair, dst = key.data
                with self.lock:
                    if pair[2]:
                        continue
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    with self.lock:
                        for s in pair[:2]:
                            try:
                                self.sel.unregister(s)
                            except (KeyError, ValueError):
                                pass
                            s.close()
                    continue
                dst.setblocking(True)
                try:
                    dst.sendall(data)
                except OSError:
                    pass
                dst.setblocking(False)

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        with self.lock:
            for p in self.pairs:
                for s in p[:2]:
                    s.close()
        self.listener.close()


# ---------------------------------------------------------------------------------------------
# Logins and pub/sub
# ---------------------------------------------------------------------------------------------


def test_login_with_a_device_key_and_with_a_token(server, tmp_path):
    st = Setup(tmp_path, [("alice", ["subscribe:chat.*", "send"])])
    srv = server(*st.args())
    rc, out, err = run_cli("--url", gw_url(srv), "--key", st.key_file("alice"),
                           "--scopes", "subscribe:chat.*,send", "login-test")
    assert rc == 0, err
    hello = json.loads(out)
    assert hello["role"] == "device" and hello["deviceId"] == st.device_id("alice"), hello
    assert hello["scopes"] == ["subscribe:chat.*", "send"], hello
    assert hello["policy"]["pingIntervalMs"] == 30000, hello
    rc, out, err = run_cli("--url", gw_url(srv), "--token", TOKEN, "--scopes", "publish:*",
                           "login-test")
    assert rc == 0, err
    hello = json.loads(out)
    assert hello["role"] == "service" and "deviceId" not in hello and hello["scopes"] == ["publish:*"]


def test_pubsub_through_the_library(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    sub = subscriber(clis, gw_url(srv), st.key_file("alice"), "chat.1", "chat.2")
    for i in range(1, 4):
        assert http_publish(srv, "chat.1", {"n": i, "s": "é€"}) == {"delivered": 1, "offset": i}
    assert http_publish(srv, "chat.2", [1, 2.5, None])["offset"] == 1
    sub.wait_line("out", r'"channel":"chat.2"')
    msgs = sub.messages()
    chat1 = [m for m in msgs if m["channel"] == "chat.1"]
    assert [m["offset"] for m in chat1] == [1, 2, 3], msgs
    assert chat1[0]["data"] == {"n": 1, "s": "é€"} and chat1[0]["from"] == "svc0", msgs
    epochs = {m["epoch"] for m in chat1}
    assert len(epochs) == 1 and epochs.pop(), msgs
    assert [m for m in msgs if m["channel"] == "chat.2"][0]["data"] == [1, 2.5, None]
    assert sub.stop() == 0
    assert sub.err_count("reconnecting") == 0, sub.diag()


# ---------------------------------------------------------------------------------------------
# Reconnects
# ---------------------------------------------------------------------------------------------


def session_lines(cli, after=0):
    return [l for _, l in cli.err[after:] if "reconnecting in" in l]


@pytest.mark.time_limit(60)
def test_server_killed_and_restarted_on_the_same_port(tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    addr = f"127.0.0.1:{free_port()}"
    ping = ["--ping-interval", "300ms"]  # idle timeout 900 ms: a session past it resets backoff
    srv = start_own_server(st, addr, *ping)
    try:
        sub = subscriber(clis, gw_url(addr), st.key_file("alice"), "chat.1")
        http_publish(srv, "chat.1", "before")
        sub.wait_line("out", r'"data":"before"')
        first_epoch = sub.messages()[0]["epoch"]
        time.sleep(1.0)  # the session outlives the idle timeout (900 ms)
        kill_server(srv)
        i, t_dead, m = sub.wait_line("err", r"session lasted (\d+\.\d+) s \(.*\); reconnecting in "
                                            r"(\d+) ms \(attempt 1\)")
        assert float(m.group(1)) >= 1.0, m.group(0)
        # Refused while the server is down, each delay within the backoff's bound (800 ms).
        j, _, _ = sub.wait_line("err", r"connect attempt failed \(connect: Connection refused\)",
                                after=i)
        time.sleep(1.0)
        srv = start_own_server(st, addr, *ping)
        t_up = time.monotonic()
        k, t_hello, _ = sub.wait_line("err", r"^ringway-cli: reconnected \(connId", after=j)
        _, t_resub, _ = sub.wait_line("err", r"^ringway-cli: resubscribed chat\.1 ", after=k)
        assert t_hello - t_up <= 0.8 + 1.5, f"reconnected {t_hello - t_up:.2f} s after the restart"
        for line in session_lines(sub, i):
            delay = int(re.search(r"reconnecting in (\d+) ms", line).group(1))
            assert delay <= 800, line
        # The restarted server has a new history for the channel: reported, then delivered.
        sub.wait_line("err", r"chat\.1: epoch changed from " + re.escape(first_epoch), after=k)
        http_publish(srv, "chat.1", "after")
        sub.wait_line("out", r'"data":"after"')
        assert sub.messages()[-1]["epoch"] != first_epoch

        # This session also outlives the idle timeout: the next failure starts from attempt 1
        # with the growth reset, however many refusals came before.
        time.sleep(1.2)
        kill_server(srv)
        n, _, m = sub.wait_line("err", r"session lasted .*reconnecting in (\d+) ms \(attempt 1\), "
                                       r"backoff reset", after=k)
        assert int(m.group(1)) <= 100, m.group(0)
    finally:
        kill_server(srv)


@pytest.mark.time_limit(40)
def test_silently_dead_connection_is_detected_and_replaced(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args("--ping-interval", "300ms"))
    relay = Relay((srv.host, srv.port))
    try:
        sub = subscriber(clis, relay.url, st.key_file("alice"), "chat.1")
        time.sleep(0.7)  # pings flow through the relay both ways: the session stays up
        assert sub.err_count("reconnecting") == 0, sub.diag()
        t_freeze = relay.freeze()
        # Published while the path is dead: lost on the frozen connection, reported after.
        assert http_publish(srv, "chat.1", "lost 1")["offset"] == 1
        assert http_publish(srv, "chat.1", "lost 2")["offset"] == 2
        i, t_dead, m = sub.wait_line("err", r"session lasted .*no data from the server for (\d+) "
                                            r"ms: dead connection", timeout=10)
        # dead after 3 x 300 ms + 250 ms of silence; the last byte came at most one ping
        # interval before the freeze.
        elapsed = t_dead - t_freeze
        assert 0.80 <= elapsed <= 1.15 + 0.8, f"declared dead {elapsed:.3f} s after the freeze"
        assert 1150 <= int(m.group(1)) <= 1150 + 500, m.group(0)
        # A new connection through the relay (which forwards new connections) and the
        # subscription restored.
        sub.wait_line("err", r"^ringway-cli: reconnected", after=i)
        sub.wait_line("err", r"^ringway-cli: resubscribed chat\.1 \(epoch \S+, offset 2\)", after=i)
        sub.wait_line("err", r"^ringway-cli: chat\.1: missed offsets 1\.\.2 ", after=i)
        http_publish(srv, "chat.1", {"x": 1})
        sub.wait_line("out", r'"offset":3,.*"data":\{"x":1\}')
        assert len(sub.messages()) == 1, sub.diag()
    finally:
        relay.close()


@pytest.mark.time_limit(40)
def test_retry_after_is_honoured_after_failed_logins(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args("--auth-failure-limit", "1", "--auth-failure-window", "2s"))
    stranger = write_key(tmp_path / "stranger.key", DeviceKey.generate())
    rc, _, err = run_cli("--url", gw_url(srv), "--key", stranger, "login-test")
    assert rc == 3 and "DEVICE_UNKNOWN" in err, err
    # The address is now blocked: the registered device is told to wait, and does.
    sub = clis("--url", gw_url(srv), "--key", st.key_file("alice"), "--backoff-base", "20ms",
               "--backoff-max", "40ms", "subscribe", "chat.1")
    i, t_refused, m = sub.wait_line(
        "err", r"connect attempt failed \(UNAVAILABLE: .* \(retry after (\d+) ms\); server closed "
               r"1013 UNAVAILABLE\); reconnecting in (\d+) ms")
    retry_after, delay = int(m.group(1)), int(m.group(2))
    assert retry_after >= 500, m.group(0)  # most of the 2 s window was left
    assert retry_after <= delay <= retry_after * 1.2 + 1, m.group(0)
    j, t_hello, _ = sub.wait_line("err", r"^ringway-cli: connected", timeout=10)
    assert t_hello - t_refused >= retry_after / 1000 - 0.05, (t_hello - t_refused, retry_after)
    for line in session_lines(sub):
        m = re.search(r"retry after (\d+) ms.*reconnecting in (\d+) ms", line)
        assert m and int(m.group(2)) >= int(m.group(1)), line
    sub.wait_line("err", r"subscribed chat\.1")


@pytest.mark.time_limit(40)
def test_retry_after_is_honoured_over_the_unauthenticated_cap(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args("--max-unauthenticated-per-address", "1"))
    holder = srv.raw_ws("/ws")  # stays unauthenticated: the cap is full
    holder.recv_message(timeout=5)  # its challenge
    sub = clis("--url", gw_url(srv), "--key", st.key_file("alice"), "--backoff-base", "10ms",
               "--backoff-max", "20ms", "subscribe", "chat.1")
    i, _, _ = sub.wait_line("err", r"too many unauthenticated connections .*\(retry after \d+ ms\)")
    sub.wait_line("err", r"too many unauthenticated", after=i + 1, timeout=5)  # and again
    holder.close()
    sub.wait_line("err", r"^ringway-cli: subscribed chat\.1", timeout=10)
    refusals = [l for l in session_lines(sub) if "too many unauthenticated" in l]
    assert len(refusals) >= 2, sub.diag()
    for line in refusals:
        m = re.search(r"retry after (\d+) ms.*reconnecting in (\d+) ms", line)
        assert m and 250 <= int(m.group(1)) <= int(m.group(2)), line


@pytest.mark.time_limit(40)
def test_drain_1001_reconnects_to_the_new_server_on_the_same_port(tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    addr = f"127.0.0.1:{free_port()}"
    old = start_own_server(st, addr)
    new = None
    try:
        subs = [subscriber(clis, gw_url(addr), st.key_file("alice"), "news") for _ in range(3)]
        old.terminate()
        assert old.wait_exit(5) == 0, old._diag()
        new = start_own_server(st, addr)
        for s in subs:
            _, _, m = s.wait_line("err", r"session lasted .*\(server closed 1001 server shutting "
                                         r"down\); reconnecting in (\d+) ms \(after a drain\)")
            assert int(m.group(1)) <= 500, m.group(0)  # --drain-spread 500ms
        for s in subs:
            s.wait_line("err", r"^ringway-cli: resubscribed news ", timeout=10)
        assert http_publish(new, "news", "hello")["delivered"] == 3
        for s in subs:
            s.wait_line("out", r'"data":"hello"')
    finally:
        kill_server(old)
        if new:
            new.stop()


# ---------------------------------------------------------------------------------------------
# Failures that retrying cannot fix
# ---------------------------------------------------------------------------------------------


def test_unknown_device_and_bad_token_stop_with_a_clear_error(server, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    stranger = write_key(tmp_path / "stranger.key", DeviceKey.generate())
    t0 = time.monotonic()
    rc, out, err = run_cli("--url", gw_url(srv), "--key", stranger, "subscribe", "chat.1")
    assert rc == 3 and out == "", (rc, out, err)
    assert "error: DEVICE_UNKNOWN" in err and "registry" in err, err
    assert "reconnecting" not in err, err
    assert time.monotonic() - t0 < 5
    rc, out, err = run_cli("--url", gw_url(srv), "--token", "wrong", "subscribe", "chat.1")
    assert rc == 3 and "error: TOKEN_INVALID" in err and "reconnecting" not in err, err


def test_a_wrong_path_stops_instead_of_retrying(server, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    rc, _, err = run_cli("--url", f"ws://{srv.hostport}/nope", "--key", st.key_file("alice"),
                         "login-test")
    assert rc == 1 and "HTTP_404" in err and "reconnecting" not in err, err


@pytest.mark.time_limit(30)
def test_revoked_on_reload_stops_the_subscriber(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL), ("bob", ALL)])
    srv = server(*st.args())
    sub = subscriber(clis, gw_url(srv), st.key_file("alice"), "chat.1")
    k, _ = st.keys["bob"]
    write_lines(st.devices_file, [k.registry_line(ALL)])  # alice removed
    os.kill(srv.pid, signal.SIGHUP)
    assert sub.wait_exit(10) == 3, sub.diag()
    i, _, _ = sub.wait_line("err", r"error: REVOKED: the server revoked this session \(close 4001")
    assert sub.err_count("reconnecting") == 0, sub.diag()


# wss://: the library's TLS transport against the server's TLS listener (conftest's test PKI)
# ---------------------------------------------------------------------------------------------


def wss_url(srv, host="localhost", path="/ws"):
    return f"wss://{host}:{tls_port(srv)}{path}"


def test_wss_login_checks_the_name_or_the_address(server, pki, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = tls_server(server, pki, *st.args()[:-2])
    for host in ("localhost", "127.0.0.1"):  # SNI and a name check; no SNI and an IP check
        rc, out, err = run_cli("--url", wss_url(srv, host), "--ca-file", pki["ca"],
                               "--key", st.key_file("alice"), "login-test")
        assert rc == 0, err
        assert json.loads(out)["deviceId"] == st.device_id("alice")


@pytest.mark.time_limit(30)
def test_wss_pubsub_with_messages_over_a_record(server, pki, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = tls_server(server, pki, *st.args()[:-2])
    sub = subscriber(clis, wss_url(srv), st.key_file("alice"), "chat.1",
                     extra=("--ca-file", pki["ca"]))
    sizes = [1, 40000, 3]  # one spans several TLS records
    for n in sizes:
        http_publish(srv, "chat.1", "x" * n)
    sub.wait_line("out", r"^\{", after=len(sizes) - 1)
    got = [(m["channel"], m["data"]) for m in sub.messages()]
    assert got == [("chat.1", "x" * n) for n in sizes], sub.diag()[:2000]


def test_wss_refuses_an_untrusted_certificate_and_insecure_skips_the_check(server, pki, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = tls_server(server, pki, *st.args()[:-2], cert="other")  # signed by a CA not trusted
    t0 = time.monotonic()
    for ca in (("--ca-file", pki["ca"]), ()):  # the test CA, the system's store
        rc, out, err = run_cli("--url", wss_url(srv), *ca, "--key", st.key_file("alice"),
                               "login-test")
        assert rc == 4 and out == "", (rc, out, err)
        assert "error: TLS_CERTIFICATE: TLS: the certificate of localhost was refused: " in err, err
        assert "reconnecting" not in err, err
    assert time.monotonic() - t0 < 5
    rc, out, err = run_cli("--url", wss_url(srv), "--insecure", "--key", st.key_file("alice"),
                           "login-test")
    assert rc == 0 and json.loads(out)["deviceId"] == st.device_id("alice"), err


def test_wss_refuses_a_certificate_for_another_name(server, pki, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = tls_server(server, pki, *st.args()[:-2], cert="a.test")  # names a.test only
    rc, out, err = run_cli("--url", wss_url(srv), "--ca-file", pki["ca"],
                           "--key", st.key_file("alice"), "login-test")
    assert rc == 4 and "TLS_CERTIFICATE" in err and "mismatch" in err, (rc, err)


def test_wss_a_missing_ca_file_is_a_tls_config_error(server, pki, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = tls_server(server, pki, *st.args()[:-2])
    rc, _, err = run_cli("--url", wss_url(srv), "--ca-file", str(tmp_path / "nope.pem"),
                         "--key", st.key_file("alice"), "login-test")
    assert rc == 4 and "error: TLS_CONFIG: " in err and "nope.pem" in err, (rc, err)
