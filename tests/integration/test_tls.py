"""TLS listeners (wss://, https://) on the real binary, against third-party clients: Python's ssl
and websockets, and `openssl s_client`. The certificates are made at the start of the session
by a throw-away CA in a temporary directory; no private key is committed."""

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
import websockets

from authclient import DeviceKey, device_connect, write_lines
from conftest import tls_port, tls_server, worker_stats

OPENSSL = "openssl"


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def client_ctx(pki):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    return ctx


def s_client(pki, port, *args, input_text="", brief=True):
    r = run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", pki["ca"],
             *(["-brief"] if brief else []), *args], input=input_text)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------


def test_wss_echo_of_every_size(server, pki):
    srv = tls_server(server, pki)
    port = tls_port(srv)

    async def main():
        async with websockets.connect(f"wss://localhost:{port}/echo", ssl=client_ctx(pki),
                                      max_size=None, compression=None) as ws:
            for n in (0, 1, 125, 126, 4096, 16383, 16384, 16385, 70000, 1 << 20):
                data = os.urandom(n)
                await ws.send(data)
                assert await ws.recv() == data, n
            await ws.send("text é€")
            assert await ws.recv() == "text é€"

    asyncio.run(asyncio.wait_for(main(), 30))


def test_wss_gateway_login_and_routing(server, pki, tmp_path):
    key = DeviceKey.generate()
    dev = tmp_path / "devices.txt"
    write_lines(dev, [key.registry_line(["subscribe:*", "publish:*"])])
    srv = tls_server(server, pki, "--devices", dev)
    port = tls_port(srv)

    async def main():
        async with websockets.connect(f"wss://localhost:{port}/ws", ssl=client_ctx(pki)) as ws:
            nonce = json.loads(await ws.recv())["payload"]["nonce"]
            await ws.send(json.dumps(device_connect(key, nonce, ["subscribe:*", "publish:*"])))
            assert json.loads(await ws.recv())["ok"]
            await ws.send(json.dumps({"type": "req", "id": "s", "method": "subscribe",
                                      "params": {"channel": "t"}}))
            assert json.loads(await ws.recv())["ok"]
            await ws.send(json.dumps({"type": "req", "id": "p", "method": "publish",
                                      "params": {"channel": "t", "data": "over tls"}}))
            got = [json.loads(await ws.recv()) for _ in range(2)]
            events = [m for m in got if m["type"] == "event"]
            assert events and events[0]["payload"]["data"] == "over tls", got

    asyncio.run(asyncio.wait_for(main(), 20))


