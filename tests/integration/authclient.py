"""Client side of Ringway's device-identity handshake (PROTOCOL.md, "Opening handshake").

Key handling, the signature payload, and connect-request building, with python3-cryptography.
Nothing here talks to a socket: the tests own the transport, so the same helpers serve raw
frames, asyncio streams and the websockets library.
"""

import base64
import hashlib
import json
import os
import re
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNATURE_PREFIX = "ringway-connect-v1"
MAX_CLOCK_SKEW_MS = 120_000
KEY_FILE_TAG = "ringway-ed25519-seed"

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
DEVICE_ID_RE = re.compile(r"^[0-9a-f]{64}$")

CLIENT_INFO = {"name": "ringway-tests", "version": "1.0", "platform": "linux"}


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------


def b64url(data):
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Strict base64url decode: no padding, URL alphabet only, canonical trailing bits."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError(f"not unpadded base64url: {text!r}")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError(f"non-canonical base64url: {text!r}")
    return data


def now_ms():
    return int(time.time() * 1000)


def device_id_of(public_key_raw):
    """Lowercase hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(bytes(public_key_raw)).hexdigest()


def token_digest(token):
    """What a --service-tokens line holds for a token: lowercase hex SHA-256 of its bytes."""
    if isinstance(token, str):
        token = token.encode("utf-8")
    return hashlib.sha256(token).hexdigest()


def signature_payload(device_id, role, scopes, signed_at, nonce):
    """The UTF-8 bytes a device signs: six fields joined by '\\n', no trailing newline."""
    fields = [SIGNATURE_PREFIX, device_id, role, ",".join(scopes), str(int(signed_at)), nonce]
    for f in fields:
        assert "\n" not in f, f"signature field contains a newline: {f!r}"
    for s in scopes:
        assert "," not in s, f"scope contains a comma: {s!r}"
    return "\n".join(fields).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


class DeviceKey:
    """An Ed25519 device key: seed, raw public key, device id, signing."""

    def __init__(self, private_key):
        self.private_key = private_key
        self.public_raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_b64 = b64url(self.public_raw)
        self.device_id = device_id_of(self.public_raw)

    @classmethod
    def generate(cls):
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed):
        seed = bytes(seed)
        assert len(seed) == 32, f"an Ed25519 seed is 32 bytes, got {len(seed)}"
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_key_file(cls, path):
        """Read a `ringway keygen` file: one line `ringway-ed25519-seed <base64url seed>`."""
        with open(path, "r", encoding="ascii") as f:
            text = f.read()
        body = text[:-1] if text.endswith("\n") else text
        tag, sep, seed_text = body.partition(" ")
        if tag != KEY_FILE_TAG or not sep or "\n" in seed_text:
            raise ValueError(f"{path}: not a ringway key file: {text!r}")
        return cls.from_seed(b64url_decode(seed_text))

    @property
    def seed(self):
        return self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption())

    def sign(self, message):
        return self.private_key.sign(bytes(message))

    def registry_line(self, scopes=()):
        """A --devices line: `<base64url public key>[ scope,scope...]`."""
        scopes = list(scopes)
        return self.public_b64 + (" " + ",".join(scopes) if scopes else "")


def write_lines(path, lines):
    """Write a registry / tokens file atomically (temp file + rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Connect requests
# ---------------------------------------------------------------------------------------------


def device_connect(key, nonce, scopes=(), *, req_id="1", signed_at=None, role="device",
                   min_protocol=1, max_protocol=1, client=None, signer=None,
                   signed_scopes=None, signed_nonce=None, signed_device_id=None,
                   device_id=None, public_key=None, signature=None):
    """A device connect request (a dict; see dumps()).

    By default everything is consistent and correctly signed by `key`. The keyword overrides
    build the broken variants: `signer` signs instead of `key`; `signed_*` change what is
    signed without changing what is sent; `device_id`, `public_key`, `signature` replace the
    sent values.
    """
    scopes = list(scopes)
    if signed_at is None:
        signed_at = now_ms()
    sent_id = key.device_id if device_id is None else device_id
    payload = signature_payload(
        sent_id if signed_device_id is None else signed_device_id, role,
        scopes if signed_scopes is None else list(signed_scopes), signed_at,
        nonce if signed_nonce is None else signed_nonce)
    if signature is None:
        signature = b64url((signer or key).sign(payload))
    return {
        "type": "req", "id": req_id, "method": "connect",
        "params": {
            "minProtocol": min_protocol, "maxProtocol": max_protocol,
            "client": dict(CLIENT_INFO if client is None else client),
            "role": role,
            "scopes": scopes,
            "device": {
                "id": sent_id,
                "publicKey": key.public_b64 if public_key is None else public_key,
                "signature": signature,
                "signedAt": signed_at,
                "nonce": nonce,
            },
        },
    }


def service_connect(token, scopes=(), *, req_id="1", min_protocol=1, max_protocol=1):
    return {
        "type": "req", "id": req_id, "method": "connect",
        "params": {
            "minProtocol": min_protocol, "maxProtocol": max_protocol,
            "client": dict(CLIENT_INFO),
            "role": "service",
            "scopes": list(scopes),
            "auth": {"token": token},
        },
    }


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Checking what the server sends
# ---------------------------------------------------------------------------------------------


def parse_json_object(text):
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    obj = json.loads(text)
    assert isinstance(obj, dict), f"expected a JSON object, got {text[:200]!r}"
    return obj


def check_challenge(text, *, around_ms=None, tolerance_ms=10_000):
    """Validate a connect.challenge event; return its nonce."""
    ev = parse_json_object(text)
    assert set(ev) == {"type", "event", "payload"}, f"challenge keys: {ev}"
    assert ev["type"] == "event" and ev["event"] == "connect.challenge", ev
    p = ev["payload"]
    assert set(p) == {"nonce", "ts"}, f"challenge payload keys: {p}"
    nonce = p["nonce"]
    assert isinstance(nonce, str) and NONCE_RE.match(nonce), f"nonce {nonce!r}"
    assert len(b64url_decode(nonce)) == 32, f"nonce {nonce!r} is not 32 bytes"
    assert isinstance(p["ts"], int) and not isinstance(p["ts"], bool), p
    ref = now_ms() if around_ms is None else around_ms
    assert abs(p["ts"] - ref) <= tolerance_ms, f"challenge ts {p['ts']} far from now {ref}"
    return nonce


def check_error(text, code, *, req_id=None, retryable=None):
    """Validate an error response with `code`; return its error object."""
    res = parse_json_object(text)
    assert set(res) == {"type", "id", "ok", "error"}, f"error response keys: {res}"
    assert res["type"] == "res" and res["ok"] is False, res
    if req_id is not None:
        assert res["id"] == req_id, f"response id {res['id']!r}, expected {req_id!r}: {res}"
    err = res["error"]
    assert err.get("code") == code, f"error code {err.get('code')!r}, expected {code!r}: {res}"
    assert isinstance(err.get("message"), str) and err["message"], f"no message: {res}"
    assert isinstance(err.get("retryable"), bool), f"retryable not a bool: {res}"
    if err["retryable"]:
        assert set(err) == {"code", "message", "retryable", "retryAfterMs"}, res
        ra = err["retryAfterMs"]
        assert isinstance(ra, int) and not isinstance(ra, bool) and ra > 0, \
            f"retryAfterMs must be a positive int when retryable: {res}"
    else:
        assert set(err) == {"code", "message", "retryable"}, res
    if retryable is not None:
        assert err["retryable"] is retryable, f"retryable {err['retryable']}, expected {retryable}"
    return err


def check_hello(text, *, req_id, role, scopes, policy, device_id=None):
    """Validate a hello response field by field; return it."""
    res = parse_json_object(text)
    assert set(res) == {"type", "id", "ok", "payload"}, f"hello keys: {res}"
    assert res["type"] == "res" and res["ok"] is True and res["id"] == req_id, res
    p = res["payload"]
    assert set(p) == {"type", "protocol", "server", "session", "policy"}, f"payload keys: {p}"
    assert p["type"] == "hello" and p["protocol"] == 1, p
    srv = p["server"]
    assert set(srv) == {"name", "version", "connId"}, srv
    assert srv["name"] == "ringway", srv
    assert isinstance(srv["version"], str) and srv["version"], srv
    assert isinstance(srv["connId"], str) and srv["connId"], srv
    sess = p["session"]
    if role == "device":
        assert set(sess) == {"role", "deviceId", "scopes"}, sess
        assert sess["deviceId"] == device_id, sess
    else:
        assert set(sess) == {"role", "scopes"}, sess
    assert sess["role"] == role, sess
    got = sess["scopes"]
    assert isinstance(got, list) and len(got) == len(set(got)), f"scopes {got}"
    assert sorted(got) == sorted(scopes), f"granted scopes {got}, expected {sorted(scopes)}"
    assert p["policy"] == policy, f"policy {p['policy']}, expected {policy}"
    return res


def check_ok(text, req_id):
    res = parse_json_object(text)
    assert set(res) == {"type", "id", "ok", "payload"}, res
    assert res["type"] == "res" and res["ok"] is True and res["id"] == req_id, res
    return res["payload"]
