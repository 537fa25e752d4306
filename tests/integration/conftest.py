"""Shared fixtures and helpers for Ringway's integration tests.

Everything here talks to a real ringway binary on loopback. The binary comes from the
RINGWAY_BIN environment variable (ctest sets it); when unset, the release build path inside the
repository is used.

Rules every helper follows: every socket operation has a deadline, and a helper that waits for
something fails with a message saying what it was waiting for.
"""

import base64
import hashlib
import os
import queue
import random
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN = os.path.join(REPO, "build", "release", "src", "app", "ringway")

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

# Close codes the server sends when it fails a connection; such close frames carry a reason.
ERROR_CLOSE_CODES = (1002, 1007, 1008, 1009, 1011)

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: ThreadSanitizer",
    "ERROR: MemorySanitizer",
)

LISTEN_RE = re.compile(r"ringway listening on (\S+)")

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0
DEFAULT_TEST_TIME_LIMIT = 20.0


# ---------------------------------------------------------------------------------------------
# Per-test safety net: a test that hangs despite its own deadlines is failed by SIGALRM.
# ---------------------------------------------------------------------------------------------


class HardTimeLimitExceeded(Exception):
    pass


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): hard wall-clock limit for the test body (SIGALRM)")
    global _skip_allowlist
    _skip_allowlist = load_skip_allowlist()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    limit = float(marker.args[0]) if marker else DEFAULT_TEST_TIME_LIMIT

    def on_alarm(signum, frame):
        raise HardTimeLimitExceeded(f"test exceeded its hard time limit of {limit:.0f} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------------------------
# Skip policy: with CI=true a skip fails the test unless skip_allowlist.txt allows its reason.
# ---------------------------------------------------------------------------------------------

SKIP_ALLOWLIST = os.path.join(HERE, "skip_allowlist.txt")
_skip_allowlist = []


def load_skip_allowlist(path=SKIP_ALLOWLIST):
    """The allow-list's entries as compiled regexes. Every entry must come right after a comment
    (one or more '#' lines) saying why the skip is legitimate; a blank line ends a comment."""
    entries, why = [], False
    with open(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                why = False
            elif text.startswith("#"):
                why = True
            elif not why:
                raise pytest.UsageError(f"{path}:{n}: entry without a comment saying why")
            else:
                entries.append(re.compile(text))
    return entries


def skip_reason(report):
    """The reason a skipped report gives, without pytest's 'Skipped: ' prefix."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or os.environ.get("CI") != "true":
        return
    reason = skip_reason(report)
    if any(p.fullmatch(reason) for p in _skip_allowlist):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped with CI=true, and tests/integration/skip_allowlist.txt does not "
                       f"allow the reason: {reason!r}")


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------


def ringway_binary():
    path = os.environ.get("RINGWAY_BIN") or DEFAULT_BIN
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"ringway binary not found or not executable: {path} (set RINGWAY_BIN)")
    return path


def read_rss_kb(pid):
    """Resident set size of a process in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS line in /proc/{pid}/status")


def read_nofile_limit(pid):
    """(soft, hard) RLIMIT_NOFILE of a process, from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return int(parts[3]), int(parts[4])
    raise AssertionError(f"no 'Max open files' line in /proc/{pid}/limits")


class Server:
    """A running ringway process. Unpacks as (host, port, proc)."""

    def __init__(self, argv, startup_timeout=STARTUP_TIMEOUT):
        self.argv = list(argv)
        self.stdout_lines = []
        self._stderr = bytearray()
        self._stderr_lock = threading.Lock()
        self._lines = queue.Queue()
        self._clients = []
        self._stopped = False
        self.returncode = None
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        self._out_thread = threading.Thread(target=self._pump_stdout, daemon=True)
        self._err_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._out_thread.start()
        self._err_thread.start()
        self.host, self.port = self._wait_listening(startup_timeout)

    # -- output pumps ------------------------------------------------------------------------

    def _pump_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self):
        while True:
            chunk = self.proc.stderr.read1(65536)
            if not chunk:
                return
            with self._stderr_lock:
                self._stderr += chunk

    @property
    def stderr(self):
        with self._stderr_lock:
            return self._stderr.decode("utf-8", "replace")

    def _diag(self, tail=4000):
        err = self.stderr
        if len(err) > tail:
            err = "...\n" + err[-tail:]
        return (f"argv: {self.argv}\nexit code: {self.proc.poll()}\nstdout: {self.stdout_lines}\n"
                f"stderr:\n{err}")

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                pytest.fail(f"ringway did not print its listening line within {timeout:.0f} s\n"
                            + self._diag())
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                pytest.fail("ringway exited (stdout closed) before listening\n" + self._diag())
            m = LISTEN_RE.search(line)
            if m:
                addr = m.group(1)
                host, _, port = addr.rpartition(":")
                host = host.strip("[]")
                return host, int(port)

    # -- lifecycle ----------------------------------------------------------------------------

    def __iter__(self):
        return iter((self.host, self.port, self.proc))

    @property
    def pid(self):
        return self.proc.pid

    @property
    def hostport(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path="/echo"):
        return f"ws://{self.hostport}{path}"

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), "ringway died\n" + self._diag()

    def track(self, closable):
        self._clients.append(closable)
        return closable

    def raw_ws(self, path="/echo", upgrade=True, **kw):
        """A RawWs connected to this server (upgraded to `path` unless upgrade=False)."""
        c = self.track(RawWs(self.host, self.port, **kw))
        if upgrade:
            c.upgrade(path)
        return c

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=SHUTDOWN_TIMEOUT):
        """Wait for the process to exit; returns the exit code or None on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=SHUTDOWN_TIMEOUT):
        """SIGTERM (unless already exited), wait, check exit code 0 and a clean stderr."""
        if self._stopped:
            return
        self._stopped = True
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        problems = []
        self.terminate()
        rc = self.wait_exit(timeout)
        if rc is None:
            self._kill()
            problems.append(f"ringway did not exit within {timeout:.0f} s of SIGTERM (killed)")
        else:
            self.returncode = rc
            if rc != 0:
                problems.append(f"ringway exit code {rc} (expected 0)")
        self._out_thread.join(timeout=5)
        self._err_thread.join(timeout=5)
        err = self.stderr
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"sanitizer report in stderr: {marker!r}")
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self._diag(tail=12000))