def test_plain_and_tls_listeners_serve_the_same_routes(server, pki):
    srv = tls_server(server, pki)
    plain = srv.port
    with socket.create_connection(("127.0.0.1", plain), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
    ctx = client_ctx(pki)
    with socket.create_connection(("127.0.0.1", tls_port(srv)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("flag,ok", [("-tls1_3", True), ("-tls1_2", True), ("-tls1_1", False),
                                     ("-tls1", False)])
def test_protocol_versions(server, pki, flag, ok):
    srv = tls_server(server, pki)
    rc, out = s_client(pki, tls_port(srv), flag, "-servername", "localhost")
    if ok:
        assert "Protocol version: TLSv1." in out and rc == 0, out
    else:
        assert rc != 0 and "Protocol version" not in out, out


def test_no_rsa_key_exchange_and_no_cbc(server, pki):
    srv = tls_server(server, pki)
    for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA"):
        rc, out = s_client(pki, tls_port(srv), "-tls1_2", "-cipher", cipher)
        assert rc != 0 and "Ciphersuite" not in out, (cipher, out)
    rc, out = s_client(pki, tls_port(srv), "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert rc == 0 and "ECDHE-ECDSA-AES128-GCM-SHA256" in out, out


def test_alpn(server, pki):
    srv = tls_server(server, pki)
    rc, out = s_client(pki, tls_port(srv), "-alpn", "h2,http/1.1", brief=False)
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out
    rc, out = s_client(pki, tls_port(srv), "-alpn", "h2", brief=False)
    assert rc == 0 and "No ALPN negotiated" in out, out


@pytest.mark.parametrize("name,org", [("a.test", "a.test"), ("b.test", "b.test"),
                                      ("localhost", "localhost"), ("other.test", "localhost")])
def test_sni_chooses_the_certificate(server, pki, name, org):
    srv = tls_server(server, pki)
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", tls_port(srv)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
    assert subject["organizationName"] == org, subject


def test_a_stalled_handshake_is_closed_at_the_handshake_deadline(server, pki):
    srv = tls_server(server, pki, "--handshake-timeout", "600ms")
    s = socket.create_connection(("127.0.0.1", tls_port(srv)), timeout=5)
    # The start of a ClientHello record, and then nothing.
    s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]))
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    took = time.monotonic() - t0
    assert data == b"", data
    assert 0.5 <= took <= 2.5, took
    srv.stop()
    assert worker_stats(srv, "gateway")["handshake_timeouts"] == 1


def test_garbage_instead_of_a_client_hello_is_closed_without_a_response(server, pki):
    srv = tls_server(server, pki)
    for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(600),
                    bytes([0x16, 0x03, 0x03, 0x00, 0x05]) + b"hello"):
        with socket.create_connection(("127.0.0.1", tls_port(srv)), timeout=5) as s:
            s.sendall(garbage)
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            # At most a TLS alert record (type 21), never an HTTP answer.
            assert b"HTTP/" not in data, data
            assert data == b"" or data[0] == 0x15, data[:20]
    srv.stop()
    assert worker_stats(srv)["transport_failures"] == 3


def test_certificates_reload_on_sighup_and_a_bad_file_keeps_the_old(server, pki, tmp_path):
    crt, key = tmp_path / "server.pem", tmp_path / "server.key"
    orig_crt, orig_key = pki["certs"]["localhost"]
    crt.write_text(open(orig_crt).read())
    key.write_text(open(orig_key).read())
    srv = server("--listen", "127.0.0.1:0,tls", "--tls-cert", crt, "--tls-key", key,
                 listen="127.0.0.1:0")
    port = tls_port(srv)
    ctx = client_ctx(pki)

    def org():
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return dict(x[0] for x in s.getpeercert()["subject"])["organizationName"]

    held = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                           server_hostname="localhost")
    assert org() == "localhost"
    new_crt, new_key = pki["certs"]["renewed"]
    crt.write_text(open(new_crt).read())
    key.write_text(open(new_key).read())
    before = srv.stderr.count("reloaded TLS certificates")
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while srv.stderr.count("reloaded TLS certificates") == before:
        assert time.monotonic() < deadline, srv.stderr[-2000:]
        time.sleep(0.01)
    assert org() == "renewed"
    held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # opened before: still served
    assert held.recv(100).startswith(b"HTTP/1.1 200")
    held.close()
    key.write_text("not a key\n")
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "keeping the previous TLS certificates" not in srv.stderr:
        assert time.monotonic() < deadline, srv.stderr[-2000:]
        time.sleep(0.01)
    assert org() == "renewed"


def test_session_resumption_and_ticket_key_rotation(server, pki):
    srv = tls_server(server, pki, "--tls-ticket-rotation", "1s")
    port = tls_port(srv)
    ctx = client_ctx(pki)

    def connect(session=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"ok\n" not in data:  # the tickets arrive with the answer
            data += s.recv(4096)
        reused, sess = s.session_reused, s.session
        s.close()
        return reused, sess

    reused, first = connect()
    assert not reused
    reused, _ = connect(first)
    assert reused, "a fresh ticket did not resume"
    time.sleep(1.3)  # what is tested is time: one rotation, the previous key still resumes
    reused, renewed = connect(first)
    assert reused, "a ticket under the previous key did not resume"
    time.sleep(2.2)  # two more periods: every key that knew `first` is gone
    reused, _ = connect(first)
    assert not reused, "a ticket outlived two key rotations"
