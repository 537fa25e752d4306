"""Device-identity handshake of the gateway route (PROTOCOL.md "Opening handshake").

A real ringway on loopback, a registry written per test, keys made with python3-cryptography
(authclient.py) or `ringway keygen`. Most tests drive hand-built frames (conftest.RawWs) so that
every byte the server sends is checked; the happy path also runs through the `websockets`
client. Every wait has a deadline; timing checks allow UPPER_TOL late / EARLY_TOL early.
"""

import asyncio
import os
import signal
import socket
import stat
import struct
import subprocess
import time

import pytest
import websockets

from authclient import (
    DeviceKey, MAX_CLOCK_SKEW_MS, b64url, b64url_decode, check_challenge, check_error,
    check_hello, check_ok, device_connect, device_id_of, dumps, now_ms, service_connect,
    signature_payload, token_digest, write_lines,
)
from conftest import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWs, ServerClosed, build_frame

WS_PATH = "/ws"
UPPER_TOL = 0.5   # an event may come this much after its deadline
EARLY_TOL = 0.05  # ... and no earlier than this before it

DEFAULT_POLICY = {"maxPayload": 1 << 20, "maxBufferedBytes": 4 << 20,
                  "pingIntervalMs": 30000, "idleTimeoutMs": 90000}

# Registry scopes and a request against them: `chat.*` covers `chat.room` and `chat.x*`; an
# exact pattern covers only itself; bare words match bare words only.
REGISTRY_SCOPES = ["subscribe:chat.*", "send", "publish:news.sports"]
REQUESTED_SCOPES = ["subscribe:chat.room", "subscribe:chat.x*", "subscribe:chat.*", "send",
                    "publish:news.*", "publish:news.sports", "subscribe:other", "publish"]
GRANTED_SCOPES = ["subscribe:chat.room", "subscribe:chat.x*", "subscribe:chat.*", "send",
                  "publish:news.sports"]


def run(coro, timeout=10.0):
    """Run a coroutine under a hard deadline."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def keys():
    """Three registered devices and one stranger."""
    return {name: DeviceKey.generate() for name in ("alice", "bob", "carol", "stranger")}


def start_gateway(server, tmp_path, devices=(), *extra, tokens=(), **kw):
    """A ringway with a registry of `devices` [(DeviceKey, scopes)] and `tokens` lines."""
    devices_file = tmp_path / "devices.txt"
    write_lines(devices_file, ["# test registry"] + [k.registry_line(s) for k, s in devices])
    args = ["--devices", devices_file]
    if tokens:
        tokens_file = tmp_path / "tokens.txt"
        write_lines(tokens_file, list(tokens))
        args += ["--service-tokens", tokens_file]
    return server(*args, *extra, **kw)


def open_gw(srv, timeout=5.0):
    """An upgraded raw client on the gateway route, past its challenge: (client, nonce)."""
    c = srv.raw_ws(WS_PATH, timeout=timeout)
    nonce = check_challenge(recv_text(c, timeout, "the connect.challenge event"))
    return c, nonce


def recv_text(c, timeout=5.0, what="a text message"):
    """The next data message, which must be text; a close frame fails with its code."""
    try:
        op, payload = c.recv_message(timeout=timeout)
    except ServerClosed as e:
        raise AssertionError(f"waiting for {what}: {e}") from None
    except TimeoutError:
        raise AssertionError(f"no {what} within {timeout:.1f} s") from None
    assert op == OP_TEXT, f"waiting for {what}: got opcode {op:#x} {payload[:200]!r}"
    return payload.decode("utf-8")


def send_json(c, obj):
    c.send_text(dumps(obj) if not isinstance(obj, (str, bytes)) else obj)


def expect_refusal(c, code, close_code, *, req_id="1", retryable=None, timeout=5.0):
    """An error response with `code`, then a close `close_code` whose reason is the code, then
    EOF. Returns the error object."""
    err = check_error(recv_text(c, timeout, f"the {code} error response"), code,
                      req_id=req_id, retryable=retryable)
    f = c.expect_close(close_code, reply=True, timeout=timeout)
    assert bytes(f.close_reason) == code.encode(), \
        f"close reason {bytes(f.close_reason)!r}, expected {code!r}"
    return err


def connect_ok(srv, key, scopes=(), granted=None, *, policy=None, req_id="1"):
    """A full device handshake on a raw client; returns (client, hello)."""
    c, nonce = open_gw(srv)
    send_json(c, device_connect(key, nonce, scopes, req_id=req_id))
    hello = check_hello(recv_text(c, what="the hello"), req_id=req_id, role="device",
                        device_id=key.device_id,
                        scopes=list(scopes) if granted is None else granted,
                        policy=DEFAULT_POLICY if policy is None else policy)
    return c, hello


def ping_ok(c, req_id="p1"):
    before = now_ms()
    send_json(c, {"type": "req", "id": req_id, "method": "ping", "params": {}})
    payload = check_ok(recv_text(c, what="the ping response"), req_id)
    assert set(payload) == {"ts"} and isinstance(payload["ts"], int), payload
    assert before - 2000 <= payload["ts"] <= now_ms() + 2000, (payload, before)


def wait_stderr(srv, needle, timeout=5.0, count=1):
    """Wait until `needle` occurs at least `count` times in the server's stderr."""
    deadline = time.monotonic() + timeout
    while srv.stderr.count(needle) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"server did not log {needle!r} (x{count}) within "
                                 f"{timeout:.1f} s; stderr:\n{srv.stderr[-3000:]}")
        srv.assert_alive()
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# 1. The PROTOCOL.md test vector
# ---------------------------------------------------------------------------------------------


