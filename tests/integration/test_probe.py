"""ringway-probe end to end: against Ringway with short deadlines (every check passes) and
against broken_server.py (a server that never reaps anything: the checks fail), plus the CLI's
output formats and exit codes.

The probe binary comes from RINGWAY_PROBE_BIN (ctest sets it), else the release build path.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO, SANITIZER_MARKERS, tls_port, tls_server

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROBE = os.path.join(REPO, "build", "release", "tools", "ringway-probe")
BROKEN_SERVER = os.path.join(HERE, "broken_server.py")

ALL_CHECKS = [
    "silent-tcp", "header-dribble", "upgrade-silence", "never-pong", "close-unanswered",
    "half-close", "never-read", "oversized-length", "invalid-utf8", "unmasked-frame",
    "rsv1-unnegotiated", "rsv1-continuation", "deflate-bomb",
]
DEFLATE_CHECKS = ["rsv1-continuation", "deflate-bomb"]  # need the server to accept deflate
TLS_CHECKS = ["tls-stalled-handshake", "tls-garbage"]  # wss:// targets only

# Ringway with every deadline short, as in the brief.
SHORT_DEADLINES = [
    "--handshake-timeout", "500ms", "--ping-interval", "300ms", "--idle-timeout", "900ms",
    "--close-timeout", "500ms", "--max-message-size", "64KiB", "--max-buffered", "256KiB",
]

LINE_RE = re.compile(r"^(PASS|FAIL)  (\S+) +(\d+\.\d{3})s  (.*)$")


@pytest.fixture
def probe_bin():
    path = os.path.abspath(os.environ.get("RINGWAY_PROBE_BIN") or DEFAULT_PROBE)
    if not os.access(path, os.X_OK):
        pytest.fail(f"ringway-probe not found or not executable: {path} (set RINGWAY_PROBE_BIN)")
    return path


class ProbeRun:
    def __init__(self, argv, proc, elapsed):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.results = {}
        self.order = []
        for line in self.stdout.splitlines():
            m = LINE_RE.match(line)
            if m:
                status, name, secs, detail = m.groups()
                self.results[name] = (status, float(secs), detail)
                self.order.append(name)

    def status(self, name):
        return self.results[name][0]

    def detail(self, name):
        return self.results[name][2]

    def diag(self):
        return (f"argv: {self.argv}\nexit code: {self.rc}, {self.elapsed:.2f} s\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")


def run_probe(probe_bin, *args, timeout=60):
    argv = [probe_bin] + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"ringway-probe did not finish within {timeout} s: {argv}\n"
                    f"stdout so far: {e.stdout!r}")
    run = ProbeRun(argv, proc, time.monotonic() - t0)
    for marker in SANITIZER_MARKERS:
        assert marker not in run.stderr, f"sanitizer report from ringway-probe\n" + run.diag()
    return run


@pytest.fixture
def broken_server():
    """Starts broken_server.py on 127.0.0.1:0; yields its ws:// base URL; stops it after."""
    proc = subprocess.Popen([sys.executable, BROKEN_SERVER], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
            if ready:
                line = proc.stdout.readline()
                break
        m = re.search(r"broken_server listening on (\S+):(\d+)", line)
        if not m:
            proc.kill()
            proc.wait(timeout=5)
            pytest.fail(f"broken_server.py did not start: {line!r} {proc.stderr.read()!r}")
        yield f"ws://{m.group(1)}:{m.group(2)}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def free_port():
    """A loopback port with nothing listening on it (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------------
# Against Ringway
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(60)
def test_every_check_passes_against_ringway_with_short_deadlines(server, probe_bin):
    srv = server(*SHORT_DEADLINES)
    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s", "--parallel", timeout=40)
    assert run.rc == 0, run.diag()
    assert run.order == ALL_CHECKS, run.diag()
    failed = [n for n in ALL_CHECKS if run.status(n) != "PASS"]
    assert not failed, f"checks failed: {failed}\n" + run.diag()
    assert run.elapsed < 20, f"the parallel run took {run.elapsed:.1f} s\n" + run.diag()

    # The details say what Ringway did; the measured times follow its deadlines.
    assert "close 4002 'idle timeout'" in run.detail("upgrade-silence"), run.diag()
    assert "pinged" in run.detail("never-pong"), run.diag()
    assert "close 1002" in run.detail("close-unanswered"), run.diag()
    assert "close 1009" in run.detail("oversized-length"), run.diag()
    assert "close 1007" in run.detail("invalid-utf8"), run.diag()
    assert "close 1002" in run.detail("unmasked-frame"), run.diag()
    assert "close 1002" in run.detail("rsv1-unnegotiated"), run.diag()
    assert "close 1002" in run.detail("rsv1-continuation"), run.diag()
    assert "close 1009" in run.detail("deflate-bomb"), run.diag()
    _, t, _ = run.results["deflate-bomb"]
    assert t < 1.0, run.diag()  # the server stopped at its 64 KiB limit, not at 64 MiB
    # close-unanswered measures up to the real close (the 500 ms close timeout), not the FIN
    # Ringway sends right after its close frame.
    _, t, _ = run.results["close-unanswered"]
    assert 0.4 <= t <= 2.5, run.diag()
    # Silent peers: idle timeout 900 ms + close timeout 500 ms.
    for name in ("upgrade-silence", "never-pong"):
        _, t, _ = run.results[name]
        assert 1.2 <= t <= 2.9, f"{name} at {t} s\n" + run.diag()
    srv.assert_alive()


@pytest.mark.time_limit(60)
def test_every_check_passes_with_deflate_offered_everywhere(server, probe_bin):
    # --deflate: every upgrade offers permessage-deflate, so never-read's echoes come back
    # compressed (and inflated by the probe's reader) and the frame checks run on a deflate
    # connection; rsv1-unnegotiated still offers nothing.
    srv = server(*SHORT_DEADLINES)
    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s", "--parallel", "--deflate",
                    timeout=40)
    assert run.rc == 0, run.diag()
    failed = [n for n in ALL_CHECKS if run.status(n) != "PASS"]
    assert not failed, f"checks failed: {failed}\n" + run.diag()
    assert "close 1007" in run.detail("invalid-utf8"), run.diag()
    srv.assert_alive()


@pytest.mark.time_limit(40)
def test_deflate_checks_fail_when_the_server_declines_deflate(server, probe_bin):
    srv = server(*SHORT_DEADLINES, "--deflate", "off")
    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s",
                    "--only", ",".join(DEFLATE_CHECKS + ["rsv1-unnegotiated"]))
    assert run.rc == 1, run.diag()
    for name in DEFLATE_CHECKS:
        assert run.status(name) == "FAIL", run.diag()
        assert "declined permessage-deflate" in run.detail(name), run.diag()
    assert run.status("rsv1-unnegotiated") == "PASS", run.diag()


@pytest.mark.time_limit(40)
def test_sequential_subset_against_ringway(server, probe_bin):
    srv = server(*SHORT_DEADLINES)
    only = "silent-tcp,half-close,never-read,unmasked-frame"
    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s", "--only", only, timeout=30)
    assert run.rc == 0, run.diag()
    assert run.order == only.split(","), run.diag()
    assert all(r[0] == "PASS" for r in run.results.values()), run.diag()
    srv.assert_alive()


@pytest.mark.time_limit(40)
def test_never_pong_reaped_without_pings_passes_but_ping_wait_fails_it(server, probe_bin):
    # Pings disabled, idle timeout still on: the peer is reaped (PASS, "no ping seen") unless
    # --ping-wait demands a ping sooner.
    srv = server("--ping-interval", "0", "--idle-timeout", "900ms", "--close-timeout", "500ms")
    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s", "--only", "never-pong")
    assert run.rc == 0, run.diag()
    assert "no ping seen" in run.detail("never-pong"), run.diag()

    run = run_probe(probe_bin, srv.url("/echo"), "--max-wait", "3s", "--ping-wait", "400ms",
                    "--only", "never-pong")
    assert run.rc == 1, run.diag()
    assert run.status("never-pong") == "FAIL", run.diag()
    assert "no ping within 400ms" in run.detail("never-pong"), run.diag()
    assert run.results["never-pong"][1] < 1.5, run.diag()


@pytest.mark.time_limit(30)
def test_json_output_and_extra_headers(server, probe_bin):
    srv = server(*SHORT_DEADLINES)
    run = run_probe(probe_bin, srv.url("/echo"), "--json", "--only", "invalid-utf8,unmasked-frame",
                    "--header", "Authorization: Bearer not-checked", "--header", "X-Probe: 1",
                    "--max-wait", "3s")
    assert run.rc == 0, run.diag()
    doc = json.loads(run.stdout)
    assert doc["url"] == srv.url("/echo")
    assert doc["max_wait_ms"] == 3000 and doc["ping_wait_ms"] == 3000
    assert doc["passed"] == 2 and doc["failed"] == 0
    assert [c["name"] for c in doc["checks"]] == ["invalid-utf8", "unmasked-frame"]
    for c in doc["checks"]:
        assert c["status"] == "PASS" and c["pass"] is True, doc
        assert isinstance(c["elapsed_ms"], (int, float)) and c["elapsed_ms"] >= 0
        assert c["detail"]


# ---------------------------------------------------------------------------------------------
# Against the broken server
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(40)
def test_checks_fail_against_a_server_that_never_reaps(broken_server, probe_bin):
    run = run_probe(probe_bin, broken_server + "/echo", "--max-wait", "2s", "--parallel",
                    timeout=30)
    assert run.rc != 0, run.diag()
    assert run.rc == 1, run.diag()
    assert run.order == ALL_CHECKS, run.diag()
    must_fail = ["silent-tcp", "upgrade-silence", "never-pong", "half-close", "close-unanswered",
                 "invalid-utf8", "unmasked-frame", "oversized-length", "rsv1-unnegotiated",
                 "rsv1-continuation", "deflate-bomb"]
    passed = [n for n in must_fail if run.status(n) != "FAIL"]
    assert not passed, f"expected FAIL for {passed}\n" + run.diag()
    # Each failure is bounded by max-wait (2 s), plus scheduling slack.
    for name, (status, t, _) in run.results.items():
        assert t <= 4.0, f"{name} took {t} s\n" + run.diag()
    assert run.elapsed < 15, run.diag()
    assert "no ping" in run.detail("never-pong"), run.diag()
    assert "no close frame" in run.detail("unmasked-frame"), run.diag()
    assert "no close frame" in run.detail("deflate-bomb"), run.diag()
    assert "inflates to 64 MiB" in run.detail("deflate-bomb"), run.diag()


@pytest.mark.time_limit(60)
def test_broken_server_sequential_run_is_bounded(broken_server, probe_bin):
    only = "silent-tcp,close-unanswered,never-read"
    run = run_probe(probe_bin, broken_server + "/", "--max-wait", "1s", "--only", only,
                    timeout=30)
    assert run.rc == 1, run.diag()
    assert [run.status(n) for n in only.split(",")] == ["FAIL"] * 3, run.diag()
    assert run.elapsed < 12, run.diag()


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_list_names_every_check(probe_bin):
    run = run_probe(probe_bin, "--list")
    assert run.rc == 0, run.diag()
    names = [line.split()[0] for line in run.stdout.splitlines() if line.strip()]
    assert names == ALL_CHECKS + TLS_CHECKS


@pytest.mark.parametrize("args, message", [
    ([], "missing URL"),
    (["http://127.0.0.1:1/"], "ws://"),
    (["wss://127.0.0.1:1/", "--ca-file", "/nonexistent/ca.pem"], "TLS: /nonexistent/ca.pem"),
    (["ws://127.0.0.1:1/", "--insecure"], "for wss:// URLs"),
    (["ws://127.0.0.1:1/", "--only", "tls-garbage"], "needs a wss:// URL"),
    (["ws://127.0.0.1:0/"], "port"),
    (["ws://::1:80/"], "brackets"),
    (["ws://127.0.0.1:1/", "--only", "silent-tcp,bogus"], "unknown check 'bogus'"),
    (["ws://127.0.0.1:1/", "--max-wait", "3"], "--max-wait"),
    (["ws://127.0.0.1:1/", "--max-wait", "0s"], "--max-wait"),
    (["ws://127.0.0.1:1/", "--ping-wait", "soon"], "--ping-wait"),
    (["ws://127.0.0.1:1/", "--header", "no colon"], "--header"),
    (["ws://127.0.0.1:1/", "--header", "Sec-WebSocket-Key: x"], "itself"),
    (["ws://127.0.0.1:1/", "--no-such-flag"], "no-such-flag"),
])
def test_usage_errors_exit_2(probe_bin, args, message):
    run = run_probe(probe_bin, *args)
    assert run.rc == 2, run.diag()
    assert message in run.stderr, run.diag()
    assert not run.results, run.diag()


def test_unreachable_server_exits_3(probe_bin):
    run = run_probe(probe_bin, f"ws://127.0.0.1:{free_port()}/echo", "--max-wait", "1s")
    assert run.rc == 3, run.diag()
    assert "not reachable" in run.stderr, run.diag()
    assert not run.results, run.diag()


def test_non_websocket_path_exits_3(server, probe_bin):
    srv = server()
    run = run_probe(probe_bin, srv.url("/no-such-route"), "--max-wait", "1s")
    assert run.rc == 3, run.diag()
    assert "404" in run.stderr, run.diag()


# ---------------------------------------------------------------------------------------------
# wss:// (conftest's test PKI)
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(60)
def test_every_check_passes_over_wss_with_short_deadlines(server, pki, probe_bin):
    srv = tls_server(server, pki, *SHORT_DEADLINES, workers=1)
    run = run_probe(probe_bin, f"wss://localhost:{tls_port(srv)}/echo", "--ca-file", pki["ca"],
                    "--max-wait", "3s", "--parallel", timeout=40)
    assert run.rc == 0, run.diag()
    assert run.order == ALL_CHECKS + TLS_CHECKS, run.diag()
    failed = [n for n in run.order if run.status(n) != "PASS"]
    assert not failed, f"checks failed: {failed}\n" + run.diag()
    assert "close 1007" in run.detail("invalid-utf8"), run.diag()
    assert "no response bytes" in run.detail("tls-stalled-handshake"), run.diag()
    _, t, _ = run.results["tls-stalled-handshake"]  # the 500 ms handshake deadline
    assert 0.4 <= t <= 2.5, run.diag()
    _, t, _ = run.results["tls-garbage"]
    assert t <= 1.0 and "HTTP answer" not in run.detail("tls-garbage"), run.diag()
    srv.assert_alive()


def test_wss_refuses_an_untrusted_certificate_and_insecure_skips_the_check(server, pki, probe_bin):
    srv = tls_server(server, pki, *SHORT_DEADLINES, workers=1, cert="other")
    url = f"wss://localhost:{tls_port(srv)}/echo"
    run = run_probe(probe_bin, url, "--ca-file", pki["ca"], "--only", "tls-garbage")
    assert run.rc == 3 and "TLS: certificate refused" in run.stderr, run.diag()
    run = run_probe(probe_bin, url, "--insecure", "--only", "tls-garbage,invalid-utf8",
                    "--max-wait", "3s")
    assert run.rc == 0 and run.order == ["tls-garbage", "invalid-utf8"], run.diag()
