"""ringway-cli as a subprocess against the real server: what each command prints, and its exit
codes (0 ok, 1 failed or timed out, 2 usage, 3 credentials or scopes the server refuses for
good, 4 a refused certificate). Reconnect behaviour is in test_client.py."""

import json
import os
import subprocess
import time

import pytest

from authclient import DeviceKey, write_lines
from test_client import (ALL, TOKEN, Setup, clis, free_port, gw_url, run_cli, subscriber,  # noqa: F401
                         write_key)
from conftest import tls_port, tls_server


def test_keygen_key_file_logs_in(server, ringway_bin, tmp_path):
    key_file = tmp_path / "device.key"
    r = subprocess.run([ringway_bin, "keygen", "--out", str(key_file), "--scopes", "subscribe:*"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    devices = tmp_path / "devices.txt"
    write_lines(devices, [r.stdout.strip()])
    srv = server("--devices", devices)
    rc, out, err = run_cli("--url", gw_url(srv), "--key", key_file, "--scopes", "subscribe:x",
                           "login-test")
    assert rc == 0, err
    hello = json.loads(out)
    assert set(hello) == {"connId", "role", "deviceId", "scopes", "policy"}, hello
    assert hello["deviceId"] == DeviceKey.from_key_file(key_file).device_id
    assert hello["scopes"] == ["subscribe:x"]
    assert set(hello["policy"]) == {"maxPayload", "maxBufferedBytes", "pingIntervalMs",
                                    "idleTimeoutMs"}
    assert out.count("\n") == 1


def test_subscribe_prints_one_json_line_per_message_and_count_exits(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    sub = subscriber(clis, gw_url(srv), st.key_file("alice"), "a.1", "b.2", extra=["--count", "3"])
    for ch, data in (("a.1", '{"k": [1, 2],\n "s": "x y"}'), ("b.2", "7"), ("a.1", '"z"')):
        rc, out, err = run_cli("--url", gw_url(srv), "--token", TOKEN, "publish", ch, data)
        assert rc == 0, err
        assert set(json.loads(out)) == {"delivered", "offset"}, out
    assert sub.wait_exit(10) == 0, sub.diag()
    lines = [l for _, l in sub.out]
    assert len(lines) == 3, lines
    msgs = [json.loads(l) for l in lines]
    for m in msgs:
        assert list(m) == ["channel", "from", "offset", "epoch", "data"], m
        assert m["from"] == "svc0" and m["epoch"], m
    assert [(m["channel"], m["offset"], m["data"]) for m in msgs] == [
        ("a.1", 1, {"k": [1, 2], "s": "x y"}), ("b.2", 1, 7), ("a.1", 2, "z")]
    assert lines[0].endswith('"data":{"k":[1,2],"s":"x y"}}'), lines[0]  # one line, compacted


def test_publish_prints_the_result(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    sub = subscriber(clis, gw_url(srv), st.key_file("alice"), "news")
    rc, out, err = run_cli("--url", gw_url(srv), "--key", st.key_file("alice"), "publish",
                           "news", '{"headline":"hi"}')
    assert rc == 0, err
    assert json.loads(out) == {"delivered": 1, "offset": 1}
    sub.wait_line("out", r'"data":\{"headline":"hi"\}')
    assert sub.messages()[0]["from"] == st.device_id("alice")


def test_send_reaches_the_devices_own_channel(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL), ("bob", ALL)])
    srv = server(*st.args())
    bob = subscriber(clis, gw_url(srv), st.key_file("bob"), "unrelated")
    rc, out, err = run_cli("--url", gw_url(srv), "--key", st.key_file("alice"), "send",
                           st.device_id("bob"), '{"to":"bob"}')
    assert rc == 0, err
    assert json.loads(out) == {"delivered": 1}
    bob.wait_line("out", r'"data":\{"to":"bob"\}')
    m = bob.messages()[0]
    assert m["channel"] == "device:" + st.device_id("bob") and m["epoch"] == "", m
    assert m["from"] == st.device_id("alice")


def test_echo_sends_stdin_lines_and_prints_the_echoes(server):
    srv = server()
    lines = ["hello", "", "é€ unicode", "x" * 70000]
    rc, out, err = run_cli("--url", srv.url("/echo"), "echo", input="\n".join(lines) + "\n")
    assert rc == 0, err
    assert out.split("\n")[:-1] == lines
    rc, out, err = run_cli("--url", srv.url("/echo"), "echo", input="no newline at the end")
    assert rc == 0 and out == "no newline at the end\n", (rc, out, err)


def test_sigterm_stops_a_subscriber_cleanly(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    sub = subscriber(clis, gw_url(srv), st.key_file("alice"), "c")
    assert sub.stop() == 0, sub.diag()
    assert sub.err_count("stopping") == 1


# ---------------------------------------------------------------------------------------------
# Exit codes
# ---------------------------------------------------------------------------------------------


def test_usage_errors_exit_2(server, tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    srv = server(*st.args())
    key = st.key_file("alice")
    cases = [
        (["--url", gw_url(srv), "--key", key, "publish", "c", "{not json"], "not one JSON value"),
        (["--url", gw_url(srv), "--key", key, "publish", "a b", "1"], "not a channel name"),
        (["--url", gw_url(srv), "--key", key, "send", "ABC", "1"], "not a device id"),
        (["--url", gw_url(srv), "publish", "c", "1"], "give --key FILE"),
        (["--url", gw_url(srv), "--key", str(tmp_path / "missing.key"), "login-test"], "missing.key"),
        (["--url", "http://x/", "--key", key, "login-test"], "BAD_URL"),
        (["--key", key, "--token", "t", "login-test"], "excludes"),
        (["--key", key], "subcommand"),
    ]
    for args, needle in cases:
        rc, out, err = run_cli(*args)
        assert rc == 2, (args, rc, err)
        assert needle in err + out, (args, err)


def test_refused_credentials_and_scopes_exit_3(server, tmp_path, clis):
    st = Setup(tmp_path, [("alice", ["subscribe:chat.*"])], tokens=[(TOKEN, ["publish:news.*"])])
    srv = server(*st.args())
    stranger = write_key(tmp_path / "stranger.key", DeviceKey.generate())
    rc, _, err = run_cli("--url", gw_url(srv), "--key", stranger, "login-test")
    assert rc == 3 and "DEVICE_UNKNOWN" in err, err
    rc, _, err = run_cli("--url", gw_url(srv), "--token", "nope", "publish", "news.1", "1")
    assert rc == 3 and "TOKEN_INVALID" in err, err
    # Granted scopes are requested ∩ allowed: publishing outside them is refused for good.
    rc, _, err = run_cli("--url", gw_url(srv), "--token", TOKEN, "publish", "chat.1", "1")
    assert rc == 3 and "SCOPE_DENIED" in err, err
    sub = clis("--url", gw_url(srv), "--key", st.key_file("alice"), "--scopes",
               "subscribe:chat.*", "subscribe", "chat.1", "secret")
    assert sub.wait_exit(10) == 3, sub.diag()
    assert sub.err_count(r"SCOPE_DENIED: subscribe secret refused") == 1, sub.diag()


def test_no_server_times_out_with_exit_1(tmp_path):
    st = Setup(tmp_path, [("alice", ALL)])
    url = f"ws://127.0.0.1:{free_port()}/ws"
    t0 = time.monotonic()
    rc, out, err = run_cli("--url", url, "--key", st.key_file("alice"), "--timeout", "1500ms",
                           "--backoff-base", "100ms", "publish", "c", "1")
    elapsed = time.monotonic() - t0
    assert rc == 1 and out == "", (rc, out, err)
    assert "no answer within 1500 ms" in err and "Connection refused" in err, err
    assert 1.4 <= elapsed <= 4.0, elapsed


def test_echo_over_wss_and_a_refused_certificate_exits_4(server, pki):
    srv = tls_server(server, pki)
    url = f"wss://localhost:{tls_port(srv)}/echo"
    lines = ["hello", "", "x" * 70000]  # one spans several TLS records
    rc, out, err = run_cli("--url", url, "--ca-file", pki["ca"], "echo", input="\n".join(lines) + "\n")
    assert rc == 0, err
    assert out.split("\n")[:-1] == lines
    rc, out, err = run_cli("--url", url, "echo", input="hello\n")  # the system's store
    assert rc == 4 and out == "", (rc, out, err)
    assert "the certificate of localhost was refused" in err, err
    rc, out, err = run_cli("--url", url, "--insecure", "echo", input="hello\n")
    assert rc == 0 and out == "hello\n", (rc, out, err)