def test_protocol_test_vector():
    seed = bytes.fromhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
    key = DeviceKey.from_seed(seed)
    assert key.public_b64 == "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"
    assert key.device_id == "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8"
    assert device_id_of(b64url_decode(key.public_b64)) == key.device_id
    nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"
    assert len(b64url_decode(nonce)) == 32
    payload = signature_payload(key.device_id, "device", ["subscribe:chat.*", "send"],
                                1767225600000, nonce)
    assert payload == ("ringway-connect-v1\n" + key.device_id + "\ndevice\n"
                       "subscribe:chat.*,send\n1767225600000\n" + nonce).encode()
    assert not payload.endswith(b"\n")
    expected_sig = ("YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9"
                    "QnPFm9IxgcBQ")
    assert b64url(key.sign(payload)) == expected_sig
    # The request builder signs exactly this payload.
    req = device_connect(key, nonce, ["subscribe:chat.*", "send"], signed_at=1767225600000)
    assert req["params"]["device"] == {
        "id": key.device_id, "publicKey": key.public_b64, "signature": expected_sig,
        "signedAt": 1767225600000, "nonce": nonce}
    # Strict base64url: padding, the standard alphabet and non-canonical tails are refused.
    for bad in (key.public_b64 + "=", key.public_b64.replace("_", "/"), key.public_b64[:-1] + "R"):
        with pytest.raises(ValueError):
            b64url_decode(bad)


# ---------------------------------------------------------------------------------------------
# 2. Happy path with a `ringway keygen` key, through the websockets client
# ---------------------------------------------------------------------------------------------