@pytest.fixture
def ringway_bin():
    return ringway_binary()


@pytest.fixture
def server(ringway_bin):
    """Factory: server(*extra_args, workers=None, max_message_size=None, prefix=()) -> Server.

    Every server started is stopped at teardown with SIGTERM; teardown fails the test when the
    exit code is not 0, the process needs more than 5 s, or stderr holds a sanitizer report.
    """
    started = []

    def start(*extra_args, workers=None, max_message_size=None, prefix=(),
              listen="127.0.0.1:0", startup_timeout=STARTUP_TIMEOUT):
        # Development mode writes its key and token under --state-dir: never into the cwd.
        state_dir = tempfile.mkdtemp(prefix="ringway-state-")
        argv = list(prefix) + [ringway_bin, "--listen", listen, "--state-dir", state_dir]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if max_message_size is not None:
            argv += ["--max-message-size", str(max_message_size)]
        argv += [str(a) for a in extra_args]
        srv = Server(argv, startup_timeout=startup_timeout)
        started.append(srv)
        return srv

    yield start

    errors = []
    for srv in started:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("server teardown failed:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def echo_server(server):
    """A default ringway (no extra flags)."""
    return server()


# ---------------------------------------------------------------------------------------------
# TLS: a throw-away PKI made by openssl at the start of the session (no private key is
# committed), and servers with a TLS listener on it
# ---------------------------------------------------------------------------------------------


def _openssl(argv):
    r = subprocess.run(["openssl"] + argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA and certificates for localhost (the default; also IP 127.0.0.1), a.test and b.test
    (SNI), "renewed" (localhost again, another O=), and "other" — localhost signed by a second
    CA that no test trusts. {"ca": path, "certs": {name: (cert, key)}, "dir": path}."""
    d = tmp_path_factory.mktemp("pki")
    cas = {}
    for ca_name in ("ca", "other-ca"):
        ca_key, ca = d / f"{ca_name}.key", d / f"{ca_name}.pem"
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
                  "-subj", f"/CN=ringway test {ca_name}"])
        cas[ca_name] = (ca, ca_key)
    certs = {}
    for name in ("localhost", "a.test", "b.test", "renewed", "other"):
        key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
        cn = "localhost" if name in ("renewed", "other") else name
        ca, ca_key = cas["other-ca" if name == "other" else "ca"]
        _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}/O={name}"])
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName=DNS:{cn},IP:127.0.0.1\n")
        _openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                  "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext)])
        certs[name] = (str(crt), str(key))
    return {"ca": str(cas["ca"][0]), "certs": certs, "dir": d}


def tls_server(server, pki, *extra, workers=2, cert="localhost"):
    """A server (the `server` fixture's factory) with a TLS listener on `cert` (SNI a.test and
    b.test too) and a plain one; tls_port() finds the TLS one."""
    crt, key = pki["certs"][cert]
    srv = server("--listen", "127.0.0.1:0,tls", "--tls-cert", crt, "--tls-key", key,
                 "--tls-sni", "a.test=%s,%s" % pki["certs"]["a.test"],
                 "--tls-sni", "b.test=%s,%s" % pki["certs"]["b.test"],
                 "--workers", str(workers), *extra, listen="127.0.0.1:0")
    return srv


def tls_port(srv):
    for line in srv.stdout_lines:
        m = re.search(r"wss://127\.0\.0\.1:(\d+)/", line)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no wss line in {srv.stdout_lines}")


# ---------------------------------------------------------------------------------------------
# Payload helpers
# ---------------------------------------------------------------------------------------------

_TEXT_UNIT = "a\u00e9\u20ac\U0001F600\U0010FFFF"  # 1 + 2 + 3 + 4 + 4 = 14 UTF-8 bytes


def make_text(nbytes):
    """A str whose UTF-8 encoding is exactly nbytes long, mostly multi-byte characters."""
    unit_len = len(_TEXT_UNIT.encode("utf-8"))
    s = _TEXT_UNIT * (nbytes // unit_len) + "x" * (nbytes % unit_len)
    assert len(s.encode("utf-8")) == nbytes
    return s


def make_binary(nbytes, seed=None):
    return random.Random(nbytes if seed is None else seed).randbytes(nbytes)


def ws_accept(key):
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------


def mask_bytes(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", *, fin=True, rsv=0, mask=True, key=None, length=None,
                length_form=None):
    """Serialise one client frame.

    rsv: 3-bit value (4 = RSV1, 2 = RSV2, 1 = RSV3). length: the declared payload length
    (defaults to len(payload); may differ to build truncated frames). length_form: None for the
    minimal encoding, 16 or 64 to force the 2-byte / 8-byte extended length.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if length is None:
        length = len(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if length_form is None:
        length_form = 7 if length <= 125 else (16 if length <= 0xFFFF else 64)
    if length_form == 7:
        head = bytes([b0, mbit | length])
    elif length_form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", length)
    elif length_form == 64:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", length)
    else:
        raise ValueError(length_form)
    if mask:
        if key is None:
            key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload")

    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, op={self.opcode:#x}, len={len(self.payload)}, {p!r})"


class ServerClosed(AssertionError):
    """Raised by recv_message when a close frame arrives instead of data."""

    def __init__(self, frame):
        super().__init__(f"server sent close {frame.close_code} {bytes(frame.close_reason)!r}")
        self.frame = frame


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


def upgrade_request(hostport, path="/echo", *, key=None, version="13", method="GET",
                    upgrade="websocket", connection="Upgrade", extra=(), omit=()):
    """A WebSocket upgrade request; header values of None (or names in omit) are left out."""
    if key is None:
        key = new_key()
    headers = [("Host", hostport), ("Upgrade", upgrade), ("Connection", connection),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    lines = [f"{method} {path} HTTP/1.1"]
    omit_l = {o.lower() for o in omit}
    for name, value in list(headers) + list(extra):
        if value is None or name.lower() in omit_l:
            continue
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get_request(hostport, path, extra=()):
    lines = [f"GET {path} HTTP/1.1", f"Host: {hostport}"]
    lines += [f"{n}: {v}" for n, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpResponse:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # (lower-case name, value)
        self.head = b""
        self.body = b""
        self.ending = None  # "eof", "reset", "timeout" or None (not read to the end)
        self.send_error = None

    def header(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def header_tokens(self, name):
        v = self.header(name) or ""
        return [t.strip().lower() for t in v.split(",") if t.strip()]

    def __repr__(self):
        return (f"HttpResponse({self.status} {self.reason!r}, headers={self.headers}, "
                f"body={self.body[:200]!r}, ending={self.ending}, send_error={self.send_error})")


def _parse_head(head):
    resp = HttpResponse()
    resp.head = head
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    assert m, f"malformed status line: {lines[0]!r}"
    resp.version, resp.status, resp.reason = m.group(1), int(m.group(2)), m.group(3) or ""
    for line in lines[1:]:
        if not line:
            continue
        assert ":" in line, f"malformed response header line {line!r}"
        name, _, value = line.partition(":")
        assert name == name.strip() and name, f"malformed response header name in {line!r}"
        resp.headers.append((name.lower(), value.strip()))
    return resp


class Conn:
    """A TCP connection with a receive buffer and deadline-bounded reads."""

    def __init__(self, host, port, timeout=5.0, nodelay=True, sock=None):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        self.sock = sock
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data, chunk=None, pause=0.0):
        """Send all of data, optionally as writes of `chunk` bytes (int or cycle of ints)."""
        if chunk is None:
            self.sock.sendall(data)
            return
        sizes = [chunk] if isinstance(chunk, int) else list(chunk)
        pos, i = 0, 0
        mv = memoryview(data)
        while pos < len(data):
            n = sizes[i % len(sizes)]
            i += 1
            self.sock.sendall(mv[pos:pos + n])
            pos += n
            if pause:
                time.sleep(pause)

    def _recv_some(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out waiting for {what}")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError(f"timed out waiting for {what}") from None
        if not data:
            self.eof = True
        return data

    def fill(self, n, deadline, what="data"):
        while len(self.buf) < n:
            data = self._recv_some(deadline, what)
            if not data:
                raise EOFError(f"EOF while waiting for {what} "
                               f"(have {len(self.buf)} of {n} bytes)")
            self.buf += data

    def take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, marker, deadline, what="data", limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                return self.take(i + len(marker))
            if len(self.buf) > limit:
                raise AssertionError(f"no {marker!r} within {limit} bytes while reading {what}")
            data = self._recv_some(deadline, what)
            if not data:
                raise EOFError(f"EOF while waiting for {what}; got {bytes(self.buf[:300])!r}")
            self.buf += data

    def read_to_end(self, deadline):
        """Read until EOF; returns (bytes, ending) with ending in eof/reset/timeout."""
        out = bytearray(self.take(len(self.buf)))
        while True:
            try:
                data = self._recv_some(deadline, "EOF")
            except TimeoutError:
                return bytes(out), "timeout"
            except ConnectionResetError:
                return bytes(out), "reset"
            if not data:
                return bytes(out), "eof"
            out += data

    def read_response(self, timeout=5.0, head_only=False, to_eof=True):
        """Read an HTTP response. head_only: stop after the header block (for 101).

        to_eof: read the body until EOF and record how the connection ended; otherwise read
        Content-Length bytes of body.
        """
        deadline = time.monotonic() + timeout
        try:
            head = self.read_until(b"\r\n\r\n", deadline, "HTTP response head", limit=65536)
        except ConnectionResetError as e:
            raise AssertionError(f"connection reset before a complete response head "
                                 f"(got {bytes(self.buf[:300])!r})") from e
        resp = _parse_head(head[:-4])
        if head_only:
            return resp
        cl = resp.header("content-length")
        if to_eof:
            data, resp.ending = self.read_to_end(deadline)
            if cl is not None:
                n = int(cl)
                assert len(data) >= n, (f"body shorter than Content-Length {n}: {data!r} "
                                        f"(ending: {resp.ending})")
                resp.body = data[:n]
                assert len(data) == n, f"bytes after the body: {data[n:200]!r}"
            else:
                resp.body = data
        else:
            if cl is not None:
                self.fill(int(cl), deadline, "HTTP body")
                resp.body = self.take(int(cl))
            else:
                resp.body, resp.ending = self.read_to_end(deadline)
        return resp


def http_exchange(host, port, request, *, chunk=None, pause=0.0, timeout=5.0, to_eof=True):
    """Connect, send request bytes, read one response (see Conn.read_response)."""
    with Conn(host, port, timeout=timeout) as c:
        send_error = None
        try:
            c.send(request, chunk=chunk, pause=pause)
        except (BrokenPipeError, ConnectionResetError) as e:
            send_error = e
        resp = c.read_response(timeout=timeout, to_eof=to_eof)
        resp.send_error = send_error
        return resp


# ---------------------------------------------------------------------------------------------
# Raw WebSocket client
# ---------------------------------------------------------------------------------------------


class RawWs(Conn):
    """Hand-driven WebSocket client: hand-built frames out, strict frame parsing in."""

    # RSV bits the server may set (RSV1 = 4 once permessage-deflate is negotiated).
    allowed_rsv = 0

    def __init__(self, host, port, timeout=5.0, nodelay=True):
        super().__init__(host, port, timeout=timeout, nodelay=nodelay)
        self.host, self.port = host, port
        self.response = None

    def upgrade(self, path="/echo", *, request=None, chunk=None, pause=0.0, extra=b"",
                timeout=5.0):
        key = new_key()
        if request is None:
            request = upgrade_request(f"{self.host}:{self.port}", path, key=key)
        self.send(request + extra, chunk=chunk, pause=pause)
        resp = self.read_response(timeout=timeout, head_only=True)
        assert resp.status == 101, f"expected 101, got {resp!r} {bytes(self.buf[:200])!r}"
        self.response = resp
        if b"Sec-WebSocket-Key: " + key.encode() in request:
            assert resp.header("sec-websocket-accept") == ws_accept(key), resp
        return resp

    # -- sending ------------------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", chunk=None, **kw):
        self.send(build_frame(opcode, payload, **kw), chunk=chunk)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text, **kw)

    def send_binary(self, data, **kw):
        self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    # -- receiving ----------------------------------------------------------------------------

    def recv_frame(self, timeout=5.0, deadline=None):
        if deadline is None:
            deadline = time.monotonic() + timeout
        self.fill(2, deadline, "a frame header")
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), f"server sent a masked frame (header {bytes(self.buf[:2])!r})"
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self.fill(4, deadline, "a 16-bit frame length")
            n = struct.unpack("!H", self.buf[2:4])[0]
            assert n > 125, f"server used non-minimal 16-bit length {n}"
            off = 4
        elif n == 127:
            self.fill(10, deadline, "a 64-bit frame length")
            n = struct.unpack("!Q", self.buf[2:10])[0]
            assert n > 0xFFFF and n < (1 << 63), f"server used bad 64-bit length {n}"
            off = 10
        assert n < (64 << 20), f"server frame declares {n} bytes"
        self.fill(off + n, deadline, f"a {n}-byte frame payload")
        self.take(off)
        payload = self.take(n)
        frame = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload)
        assert frame.rsv & ~self.allowed_rsv == 0, f"server frame with RSV bits: {frame!r}"
        if frame.rsv:
            assert frame.opcode in (OP_TEXT, OP_BINARY), f"RSV1 on a {frame!r}"
        assert frame.opcode in (OP_CONT, OP_TEXT, OP_BINARY) + CONTROL_OPCODES, \
            f"server frame with reserved opcode: {frame!r}"
        if frame.opcode in CONTROL_OPCODES:
            assert frame.fin and len(payload) <= 125, f"bad server control frame {frame!r}"
        return frame

    def recv_message(self, timeout=5.0, skip_control=(OP_PING, OP_PONG)):
        """Reassemble one data message -> (opcode, payload bytes).

        Control frames whose opcode is in skip_control are skipped; a close frame raises
        ServerClosed; any other control frame is returned as (opcode, payload).
        """
        deadline = time.monotonic() + timeout
        opcode, parts = None, []
        while True:
            f = self.recv_frame(deadline=deadline)
            if f.opcode == OP_CLOSE:
                raise ServerClosed(f)
            if f.opcode in CONTROL_OPCODES:
                if f.opcode in skip_control:
                    continue
                return f.opcode, f.payload
            if opcode is None:
                assert f.opcode != OP_CONT, f"server sent continuation without a message: {f!r}"
                opcode = f.opcode
            else:
                assert f.opcode == OP_CONT, f"server interleaved a new message: {f!r}"
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_echo(self, opcode, payload, timeout=5.0):
        got_op, got = self.recv_message(timeout=timeout)
        assert got_op == opcode, f"echo opcode {got_op:#x}, expected {opcode:#x}"
        if got != payload:
            raise AssertionError(f"echo differs: {len(got)} bytes vs {len(payload)} sent; "
                                 f"first difference at {_first_diff(got, payload)}")

    def expect_eof(self, timeout=3.0):
        """Assert the server closes TCP (FIN) within timeout and sends nothing more."""
        deadline = time.monotonic() + timeout
        if self.buf:
            raise AssertionError(f"data after the close frame: {bytes(self.buf[:100])!r}")
        try:
            data = self._recv_some(deadline, "EOF")
        except TimeoutError:
            raise AssertionError(f"server did not close TCP within {timeout:.1f} s "
                                 f"after its close frame") from None
        except ConnectionResetError:
            raise AssertionError("connection reset instead of an orderly close (FIN)") from None
        assert data == b"", f"data after the close frame: {data[:100]!r}"

    def expect_close(self, code, *, timeout=5.0, eof_timeout=3.0, allow_frames=False,
                     reply=False, require_reason=None):
        """Read frames until a close frame; check its code; then require EOF.

        code: an int, or a collection of acceptable codes where None means an empty payload.
        allow_frames: tolerate data frames before the close (otherwise only pings/pongs).
        reply: send a close back (for server-initiated closes that await the handshake).
        require_reason: demand a non-empty reason (default: for error codes 1002/1007/...).
        Returns the close frame.
        """
        accepted = {code} if code is None or isinstance(code, int) else set(code)
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            try:
                f = self.recv_frame(deadline=deadline)
            except TimeoutError:
                raise AssertionError(f"no close frame within {timeout:.1f} s (expected "
                                     f"{sorted(accepted, key=str)}); frames: {skipped}") from None
            except EOFError:
                raise AssertionError(f"EOF without a close frame (expected "
                                     f"{sorted(accepted, key=str)}); frames: {skipped}") from None
            except ConnectionResetError:
                raise AssertionError(f"connection reset without a close frame (expected "
                                     f"{sorted(accepted, key=str)}); frames: {skipped}") from None
            if f.opcode == OP_CLOSE:
                break
            if f.opcode not in (OP_PING, OP_PONG) and not allow_frames:
                raise AssertionError(f"unexpected frame before the close: {f!r}")
            skipped.append(f)
        p = f.payload
        assert len(p) != 1, "server close frame with a 1-byte payload"
        got = f.close_code
        reason = bytes(f.close_reason)
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            raise AssertionError(f"server close reason is not UTF-8: {reason!r}") from None
        assert got in accepted, (f"close code {got} (reason {reason!r}), expected "
                                 f"{sorted(accepted, key=str)}")
        if require_reason is None:
            require_reason = got in ERROR_CLOSE_CODES
        if require_reason:
            assert reason, f"server close {got} has no reason"
        if reply:
            try:
                self.send_close(got if got is not None else None)
            except (BrokenPipeError, ConnectionResetError):
                pass
        self.expect_eof(eof_timeout)
        return f


def _first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


@pytest.fixture
def raw_ws(echo_server):
    """An upgraded raw client on a default server."""
    return echo_server.raw_ws()


def worker_stats(srv, kind="worker"):
    """Sums the counters of the '<kind> N stats: key=value ...' lines ringway prints at exit
    (kind: worker, gateway or router)."""
    totals = {}
    for line in srv.stderr.splitlines():
        m = re.search(r" " + kind + r" \d+ stats: (.*)$", line)
        if not m:
            continue
        for key, value in re.findall(r"(\w+)=(\d+)", m.group(1)):
            totals[key] = totals.get(key, 0) + int(value)
    return totals
