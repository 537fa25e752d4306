"""HTTP side of ringway: routes, error responses, header limits, upgrade edge cases.

All tests use raw sockets so that the exact bytes on the wire are under control.
"""

import pytest

from conftest import (
    OP_BINARY, OP_TEXT, Conn, RawWs, build_frame, get_request, http_exchange, new_key,
    upgrade_request, ws_accept,
)


def assert_error_response(resp, status):
    """An error response: the status, `Connection: close`, then an orderly close."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert resp.version == "HTTP/1.1", resp
    assert "close" in resp.header_tokens("connection"), \
        f"{status} response without 'Connection: close': {resp.headers}"
    assert resp.send_error is None, f"request write failed: {resp.send_error!r}"
    assert resp.ending == "eof", \
        f"after the {status} response the connection ended with {resp.ending!r}, expected EOF"


# --- routes -----------------------------------------------------------------------------------


def test_healthz_ok(echo_server):
    resp = http_exchange(echo_server.host, echo_server.port,
                         get_request(echo_server.hostport, "/healthz"), to_eof=False)
    assert resp.status == 200, resp
    assert resp.body == b"ok\n", resp


def test_healthz_with_connection_close_ends_with_eof(echo_server):
    resp = http_exchange(echo_server.host, echo_server.port,
                         get_request(echo_server.hostport, "/healthz", [("Connection", "close")]))
    assert resp.status == 200, resp
    assert resp.body == b"ok\n", resp
    assert resp.ending == "eof", resp


@pytest.mark.parametrize("path", ["/nope", "/echoo", "/healthz/extra", "/index.html"])
def test_unknown_path_404(echo_server, path):
    resp = http_exchange(echo_server.host, echo_server.port,
                         get_request(echo_server.hostport, path))
    assert_error_response(resp, 404)


def test_status_page_is_served_at_the_root(echo_server):
    resp = http_exchange(echo_server.host, echo_server.port, get_request(echo_server.hostport, "/"))
    assert resp.status == 200 and resp.header("content-type").startswith("text/html"), resp
    assert b"<html" in resp.body and resp.ending == "eof"
    js = http_exchange(echo_server.host, echo_server.port,
                       get_request(echo_server.hostport, "/ringway.js"))
    assert js.status == 200 and js.header("content-type").startswith("text/javascript"), js


def test_upgrade_on_unknown_path_404(echo_server):
    resp = http_exchange(echo_server.host, echo_server.port,
                         upgrade_request(echo_server.hostport, "/not-a-route"))
    assert_error_response(resp, 404)


def test_upgrade_response_headers(echo_server):
    key = new_key()
    with Conn(echo_server.host, echo_server.port) as c:
        c.send(upgrade_request(echo_server.hostport, "/echo", key=key))
        resp = c.read_response(head_only=True)
    assert resp.status == 101, resp
    assert "websocket" in resp.header_tokens("upgrade"), resp.headers
    assert "upgrade" in resp.header_tokens("connection"), resp.headers
    assert resp.header("sec-websocket-accept") == ws_accept(key), resp.headers
    # No extension or subprotocol was offered, so none may be selected.
    assert resp.header("sec-websocket-extensions") is None, resp.headers
    assert resp.header("sec-websocket-protocol") is None, resp.headers


# --- malformed requests -------------------------------------------------------------------------

MALFORMED = {
    "garbage_text": b"HELLO THERE\r\n\r\n",
    "garbage_binary": bytes(range(0, 32)) + b"\xff\xfe\x80\r\n\r\n",
    "tls_client_hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40) + b"\r\n\r\n",
    "no_version": b"GET /healthz\r\n\r\n",
    "extra_token_in_request_line": b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "header_without_colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "bare_lf": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
    "bare_lf_upgrade": (b"GET /echo HTTP/1.1\nHost: 127.0.0.1\nUpgrade: websocket\n"
                        b"Connection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
                        b"Sec-WebSocket-Version: 13\n\n"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_400(echo_server, name):
    resp = http_exchange(echo_server.host, echo_server.port, MALFORMED[name])
    assert_error_response(resp, 400)


def test_missing_host_400(echo_server):
    resp = http_exchange(echo_server.host, echo_server.port,
                         b"GET /healthz HTTP/1.1\r\nUser-Agent: t\r\n\r\n")
    assert_error_response(resp, 400)


def test_upgrade_missing_host_400(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", omit=["Host"])
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


# --- upgrade validation -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_non_get_upgrade_405(echo_server, method):
    req = upgrade_request(echo_server.hostport, "/echo", method=method,
                          extra=[("Content-Length", "0")])
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 405)


def test_missing_key_400(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", omit=["Sec-WebSocket-Key"])
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


@pytest.mark.parametrize("key", [
    "AAAAAAAAAAAAAAAAAAAA",            # base64 of 15 bytes
    "AAAAAAAAAAAAAAAAAAAAAAA=",        # base64 of 17 bytes
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",    # base64 of 21 bytes
    "!!!!!!!!!!!!!!!!!!!!!A==",        # 24 chars, not base64
    "dGhlIHNhbXBsZSBub25jZQ",          # RFC sample key without its padding: not base64
], ids=["15_bytes", "17_bytes", "21_bytes", "not_base64", "unpadded"])
def test_bad_key_400(echo_server, key):
    req = upgrade_request(echo_server.hostport, "/echo", key=key)
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


def test_empty_key_400(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", key="")
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


def test_missing_upgrade_header_400(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", omit=["Upgrade"])
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


def test_wrong_upgrade_token_400(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", upgrade="h2c")
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


@pytest.mark.parametrize("connection", [None, "keep-alive", "close"],
                         ids=["absent", "keep-alive", "close"])
def test_missing_connection_upgrade_token_400(echo_server, connection):
    req = upgrade_request(echo_server.hostport, "/echo", connection=connection)
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 400)


def test_upgrade_tokens_are_lists_and_case_insensitive(echo_server):
    # What browsers send: the Connection header lists several tokens.
    req = upgrade_request(echo_server.hostport, "/echo", connection="keep-alive, Upgrade",
                          upgrade="WebSocket")
    c = echo_server.track(RawWs(echo_server.host, echo_server.port))
    c.upgrade(request=req)
    c.send_text("tokens")
    c.expect_echo(OP_TEXT, b"tokens")


def test_upgrade_header_names_case_insensitive_and_ows(echo_server):
    key = new_key()
    req = (f"GET /echo HTTP/1.1\r\nhost: {echo_server.hostport}\r\nupgrade:   websocket \t\r\n"
           f"CONNECTION: upgrade\r\nsec-websocket-key:{key}\r\nSEC-WEBSOCKET-VERSION: 13\r\n"
           f"\r\n").encode()
    c = echo_server.track(RawWs(echo_server.host, echo_server.port))
    resp = c.upgrade(request=req)
    assert resp.header("sec-websocket-accept") == ws_accept(key), resp.headers
    c.send_text("case")
    c.expect_echo(OP_TEXT, b"case")


@pytest.mark.parametrize("version", ["12", "8", "14"])
def test_wrong_version_426(echo_server, version):
    req = upgrade_request(echo_server.hostport, "/echo", version=version)
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 426)
    assert resp.header("sec-websocket-version") == "13", resp.headers


# --- header size limit --------------------------------------------------------------------------


def test_headers_just_under_limit_ok(echo_server):
    # About 7.2 KiB of request head in total: under the 8 KiB limit.
    req = get_request(echo_server.hostport, "/healthz", [("X-Padding", "p" * 7000)])
    assert len(req) < 7400
    resp = http_exchange(echo_server.host, echo_server.port, req, to_eof=False)
    assert resp.status == 200, resp
    assert resp.body == b"ok\n"


def test_upgrade_with_large_headers_under_limit_ok(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", extra=[("X-Padding", "q" * 7000)])
    c = echo_server.track(RawWs(echo_server.host, echo_server.port))
    c.upgrade(request=req)
    c.send_binary(b"\x00big-headers")
    c.expect_echo(OP_BINARY, b"\x00big-headers")


def test_headers_over_8k_one_write_431(echo_server):
    req = upgrade_request(echo_server.hostport, "/echo", extra=[("X-Padding", "p" * 9000)])
    assert 9000 < len(req) < 9400
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 431)


def test_many_small_headers_over_8k_431(echo_server):
    extra = [(f"X-H{i}", "v" * 90) for i in range(100)]  # ~10 KiB of small headers
    resp = http_exchange(echo_server.host, echo_server.port,
                         get_request(echo_server.hostport, "/healthz", extra))
    assert_error_response(resp, 431)


def test_20k_header_block_431_readable_not_reset(echo_server):
    # The server decides after reading part of the block; the rest is still in flight or in its
    # receive buffer. The response must still reach the client intact, followed by FIN, not RST.
    extra = [(f"X-Fill-{i}", "f" * 1050) for i in range(20)]
    req = get_request(echo_server.hostport, "/healthz", extra)
    assert len(req) > 20 * 1024
    resp = http_exchange(echo_server.host, echo_server.port, req)
    assert_error_response(resp, 431)


def test_header_block_without_end_over_limit_431(echo_server):
    # 16 KiB of headers and no terminating blank line: the server must not wait for the end.
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Endless: " + b"e" * 16384 + b"\r\n"
    with Conn(echo_server.host, echo_server.port) as c:
        c.send(req)
        resp = c.read_response(timeout=5.0)
    assert_error_response(resp, 431)


# --- byte-level delivery ------------------------------------------------------------------------


def test_upgrade_in_one_byte_writes(echo_server):
    c = echo_server.track(RawWs(echo_server.host, echo_server.port))
    req = upgrade_request(echo_server.hostport, "/echo")
    # TCP_NODELAY is set: each byte goes out as its own segment; pace them lightly so that the
    # server really sees them one at a time.
    c.upgrade(request=req, chunk=1, pause=0.0005, timeout=8.0)
    c.send_text("after slow upgrade", chunk=1)
    c.expect_echo(OP_TEXT, b"after slow upgrade")


def test_frame_pipelined_with_upgrade_request(echo_server):
    c = echo_server.track(RawWs(echo_server.host, echo_server.port))
    frames = build_frame(OP_TEXT, b"pipelined") + build_frame(OP_BINARY, b"\x01\x02\x03")
    c.upgrade(extra=frames)
    c.expect_echo(OP_TEXT, b"pipelined")
    c.expect_echo(OP_BINARY, b"\x01\x02\x03")


def test_request_then_close_without_reading(echo_server):
    """A client that sends half a request and disconnects must not disturb the server."""
    for _ in range(20):
        with Conn(echo_server.host, echo_server.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpg")
    resp = http_exchange(echo_server.host, echo_server.port,
                         get_request(echo_server.hostport, "/healthz"), to_eof=False)
    assert resp.status == 200 and resp.body == b"ok\n", resp