def test_keygen_happy_path_websockets(server, ringway_bin, tmp_path):
    key_file = tmp_path / "device.key"
    scopes_arg = ",".join(REGISTRY_SCOPES)
    r = subprocess.run([ringway_bin, "keygen", "--out", str(key_file), "--scopes", scopes_arg],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600, oct(os.stat(key_file).st_mode)
    key = DeviceKey.from_key_file(key_file)
    lines = r.stdout.splitlines()
    assert lines == [f"{key.public_b64} {scopes_arg}"], r.stdout
    assert key.device_id in r.stderr, r.stderr
    # An existing key is never replaced.
    before = key_file.read_bytes()
    r2 = subprocess.run([ringway_bin, "keygen", "--out", str(key_file)],
                        capture_output=True, text=True, timeout=10)
    assert r2.returncode != 0 and r2.stdout == "", r2
    assert key_file.read_bytes() == before

    devices_file = tmp_path / "devices.txt"
    write_lines(devices_file, ["# from ringway keygen", lines[0]])
    srv = server("--devices", devices_file, "--max-message-size", "512KiB",
                 "--max-buffered", "2MiB", "--ping-interval", "20s", "--idle-timeout", "70s")
    policy = {"maxPayload": 512 << 10, "maxBufferedBytes": 2 << 20,
              "pingIntervalMs": 20000, "idleTimeoutMs": 70000}

    async def session(ws, req_id):
        t_open = now_ms()
        msg = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(msg, str), f"challenge is not a text message: {msg!r}"
        nonce = check_challenge(msg, around_ms=t_open)
        await ws.send(dumps(device_connect(key, nonce, REQUESTED_SCOPES, req_id=req_id)))
        hello = check_hello(await asyncio.wait_for(ws.recv(), 5), req_id=req_id, role="device",
                            device_id=key.device_id, scopes=GRANTED_SCOPES, policy=policy)
        return nonce, hello

    async def rpc(ws, obj_or_text):
        await ws.send(obj_or_text if isinstance(obj_or_text, str) else dumps(obj_or_text))
        msg = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(msg, str), msg
        return msg

    async def main():
        nonces, conn_ids = [], []
        async with websockets.connect(srv.url(WS_PATH), open_timeout=5, close_timeout=5,
                                      ping_interval=None, compression=None) as ws:
            nonce, hello = await session(ws, "hello-1")
            nonces.append(nonce)
            conn_ids.append(hello["payload"]["server"]["connId"])

            before = now_ms()
            pong = check_ok(await rpc(ws, {"type": "req", "id": "p1", "method": "ping",
                                           "params": {}}), "p1")
            assert set(pong) == {"ts"} and before - 2000 <= pong["ts"] <= now_ms() + 2000, pong

            check_error(await rpc(ws, {"type": "req", "id": "u1", "method": "no.such.method",
                                       "params": {}}),
                        "INVALID_REQUEST", req_id="u1", retryable=False)
            check_error(await rpc(ws, "this is {not json"), "INVALID_REQUEST", retryable=False)
            check_error(await rpc(ws, {"type": "req", "id": "m1", "params": {}}),
                        "INVALID_REQUEST", req_id="m1", retryable=False)
            check_error(await rpc(ws, {"type": "req", "id": "m2", "method": "ping",
                                       "params": []}),
                        "INVALID_REQUEST", req_id="m2", retryable=False)
            # A second connect after the hello is just an unknown/invalid request.
            check_error(await rpc(ws, {"type": "req", "id": "c2", "method": "connect",
                                       "params": {}}),
                        "INVALID_REQUEST", req_id="c2", retryable=False)

            pong = check_ok(await rpc(ws, {"type": "req", "id": "p2", "method": "ping"}), "p2")
            assert set(pong) == {"ts"}, pong
            await asyncio.wait_for(ws.close(), 5)
            assert ws.close_code == 1000, (ws.close_code, ws.close_reason)

        # The nonce is fresh per connection; the same key can open several sessions.
        for i in range(4):
            async with websockets.connect(srv.url(WS_PATH), open_timeout=5, close_timeout=5,
                                          ping_interval=None, compression=None) as ws:
                nonce, hello = await session(ws, f"again-{i}")
                nonces.append(nonce)
                conn_ids.append(hello["payload"]["server"]["connId"])
        assert len(set(nonces)) == len(nonces), nonces
        assert len(set(conn_ids)) == len(conn_ids), conn_ids

    run(main(), timeout=15)
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# The same happy path on raw frames, and interoperability through the websockets client
# ---------------------------------------------------------------------------------------------


def test_happy_path_raw_frames(server, tmp_path, keys):
    alice = keys["alice"]
    srv = start_gateway(server, tmp_path, [(alice, REGISTRY_SCOPES), (keys["bob"], [])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(alice, nonce, REQUESTED_SCOPES, req_id="x-42"))
    check_hello(recv_text(c, what="the hello"), req_id="x-42", role="device",
                device_id=alice.device_id, scopes=GRANTED_SCOPES, policy=DEFAULT_POLICY)
    ping_ok(c, "p1")
    check_error(recv_text_after(c, {"type": "req", "id": "u", "method": "subscribe.all"}),
                "INVALID_REQUEST", req_id="u", retryable=False)
    check_error(recv_text_after(c, "\u00e9t\u00e9: not json either".encode()),
                "INVALID_REQUEST", retryable=False)
    ping_ok(c, "p2")
    # A WebSocket ping is answered after the hello, and a client close is echoed.
    c.send_frame(OP_PING, b"hi")
    op, payload = c.recv_message(skip_control=(), timeout=5)
    assert (op, payload) == (OP_PONG, b"hi")
    c.send_close(1000)
    c.expect_close(1000)

    # No requested scopes: nothing granted. A device registered without scopes gets none.
    c2, _ = connect_ok(srv, alice, [], [])
    c3, _ = connect_ok(srv, keys["bob"], ["send", "subscribe:chat.room"], [])
    ping_ok(c2)
    ping_ok(c3)

    # Nonces: 43 characters of base64url (32 bytes), fresh on every connection.
    nonces = {open_gw(srv)[1] for _ in range(8)}
    assert len(nonces) == 8


def recv_text_after(c, obj_or_bytes):
    if isinstance(obj_or_bytes, bytes):
        c.send_text(obj_or_bytes)
    else:
        send_json(c, obj_or_bytes)
    return recv_text(c)


@pytest.mark.time_limit(30)
def test_interop_websockets_many_sessions(server, tmp_path):
    """The whole handshake through the websockets client, many devices at once, each with its
    own scopes, then a normal close handshake."""
    devs = [(DeviceKey.generate(), [f"subscribe:room{i}.*", "send"]) for i in range(24)]
    srv = start_gateway(server, tmp_path, devs)

    async def one(i, key, allowed):
        async with websockets.connect(srv.url(WS_PATH), open_timeout=5, close_timeout=5,
                                      ping_interval=None, compression=None) as ws:
            nonce = check_challenge(await asyncio.wait_for(ws.recv(), 5))
            requested = [f"subscribe:room{i}.a", f"subscribe:room{(i + 1) % 24}.a", "send"]
            await ws.send(dumps(device_connect(key, nonce, requested, req_id=f"d{i}")))
            hello = check_hello(await asyncio.wait_for(ws.recv(), 5), req_id=f"d{i}",
                                role="device", device_id=key.device_id,
                                scopes=[f"subscribe:room{i}.a", "send"], policy=DEFAULT_POLICY)
            await ws.send(dumps({"type": "req", "id": "p", "method": "ping", "params": {}}))
            check_ok(await asyncio.wait_for(ws.recv(), 5), "p")
            await asyncio.wait_for(ws.close(), 5)
            assert ws.close_code == 1000
            return nonce, hello["payload"]["server"]["connId"]

    async def main():
        return await asyncio.gather(*(one(i, k, s) for i, (k, s) in enumerate(devs)))

    got = run(main(), timeout=20)
    assert len({n for n, _ in got}) == len(devs)
    assert len({cid for _, cid in got}) == len(devs)


# ---------------------------------------------------------------------------------------------
# 3. Every error code
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lo,hi", [(2, 3), (2, 2), (2, 9)])
def test_protocol_mismatch(server, tmp_path, keys, lo, hi):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["alice"], nonce, ["send"], min_protocol=lo, max_protocol=hi))
    expect_refusal(c, "PROTOCOL_MISMATCH", 1008, retryable=False)
    srv.assert_alive()


def _mutate(req, path, value=KeyError):
    """Set (or delete, when value is KeyError) req[path...]."""
    obj = req
    for k in path[:-1]:
        obj = obj[k]
    if value is KeyError:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return req


def _b64_std_padded(key):
    import base64
    return base64.b64encode(key.public_raw).decode()


def _noncanonical(text):
    # The last character of 32 bytes carries 4 data bits + 2 zero bits; set a zero bit.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) | 1]


# Each case: (build(key, nonce) -> bytes or str to send, expected response id).
INVALID_CASES = {
    "not-json": (lambda k, n: "connect please", ""),
    "truncated-json": (lambda k, n: dumps(device_connect(k, n, ["send"]))[:-1], None),
    "json-array": (lambda k, n: "[1,2,3]", ""),
    "wrong-method": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]), ["method"],
                                                "ping")), "1"),
    "wrong-type-field": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]), ["type"],
                                                    "event")), "1"),
    "missing-params": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                  ["params"])), "1"),
    "missing-client": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                  ["params", "client"])), "1"),
    "missing-signature": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                     ["params", "device", "signature"])), "1"),
    "missing-device": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                  ["params", "device"])), "1"),
    "missing-scopes": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                  ["params", "scopes"])), "1"),
    "string-minProtocol": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                      ["params", "minProtocol"], "1")), "1"),
    "scopes-not-array": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                    ["params", "scopes"], "send")), "1"),
    "string-signedAt": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "signedAt"], str(now_ms()))), "1"),
    "unknown-role": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                ["params", "role"], "admin")), "1"),
    "uppercase-device-id": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "id"], k.device_id.upper())), "1"),
    "scope-with-comma": (lambda k, n: dumps(_mutate(device_connect(k, n, ["send"]),
                                                    ["params", "scopes"], ["send,publish"])),
                         "1"),
    "nonce-with-newline": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "nonce"], n + "\nx")), "1"),
    "publicKey-std-base64-padded": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "publicKey"], _b64_std_padded(k))),
        "1"),
    "publicKey-noncanonical": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "publicKey"],
        _noncanonical(k.public_b64))), "1"),
    "signature-bad-alphabet": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "signature"], "+/" * 43)), "1"),
    "signature-too-short": (lambda k, n: dumps(_mutate(
        device_connect(k, n, ["send"]), ["params", "device", "signature"], b64url(b"x" * 63))),
        "1"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_invalid_request(server, tmp_path, keys, case):
    build, req_id = INVALID_CASES[case]
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    c.send_text(build(keys["alice"], nonce))
    expect_refusal(c, "INVALID_REQUEST", 1008, req_id=req_id, retryable=False)
    srv.assert_alive()


def test_invalid_request_binary_first_frame(server, tmp_path, keys):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    c.send_binary(dumps(device_connect(keys["alice"], nonce, ["send"])).encode())
    expect_refusal(c, "INVALID_REQUEST", 1008, req_id="", retryable=False)


def test_invalid_request_70k_first_frame_whole(server, tmp_path, keys):
    """A 70 KiB first frame sent whole: refused INVALID_REQUEST + 1008; the client answers the
    close (behind the frame's payload) and the server then closes TCP promptly."""
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    req = device_connect(keys["alice"], nonce, ["send"])
    req["params"]["client"]["padding"] = "x" * (70 << 10)
    text = dumps(req)
    assert len(text) > 70 << 10
    c.send_text(text)
    check_error(recv_text(c, what="the INVALID_REQUEST response"), "INVALID_REQUEST",
                req_id="", retryable=False)
    f, _ = next_close_frame(c, 5.0)
    assert (f.close_code, bytes(f.close_reason)) == (1008, b"INVALID_REQUEST"), f
    c.send_close(1008)
    try:
        c.expect_eof(3.0)
    except AssertionError as e:
        raise AssertionError(
            "after refusing a 70 KiB first frame (error + close 1008), the server did not end "
            "TCP within 3 s of the client's close reply (sent right behind the frame's "
            f"payload); it waits for its close timeout instead: {e}") from None


def test_invalid_request_70k_first_frame_header_only(server, tmp_path, keys):
    """The 70 KiB limit is decided from the frame header: the refusal comes although none of
    the payload was sent."""
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])], "--close-timeout", "500ms")
    c, _ = open_gw(srv)
    header = build_frame(OP_TEXT, b"", length=70 << 10)  # header + mask key, no payload
    c.send(header)
    check_error(recv_text(c, what="the INVALID_REQUEST response"), "INVALID_REQUEST",
                req_id="", retryable=False)
    # We cannot answer with a close frame (it would be read as payload); the server closes TCP
    # by its close timeout at the latest.
    f = c.expect_close(1008, reply=False, eof_timeout=0.5 + UPPER_TOL + 1.0)
    assert bytes(f.close_reason) == b"INVALID_REQUEST"


def test_device_unknown(server, tmp_path, keys):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["stranger"], nonce, ["send"]))
    expect_refusal(c, "DEVICE_UNKNOWN", 1008, retryable=False)


def test_device_id_mismatch(server, tmp_path, keys):
    """A registered key, correctly signed, but the id sent is another device's id."""
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"]), (keys["bob"], ["send"])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["alice"], nonce, ["send"], device_id=keys["bob"].device_id))
    expect_refusal(c, "DEVICE_ID_MISMATCH", 1008, retryable=False)
    # And with an id that is nobody's.
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["alice"], nonce, ["send"], device_id="ab" * 32))
    expect_refusal(c, "DEVICE_ID_MISMATCH", 1008, retryable=False)


@pytest.mark.parametrize("variant", ["wrong-key-signs", "scopes-tampered", "nonce-not-signed",
                                     "signedAt-tampered", "role-in-payload", "zero-signature"])
def test_signature_invalid(server, tmp_path, keys, variant):
    alice = keys["alice"]
    srv = start_gateway(server, tmp_path, [(alice, ["send", "subscribe:chat.*"])])
    c, nonce = open_gw(srv)
    if variant == "wrong-key-signs":
        req = device_connect(alice, nonce, ["send"], signer=keys["bob"])
    elif variant == "scopes-tampered":
        # Signed for ["send"], then a scope added to what is sent.
        req = device_connect(alice, nonce, ["send", "subscribe:chat.*"], signed_scopes=["send"])
    elif variant == "nonce-not-signed":
        req = device_connect(alice, nonce, ["send"], signed_nonce="A" * 43)
    elif variant == "signedAt-tampered":
        req = device_connect(alice, nonce, ["send"])
        req["params"]["device"]["signedAt"] += 1
    elif variant == "role-in-payload":
        req = device_connect(alice, nonce, ["send"])
        payload = signature_payload(alice.device_id, "service", ["send"],
                                    req["params"]["device"]["signedAt"], nonce)
        req["params"]["device"]["signature"] = b64url(alice.sign(payload))
    else:
        req = device_connect(alice, nonce, ["send"], signature=b64url(bytes(64)))
    send_json(c, req)
    expect_refusal(c, "SIGNATURE_INVALID", 1008, retryable=False)


@pytest.mark.parametrize("offset_s", [-200, +200])
def test_signature_expired(server, tmp_path, keys, offset_s):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["alice"], nonce, ["send"],
                                signed_at=now_ms() + offset_s * 1000))
    expect_refusal(c, "SIGNATURE_EXPIRED", 1008, retryable=False)


@pytest.mark.parametrize("offset_s", [-100, +100])
def test_signature_within_skew_accepted(server, tmp_path, keys, offset_s):
    assert abs(offset_s) * 1000 < MAX_CLOCK_SKEW_MS - 10_000
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(keys["alice"], nonce, ["send"],
                                signed_at=now_ms() + offset_s * 1000))
    check_hello(recv_text(c, what="the hello"), req_id="1", role="device",
                device_id=keys["alice"].device_id, scopes=["send"], policy=DEFAULT_POLICY)


def test_nonce_mismatch(server, tmp_path, keys):
    """A correctly signed proof over ANOTHER connection's challenge nonce."""
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])])
    a, nonce_a = open_gw(srv)
    b, nonce_b = open_gw(srv)
    assert nonce_a != nonce_b
    send_json(a, device_connect(keys["alice"], nonce_b, ["send"]))
    expect_refusal(a, "NONCE_MISMATCH", 1008, retryable=False)
    # The other connection's challenge is still good for the other connection.
    send_json(b, device_connect(keys["alice"], nonce_b, ["send"]))
    check_hello(recv_text(b, what="the hello"), req_id="1", role="device",
                device_id=keys["alice"].device_id, scopes=["send"], policy=DEFAULT_POLICY)
    # A nonce that was never issued, and an empty one.
    for bogus in (b64url(os.urandom(32)), ""):
        c, _ = open_gw(srv)
        send_json(c, device_connect(keys["alice"], bogus, ["send"]))
        expect_refusal(c, "NONCE_MISMATCH", 1008, retryable=False)


TOKEN = "s3cret-service-token-for-tests"


def test_service_token_invalid_and_success(server, tmp_path):
    srv = start_gateway(server, tmp_path, [], tokens=[
        "# service tokens",
        f"backend {token_digest(TOKEN)} publish:news.*,send",
        f"other {token_digest('another-token')}",
    ])
    c, _ = open_gw(srv)
    send_json(c, service_connect(TOKEN + "x", ["send"]))
    expect_refusal(c, "TOKEN_INVALID", 1008, retryable=False)

    c, _ = open_gw(srv)
    send_json(c, service_connect(token_digest(TOKEN), ["send"]))  # the digest is not the token
    expect_refusal(c, "TOKEN_INVALID", 1008, retryable=False)

    # A missing token is TOKEN_INVALID too ("service token missing or wrong").
    for auth in (None, {}):
        c, _ = open_gw(srv)
        req = service_connect(TOKEN, ["send"])
        if auth is None:
            del req["params"]["auth"]
        else:
            req["params"]["auth"] = auth
        send_json(c, req)
        expect_refusal(c, "TOKEN_INVALID", 1008, retryable=False)

    c, _ = open_gw(srv)
    send_json(c, service_connect(TOKEN, ["publish:news.sports", "send", "subscribe:news.x"],
                                 req_id="svc"))
    check_hello(recv_text(c, what="the service hello"), req_id="svc", role="service",
                scopes=["publish:news.sports", "send"], policy=DEFAULT_POLICY)
    ping_ok(c)

    c2, _ = open_gw(srv)
    send_json(c2, service_connect("another-token", ["send"]))
    check_hello(recv_text(c2, what="the service hello"), req_id="1", role="service",
                scopes=[], policy=DEFAULT_POLICY)


def test_unavailable_per_address_cap(server, tmp_path, keys):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])],
                        "--max-unauthenticated-per-address", "3")
    held = [open_gw(srv) for _ in range(3)]
    # The 4th gets, right after the 101, UNAVAILABLE (id "") instead of a challenge.
    c = srv.raw_ws(WS_PATH)
    expect_refusal(c, "UNAVAILABLE", 1013, req_id="", retryable=True)
    # Authenticating one of the three frees its slot: a new connection is challenged again.
    first, nonce = held[0]
    send_json(first, device_connect(keys["alice"], nonce, ["send"]))
    check_hello(recv_text(first, what="the hello"), req_id="1", role="device",
                device_id=keys["alice"].device_id, scopes=["send"], policy=DEFAULT_POLICY)
    c5, nonce5 = open_gw(srv)
    # ...and the cap holds again at three unauthenticated.
    c6 = srv.raw_ws(WS_PATH)
    expect_refusal(c6, "UNAVAILABLE", 1013, req_id="", retryable=True)
    # Authenticated sessions do not count: the held ones still work.
    send_json(c5, device_connect(keys["alice"], nonce5, ["send"]))
    check_hello(recv_text(c5, what="the hello"), req_id="1", role="device",
                device_id=keys["alice"].device_id, scopes=["send"], policy=DEFAULT_POLICY)
    ping_ok(first)


def test_unavailable_failure_limit(server, tmp_path, keys):
    alice = keys["alice"]
    srv = start_gateway(server, tmp_path, [(alice, ["send"])],
                        "--auth-failure-limit", "3", "--auth-failure-window", "30s")
    for i in range(3):
        c, nonce = open_gw(srv)
        send_json(c, device_connect(alice, nonce, ["send"], signer=keys["bob"]))
        expect_refusal(c, "SIGNATURE_INVALID", 1008, retryable=False)
    for attempt in range(2):
        c, nonce = open_gw(srv)
        send_json(c, device_connect(alice, nonce, ["send"], req_id=f"ok-{attempt}"))
        err = expect_refusal(c, "UNAVAILABLE", 1013, req_id=f"ok-{attempt}", retryable=True)
        assert 0 < err["retryAfterMs"] <= 30_000, err


def test_auth_timeout(server, tmp_path, keys):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])],
                        "--auth-test-delay-us", "800000", "--auth-timeout", "300ms",
                        "--auth-threads", "1", "--connect-timeout", "1200ms")
    c, nonce = open_gw(srv)
    t0 = time.monotonic()
    send_json(c, device_connect(keys["alice"], nonce, ["send"]))
    check_error(recv_text(c, timeout=5, what="AUTH_TIMEOUT"), "AUTH_TIMEOUT", req_id="1",
                retryable=False)
    elapsed = time.monotonic() - t0
    assert 0.3 - EARLY_TOL <= elapsed <= 0.3 + UPPER_TOL, f"AUTH_TIMEOUT after {elapsed:.3f} s"
    f = c.expect_close(1011, reply=True)
    assert bytes(f.close_reason) == b"AUTH_TIMEOUT"
    # The late verdict (at ~0.8 s) lands on a closed connection; the server carries on: a
    # connection opened now is still served after it (its connect deadline, 1.2 s, fires).
    c2, _ = open_gw(srv)
    t2 = time.monotonic()
    f, t = next_close_frame(c2, 1.2 + UPPER_TOL + 0.5)
    assert (f.close_code, bytes(f.close_reason)) == (4000, b"connect timeout"), f
    assert 1.2 - EARLY_TOL <= t - t2 <= 1.2 + UPPER_TOL and t > t0 + 0.8 + EARLY_TOL
    c2.send_close(4000)
    c2.expect_eof(3.0)
    srv.assert_alive()


def next_close_frame(c, timeout):
    """Read until a close frame (pings/pongs skipped; anything else fails); (frame, t)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = c.recv_frame(deadline=deadline)
        except TimeoutError:
            raise AssertionError(f"no close frame within {timeout:.2f} s") from None
        if f.opcode == OP_CLOSE:
            return f, time.monotonic()
        assert f.opcode in (OP_PING, OP_PONG), f"unexpected frame before the close: {f!r}"


def test_connect_timeout(server, tmp_path, keys):
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])],
                        "--connect-timeout", "300ms", "--close-timeout", "1s")
    # A silent client: no response, just close 4000 "connect timeout".
    c = srv.track(RawWs(srv.host, srv.port))
    t_req = time.monotonic()
    c.upgrade(WS_PATH)
    t_101 = time.monotonic()
    check_challenge(recv_text(c, what="the challenge"))
    f, t = next_close_frame(c, 0.3 + UPPER_TOL + 0.5)
    assert (f.close_code, bytes(f.close_reason)) == (4000, b"connect timeout"), f
    assert t - t_req >= 0.3 - EARLY_TOL, f"closed {t - t_req:.3f} s after the upgrade request"
    assert t - t_101 <= 0.3 + UPPER_TOL, f"closed {t - t_101:.3f} s after the 101"
    c.send_close(4000)
    c.expect_eof(3.0)

    # A connect request still incomplete at the deadline is not a parsed one: 4000 too.
    c = srv.track(RawWs(srv.host, srv.port))
    t_req = time.monotonic()
    c.upgrade(WS_PATH)
    nonce = check_challenge(recv_text(c, what="the challenge"))
    frame = build_frame(OP_TEXT, dumps(device_connect(keys["alice"], nonce, ["send"])))
    c.send(frame[:len(frame) // 2])
    f, t = next_close_frame(c, 0.3 + UPPER_TOL + 0.5)
    assert (f.close_code, bytes(f.close_reason)) == (4000, b"connect timeout"), f
    assert 0.3 - EARLY_TOL <= t - t_req <= 0.3 + UPPER_TOL + 0.1, f"closed after {t - t_req:.3f} s"
    # Our close frame would be read as the rest of the message: the server ends TCP by its
    # close timeout (1 s).
    c.expect_eof(1.0 + UPPER_TOL + 0.5)


def test_slow_auth_does_not_hit_connect_timeout(server, tmp_path, keys):
    """The connect deadline ends when the request is parsed: verification slower than the
    connect timeout still ends in the hello."""
    srv = start_gateway(server, tmp_path, [(keys["alice"], ["send"])],
                        "--connect-timeout", "300ms", "--auth-test-delay-us", "700000",
                        "--auth-threads", "1")
    c, nonce = open_gw(srv)
    t0 = time.monotonic()
    send_json(c, device_connect(keys["alice"], nonce, ["send"]))
    check_hello(recv_text(c, timeout=5, what="the hello"), req_id="1", role="device",
                device_id=keys["alice"].device_id, scopes=["send"], policy=DEFAULT_POLICY)
    assert time.monotonic() - t0 >= 0.7 - EARLY_TOL
    ping_ok(c)


# ---------------------------------------------------------------------------------------------
# 4. A connection closed while its verification is running
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(30)
def test_close_mid_verification(server, tmp_path, keys):
    alice = keys["alice"]
    srv = start_gateway(server, tmp_path, [(alice, ["send"])],
                        "--auth-test-delay-us", "300000", "--auth-threads", "1", workers=1)
    for how in ("fin", "rst", "close-frame", "fin", "rst"):
        c, nonce = open_gw(srv)
        send_json(c, device_connect(alice, nonce, ["send"], req_id="gone"))
        if how == "rst":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how == "close-frame":
            c.send_close(1000)
        c.close()

    # A connection opened now probably reuses a freed slot; the verdicts of the closed ones
    # must not reach it. With one verifier thread its own verdict comes after theirs.
    d, nonce = open_gw(srv)
    send_json(d, device_connect(alice, nonce, ["send"], req_id="mine"))
    check_hello(recv_text(d, timeout=10, what="the hello of the new connection"),
                req_id="mine", role="device", device_id=alice.device_id, scopes=["send"],
                policy=DEFAULT_POLICY)
    ping_ok(d)

    # Same again with the new connection opened during the first one's verification, before
    # it sends anything: the old verdict arrives while it is still awaiting its connect.
    c, nonce = open_gw(srv)
    send_json(c, device_connect(alice, nonce, ["send"], req_id="gone"))
    c.close()
    e, nonce_e = open_gw(srv)
    deadline = time.monotonic() + 0.6  # well past the closed one's 0.3 s verification
    try:
        op, payload = e.recv_message(timeout=max(0.0, deadline - time.monotonic()))
        raise AssertionError(f"unexpected message before any connect: {payload[:200]!r}")
    except TimeoutError:
        pass
    send_json(e, device_connect(alice, nonce_e, ["send"], req_id="e"))
    check_hello(recv_text(e, timeout=5, what="the hello"), req_id="e", role="device",
                device_id=alice.device_id, scopes=["send"], policy=DEFAULT_POLICY)
    srv.assert_alive()


@pytest.mark.time_limit(40)
def test_close_frame_and_socket_close_mid_verification_then_new_connection(server, tmp_path,
                                                                           keys):
    """A client sends its connect request (or nothing) and a close frame, then closes its
    socket at once (RST: unread data, or the server's close echo meets a closed socket). The
    next connection, which
    may get the freed descriptor, must be untouched by anything still pending for the old
    one: it gets its challenge and its hello. Repeated, since the window is narrow."""
    alice = keys["alice"]
    srv = start_gateway(server, tmp_path, [(alice, ["send"])], workers=1)
    for i in range(400):
        if i % 2:
            a, nonce = open_gw(srv)
            send_json(a, device_connect(alice, nonce, ["send"], req_id="gone"))
        else:  # the challenge left unread: closing the socket sends RST at once
            a = srv.raw_ws(WS_PATH)
        a.send_close(1000)
        a.close()
        b = srv.track(RawWs(srv.host, srv.port))
        try:
            b.upgrade(WS_PATH)
            nonce = check_challenge(recv_text(b, what="the challenge"))
            send_json(b, device_connect(alice, nonce, ["send"], req_id=f"b{i}"))
            check_hello(recv_text(b, what="the hello"), req_id=f"b{i}", role="device",
                        device_id=alice.device_id, scopes=["send"], policy=DEFAULT_POLICY)
        except (EOFError, ConnectionResetError, AssertionError) as e:
            raise AssertionError(
                f"iteration {i}: the connection opened right after a peer that sent a close "
                f"frame and closed its socket was broken: {type(e).__name__}: {e}\n"
                f"server stderr tail:\n{srv.stderr[-1500:]}") from None
        if i % 4 == 3:  # now and then a clean close handshake; mostly the socket just goes
            b.send_close(1000)
            b.expect_close(1000)
        b.close()
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# 5. Login storm: test_heavy_login_storm.py (it runs alone, see docs/testing.md)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# 6. SIGHUP reload
# ---------------------------------------------------------------------------------------------


def test_sighup_reload(server, tmp_path, keys):
    alice, bob, carol = keys["alice"], keys["bob"], keys["carol"]
    devices_file = tmp_path / "devices.txt"
    write_lines(devices_file, ["# v1", alice.registry_line(["send"]), bob.registry_line(["send"])])
    srv = server("--devices", devices_file)

    a, _ = connect_ok(srv, alice, ["send"])
    b, _ = connect_ok(srv, bob, ["send"])
    c, nonce = open_gw(srv)
    send_json(c, device_connect(carol, nonce, ["send"]))
    expect_refusal(c, "DEVICE_UNKNOWN", 1008, retryable=False)

    # v2: carol added (with a scope), alice removed.
    write_lines(devices_file, ["# v2", bob.registry_line(["send"]),
                               carol.registry_line(["send", "subscribe:chat.*"])])
    os.kill(srv.pid, signal.SIGHUP)
    f = a.expect_close(4001, reply=True, timeout=5, require_reason=True)
    assert bytes(f.close_reason) == b"revoked"
    wait_stderr(srv, "reloaded", count=1)
    c, _ = connect_ok(srv, carol, ["send", "subscribe:chat.room"],
                      ["send", "subscribe:chat.room"])
    ping_ok(b)  # bob was kept: his session stays open
    a2, nonce = open_gw(srv)
    send_json(a2, device_connect(alice, nonce, ["send"]))
    expect_refusal(a2, "DEVICE_UNKNOWN", 1008, retryable=False)

    # v3 is malformed on its line 3: the reload fails, v2 stays in force, the error is logged.
    write_lines(devices_file, ["# v3", alice.registry_line(["send"]),
                               "this-is-not-a-key send"])
    os.kill(srv.pid, signal.SIGHUP)
    wait_stderr(srv, f"{devices_file}:3:")
    srv.assert_alive()
    ping_ok(b)
    ping_ok(c)
    connect_ok(srv, bob, ["send"])
    connect_ok(srv, carol, ["send"])
    a3, nonce = open_gw(srv)
    send_json(a3, device_connect(alice, nonce, ["send"]))
    expect_refusal(a3, "DEVICE_UNKNOWN", 1008, retryable=False)
    assert srv.stderr.count("reloaded") == 1, srv.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# 7. Start-up with a malformed registry
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_line", [
    "not-base64url!! send",
    "QUJD send",                                  # base64url, but not 32 bytes
    "{key} send,Bad Scope",                       # bad scope
    "{key} send",                                 # duplicate of line 2
])
def test_startup_malformed_devices_file(ringway_bin, tmp_path, keys, bad_line):
    path = tmp_path / "devices.txt"
    key = keys["alice"]
    write_lines(path, ["# comment", key.registry_line(["send"]), bad_line.format(key=key.public_b64),
                       keys["bob"].registry_line()])
    r = subprocess.run([ringway_bin, "--listen", "127.0.0.1:0", "--devices", str(path)],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0, r
    assert f"{path}:3:" in r.stderr, r.stderr
    assert "listening" not in r.stdout, r.stdout


def test_startup_malformed_tokens_file(ringway_bin, tmp_path):
    path = tmp_path / "tokens.txt"
    write_lines(path, [f"svc {token_digest('t')}", "svc2 NOT-A-DIGEST"])
    r = subprocess.run([ringway_bin, "--listen", "127.0.0.1:0", "--service-tokens", str(path)],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0, r
    assert f"{path}:2:" in r.stderr, r.stderr
