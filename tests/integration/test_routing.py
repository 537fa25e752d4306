"""Routing after the hello (PROTOCOL.md, "After the hello" and "HTTP API for backends") on the
real binary: channels with per-channel offsets and one order, direct device messages across
workers, service sessions, scope denials, limits, the HTTP API, slow subscribers, and indexes
that leave nothing behind."""

import asyncio
import json
import os
import socket
import time

import pytest
import websockets

from authclient import (DeviceKey, check_error, device_connect, service_connect, token_digest,
                        write_lines)
from conftest import OP_TEXT, Conn, ServerClosed, worker_stats
from test_auth import WS_PATH, open_gw, ping_ok, recv_text, send_json
from test_deadlines import SmallRcvbufWs

ALL = ["subscribe:*", "publish:*", "send"]
TOKEN = "svc-token-1"


def start(server, tmp_path, devices, *extra, tokens=(), workers=2):
    """A ringway with `devices` [(DeviceKey, scopes)] and `tokens` [(name, token, scopes)]."""
    dev = tmp_path / "devices.txt"
    write_lines(dev, [k.registry_line(s) for k, s in devices])
    tok = tmp_path / "tokens.txt"
    write_lines(tok, [f"{n} {token_digest(t)} {','.join(s)}" for n, t, s in tokens])
    return server("--devices", dev, "--service-tokens", tok, "--workers", str(workers), *extra)


def login(srv, key, scopes=ALL):
    c, nonce = open_gw(srv)
    send_json(c, device_connect(key, nonce, scopes))
    hello = json.loads(recv_text(c, what="the hello"))
    assert hello["ok"], hello
    return c


def login_service(srv, token, scopes):
    c, _ = open_gw(srv)
    send_json(c, service_connect(token, scopes))
    hello = json.loads(recv_text(c, what="the service hello"))
    assert hello["ok"], hello
    return c


def request(c, method, params, req_id="r"):
    send_json(c, {"type": "req", "id": req_id, "method": method, "params": params})
    return json.loads(recv_text(c, what=f"the {method} response"))


def ok(c, method, params, req_id="r"):
    r = request(c, method, params, req_id)
    assert r["type"] == "res" and r["id"] == req_id and r["ok"] is True, r
    return r["payload"]


def publish_subscribed(c, params, req_id="r"):
    """A publish by a session that is itself subscribed: its answer and its own copy of the
    message may come in either order. Returns (answer payload, event payload)."""
    send_json(c, {"type": "req", "id": req_id, "method": "publish", "params": params})
    answer = ev = None
    while answer is None or ev is None:
        m = json.loads(recv_text(c, what="the answer and the event"))
        if m["type"] == "res":
            assert m["id"] == req_id and m["ok"] is True and answer is None, m
            answer = m["payload"]
        else:
            assert m["event"] == "message" and ev is None, m
            ev = m["payload"]
    return answer, ev


def event(c, timeout=5.0):
    e = json.loads(recv_text(c, timeout, "a message event"))
    assert e["type"] == "event" and e["event"] == "message", e
    assert set(e["payload"]) == {"channel", "from", "offset", "data"}, e
    return e["payload"]


def expect_nothing(c, window=0.3):
    """No data message within the window (pings and pongs aside)."""
    try:
        op, payload = c.recv_message(timeout=window)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message: {payload[:200]!r}")


# ---------------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------------


def test_subscribe_publish_offsets_and_epoch(server, tmp_path):
    alice, bob = DeviceKey.generate(), DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL), (bob, ALL)])
    a, b = login(srv, alice), login(srv, bob)
    sub = ok(b, "subscribe", {"channel": "chat.1"})
    assert set(sub) == {"epoch", "offset"} and sub["offset"] == 0 and isinstance(sub["epoch"], str)
    for i in range(1, 4):
        res = ok(a, "publish", {"channel": "chat.1", "data": {"n": i, "s": "é€"}}, f"p{i}")
        assert res == {"delivered": 1, "offset": i}, res
        e = event(b)
        assert e == {"channel": "chat.1", "from": alice.device_id, "offset": i,
                     "data": {"n": i, "s": "é€"}}, e
    # A late subscriber learns the latest offset and the same epoch, then gets what follows.
    again = ok(a, "subscribe", {"channel": "chat.1"}, "s2")
    assert again == {"epoch": sub["epoch"], "offset": 3}, again
    answer, own = publish_subscribed(a, {"channel": "chat.1", "data": None}, "p4")
    assert answer == {"delivered": 2, "offset": 4} and own["offset"] == 4
    assert event(b)["offset"] == 4
    # Subscribing twice is harmless: the same answer, no second copy of each message.
    assert ok(b, "subscribe", {"channel": "chat.1"}, "s3") == {"epoch": sub["epoch"], "offset": 4}
    assert publish_subscribed(a, {"channel": "chat.1", "data": 5}, "p5")[0]["delivered"] == 2
    assert event(b)["offset"] == 5
    expect_nothing(b)
    # Unsubscribed: no more deliveries.
    assert ok(b, "unsubscribe", {"channel": "chat.1"}, "u") == {}
    answer, own = publish_subscribed(a, {"channel": "chat.1", "data": 6}, "p6")
    assert answer == {"delivered": 1, "offset": 6} and own["offset"] == 6
    expect_nothing(b)
    assert ok(b, "unsubscribe", {"channel": "never.subscribed"}, "u2") == {}


def test_channels_are_independent_and_a_publish_without_subscribers_counts(server, tmp_path):
    alice = DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL)])
    a = login(srv, alice)
    assert ok(a, "publish", {"channel": "empty", "data": 1}) == {"delivered": 0, "offset": 1}
    assert ok(a, "publish", {"channel": "empty", "data": 2}) == {"delivered": 0, "offset": 2}
    assert ok(a, "publish", {"channel": "other", "data": 1}) == {"delivered": 0, "offset": 1}
    assert ok(a, "subscribe", {"channel": "empty"})["offset"] == 2


@pytest.mark.parametrize("method,params,message", [
    ("subscribe", {}, "params.channel: missing"),
    ("subscribe", {"channel": ""}, "params.channel: expected 1-128 of [A-Za-z0-9._:-]"),
    ("subscribe", {"channel": "a b"}, "params.channel: expected 1-128 of [A-Za-z0-9._:-]"),
    ("subscribe", {"channel": "x" * 129}, "params.channel: expected 1-128 of [A-Za-z0-9._:-]"),
    ("subscribe", {"channel": 5}, "params.channel: expected string"),
    ("publish", {"channel": "c/d", "data": 1}, "params.channel: expected 1-128 of [A-Za-z0-9._:-]"),
    ("publish", {"channel": "c"}, "params.data: missing"),
    ("send", {"to": "abc", "data": 1}, "params.to: expected a device id (64 lowercase hex)"),
    ("send", {"to": "A" * 64, "data": 1}, "params.to: expected a device id (64 lowercase hex)"),
    ("frobnicate", {}, "unknown method: frobnicate"),
])
def test_bad_requests_are_answered_and_the_connection_stays(server, tmp_path, method, params,
                                                            message):
    alice = DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL)])
    a = login(srv, alice)
    r = request(a, method, params, "bad")
    assert r["ok"] is False and r["id"] == "bad", r
    assert r["error"] == {"code": "INVALID_REQUEST", "message": message, "retryable": False}, r
    ping_ok(a)


def test_scope_denials_keep_the_connection(server, tmp_path):
    narrow = DeviceKey.generate()
    srv = start(server, tmp_path, [(narrow, ["subscribe:chat.*", "publish:chat.own"])])
    c = login(srv, narrow, ["subscribe:chat.*", "publish:chat.own"])
    for method, params in [("subscribe", {"channel": "news"}),
                           ("subscribe", {"channel": "chat"}),
                           ("publish", {"channel": "chat.other", "data": 1}),
                           ("send", {"to": narrow.device_id, "data": 1})]:
        r = request(c, method, params, "d")
        check_error(json.dumps(r), "SCOPE_DENIED", req_id="d", retryable=False)
    assert ok(c, "subscribe", {"channel": "chat.room"})["offset"] == 0
    assert ok(c, "publish", {"channel": "chat.own", "data": 1})["offset"] == 1
    ping_ok(c)


def test_subscription_limit(server, tmp_path):
    alice = DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL)], "--max-subscriptions", "3")
    a = login(srv, alice)
    for i in range(3):
        ok(a, "subscribe", {"channel": f"c{i}"}, f"s{i}")
    r = request(a, "subscribe", {"channel": "c3"}, "s3")
    assert r["ok"] is False and r["error"]["message"] == "too many subscriptions (max 3)", r
    ok(a, "unsubscribe", {"channel": "c0"}, "u")
    ok(a, "subscribe", {"channel": "c3"}, "s4")


def test_publish_size_limit(server, tmp_path):
    alice = DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL)], "--max-publish-size", "1000")
    a = login(srv, alice)
    assert ok(a, "publish", {"channel": "c", "data": "x" * 998})["offset"] == 1  # 1000 with quotes
    r = request(a, "publish", {"channel": "c", "data": "x" * 999})
    assert r["ok"] is False and r["error"]["message"] == "params.data: over 1000 bytes", r


def test_request_rate_limit_answers_unavailable_with_retry_after(server, tmp_path):
    alice = DeviceKey.generate()
    srv = start(server, tmp_path, [(alice, ALL)], "--request-rate", "5", "--request-burst", "5")
    a = login(srv, alice)
    for i in range(10):  # one write: the bucket cannot refill in between
        send_json(a, {"type": "req", "id": f"q{i}", "method": "ping", "params": {}})
    answers = [json.loads(recv_text(a)) for _ in range(10)]
    oks = [r for r in answers if r["ok"]]
    refused = [r for r in answers if not r["ok"]]
    assert len(oks) == 5 and [r["id"] for r in oks] == [f"q{i}" for i in range(5)], answers
    for r in refused:
        assert r["error"]["code"] == "UNAVAILABLE" and r["error"]["retryable"] is True, r
        assert 1 <= r["error"]["retryAfterMs"] <= 1000, r
    time.sleep(0.25)  # what is tested is the refill with time: 5/s gives one token in 200 ms
    ping_ok(a)


# ---------------------------------------------------------------------------------------------
# One order per channel, across workers, under load
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(90)
def test_one_order_per_channel_for_every_subscriber_on_every_worker(server, tmp_path):
    n_subs, n_pubs, per_pub = 24, 3, 300
    keys = [DeviceKey.generate() for _ in range(n_subs + n_pubs)]
    srv = start(server, tmp_path, [(k, ALL) for k in keys], "--request-rate", "100000",
                "--request-burst", "100000", workers=3)

    async def session(key):
        ws = await websockets.connect(srv.url(WS_PATH), max_size=None, compression=None)
        nonce = json.loads(await ws.recv())["payload"]["nonce"]
        await ws.send(json.dumps(device_connect(key, nonce, ALL)))
        hello = json.loads(await ws.recv())
        assert hello["ok"], hello
        return ws

    async def main():
        subs = [await session(k) for k in keys[:n_subs]]
        pubs = [await session(k) for k in keys[n_subs:]]
        for i, ws in enumerate(subs):
            await ws.send(json.dumps({"type": "req", "id": "s", "method": "subscribe",
                                      "params": {"channel": "load.1"}}))
            r = json.loads(await ws.recv())
            assert r["ok"] and r["payload"]["offset"] == 0, r

        async def publisher(j, ws):
            for n in range(per_pub):  # pipelined: sent without waiting for answers
                await ws.send(json.dumps({"type": "req", "id": f"{j}-{n}", "method": "publish",
                                          "params": {"channel": "load.1",
                                                     "data": {"p": j, "n": n}}}))
            offsets = []
            while len(offsets) < per_pub:
                r = json.loads(await ws.recv())
                assert r["ok"], r
                assert r["payload"]["delivered"] == n_subs, r
                offsets.append(r["payload"]["offset"])
            return offsets

        async def subscriber(ws):
            got = []
            while len(got) < n_pubs * per_pub:
                e = json.loads(await ws.recv())
                got.append((e["payload"]["offset"], e["payload"]["data"]["p"],
                            e["payload"]["data"]["n"]))
            return got

        results = await asyncio.gather(*(publisher(j, ws) for j, ws in enumerate(pubs)),
                                       *(subscriber(ws) for ws in subs))
        pub_offsets, seen = results[:n_pubs], results[n_pubs:]
        total = n_pubs * per_pub
        for offsets in pub_offsets:
            assert offsets == sorted(offsets), "a publisher's messages were reordered"
        assert sorted(o for offs in pub_offsets for o in offs) == list(range(1, total + 1))
        first = seen[0]
        assert [o for o, _, _ in first] == list(range(1, total + 1)), "gaps or disorder"
        for other in seen[1:]:
            assert other == first, "two subscribers saw different sequences"
        for j in range(n_pubs):  # each publisher's messages in its own order
            assert [n for _, p, n in first if p == j] == list(range(per_pub))
        for ws in subs + pubs:
            await ws.close()

    asyncio.run(asyncio.wait_for(main(), 80))
    srv.stop()
    router = worker_stats(srv, "router")
    # Subscribers landed on more than one worker: the frame went to workers by mail.
    assert router["fanout_mails"] > 0, router
    assert router["deliveries"] == n_subs * n_pubs * per_pub, router


# ---------------------------------------------------------------------------------------------
# Direct messages
# ---------------------------------------------------------------------------------------------


def collect(c, responses, events, timeout=10.0):
    """Reads until `responses` answers and `events` message events have come, in any order."""
    got_r, got_e = {}, []
    while len(got_r) < responses or len(got_e) < events:
        m = json.loads(recv_text(c, timeout, f"{responses} answers and {events} events"))
        if m["type"] == "res":
            got_r[m["id"]] = m
        else:
            assert m["event"] == "message", m
            got_e.append(m["payload"])
    return got_r, got_e


@pytest.mark.time_limit(40)
def test_send_reaches_a_device_on_any_worker_and_every_session_of_it(server, tmp_path):
    keys = [DeviceKey.generate() for _ in range(12)]
    n = len(keys)
    srv = start(server, tmp_path, [(k, ALL) for k in keys], workers=3)
    conns = [login(srv, k) for k in keys]
    # Every device sends to every other: whatever workers they landed on, each gets each.
    for i, c in enumerate(conns):
        for j, k in enumerate(keys):
            if i != j:
                send_json(c, {"type": "req", "id": f"{i}>{j}", "method": "send",
                              "params": {"to": k.device_id, "data": {"from": i}}})
    for j, c in enumerate(conns):
        answers, evs = collect(c, n - 1, n - 1)
        assert all(r["ok"] and r["payload"] == {"delivered": 1} for r in answers.values()), answers
        assert sorted(e["data"]["from"] for e in evs) == [i for i in range(n) if i != j]
        assert all(e["channel"] == f"device:{keys[j].device_id}" and
                   e["from"] == keys[e["data"]["from"]].device_id for e in evs)
        assert sorted(e["offset"] for e in evs) == list(range(1, n))
    # A second session of keys[0]: a send reaches both, in the same order.
    twin = login(srv, keys[0])
    for m in range(5):
        assert ok(conns[1], "send", {"to": keys[0].device_id, "data": m}, f"t{m}") == \
            {"delivered": 2}
    seen = []
    for c in (conns[0], twin):
        evs = [event(c) for _ in range(5)]
        assert [e["data"] for e in evs] == list(range(5))
        assert all(e["from"] == keys[1].device_id for e in evs)
        seen.append([e["offset"] for e in evs])
    assert seen[0] == seen[1] == list(range(n, n + 5)), seen
    # Nobody at home: delivered 0, no error.
    stranger = DeviceKey.generate()
    assert ok(conns[2], "send", {"to": stranger.device_id, "data": 1}) == {"delivered": 0}


def test_service_sessions_publish_subscribe_and_send_as_their_name(server, tmp_path):
    dev = DeviceKey.generate()
    srv = start(server, tmp_path, [(dev, ["subscribe:alerts.*"])],
                tokens=[("billing", TOKEN, ["publish:alerts.*", "subscribe:orders", "send"])])
    d = login(srv, dev, ["subscribe:alerts.*"])
    svc = login_service(srv, TOKEN, ["publish:alerts.*", "subscribe:orders", "send"])
    ok(d, "subscribe", {"channel": "alerts.x"})
    assert ok(svc, "publish", {"channel": "alerts.x", "data": "up"})["delivered"] == 1
    e = event(d)
    assert e["from"] == "billing" and e["data"] == "up"
    assert ok(svc, "send", {"to": dev.device_id, "data": [1]}) == {"delivered": 1}
    e = event(d)
    assert e["from"] == "billing" and e["channel"] == f"device:{dev.device_id}"
    ok(svc, "subscribe", {"channel": "orders"})
    r = request(svc, "subscribe", {"channel": "alerts.x"}, "no")
    check_error(json.dumps(r), "SCOPE_DENIED", req_id="no", retryable=False)


# ---------------------------------------------------------------------------------------------
# Slow subscribers during fan-out
# ---------------------------------------------------------------------------------------------


async def ws_session(srv, key, scopes=ALL):
    ws = await websockets.connect(srv.url(WS_PATH), max_size=None, compression=None)
    nonce = json.loads(await ws.recv())["payload"]["nonce"]
    await ws.send(json.dumps(device_connect(key, nonce, scopes)))
    hello = json.loads(await ws.recv())
    assert hello["ok"], hello
    return ws


@pytest.mark.time_limit(60)
def test_a_slow_subscriber_is_cut_and_the_others_get_everything(server, tmp_path):
    keys = [DeviceKey.generate() for _ in range(5)]
    srv = start(server, tmp_path, [(k, ALL) for k in keys], "--max-message-size", "64KiB",
                "--max-buffered", "1MiB", "--max-publish-size", "8KiB",
                "--request-rate", "100000", "--request-burst", "100000", workers=2)
    # The slow one: a small receive window, and it never reads after subscribing.
    slow = srv.track(SmallRcvbufWs(srv.host, srv.port))
    slow.upgrade(WS_PATH)
    nonce = json.loads(recv_text(slow))["payload"]["nonce"]
    send_json(slow, device_connect(keys[4], nonce, ALL))
    assert json.loads(recv_text(slow))["ok"]
    ok(slow, "subscribe", {"channel": "firehose"})
    n, blob = 600, "z" * 7000  # 4.2 MB to each subscriber

    async def main():
        pub = await ws_session(srv, keys[0])
        fast = [await ws_session(srv, k) for k in keys[1:4]]
        for ws in fast:
            await ws.send(json.dumps({"type": "req", "id": "s", "method": "subscribe",
                                      "params": {"channel": "firehose"}}))
            assert json.loads(await ws.recv())["ok"]

        async def publisher():
            answers = []
            for start_ in range(0, n, 20):  # windows of 20, so readers that read keep up
                for i in range(start_, start_ + 20):
                    await pub.send(json.dumps({"type": "req", "id": f"p{i}", "method": "publish",
                                               "params": {"channel": "firehose",
                                                          "data": {"i": i, "b": blob}}}))
                answers += [json.loads(await pub.recv()) for _ in range(20)]
            return answers

        async def reader(ws):
            return [json.loads(await ws.recv())["payload"]["offset"] for _ in range(n)]

        answers, *offsets = await asyncio.gather(publisher(), *(reader(ws) for ws in fast))
        assert all(r["ok"] for r in answers), [r for r in answers if not r["ok"]][:3]
        assert [r["payload"]["offset"] for r in answers] == list(range(1, n + 1))
        for got in offsets:
            assert got == list(range(1, n + 1))
        for ws in fast + [pub]:
            await ws.close()

    asyncio.run(asyncio.wait_for(main(), 50))
    # The slow subscriber was cut: a 4003 in what it was sent, then the end.
    out, ending = slow.read_to_end(time.monotonic() + 15)
    assert b"slow consumer" in out, out[-200:]
    srv.stop()
    assert worker_stats(srv, "gateway")["slow_consumers"] == 1


# ---------------------------------------------------------------------------------------------
# The HTTP API
# ---------------------------------------------------------------------------------------------


def http_post(srv, path, body, token=TOKEN, extra=(), conn=None):
    c = conn or Conn(srv.host, srv.port)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {srv.hostport}", f"Content-Length: {len(data)}",
             "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{k}: {v}" for k, v in extra]
    c.send(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    resp = c.read_response(timeout=5, to_eof=False)
    return c, resp


def test_http_publish_and_send(server, tmp_path):
    dev = DeviceKey.generate()
    srv = start(server, tmp_path, [(dev, ALL)],
                tokens=[("backend", TOKEN, ["publish:news.*", "send"])])
    d = login(srv, dev)
    ok(d, "subscribe", {"channel": "news.1"})
    c, resp = http_post(srv, "/v1/publish", {"channel": "news.1", "data": {"h": "hi"}})
    assert resp.status == 202, resp
    assert json.loads(resp.body) == {"delivered": 1, "offset": 1}
    assert resp.header("content-type") == "application/json"
    e = event(d)
    assert e == {"channel": "news.1", "from": "backend", "offset": 1, "data": {"h": "hi"}}
    # Keep-alive: more requests on the same connection.
    for i in range(2, 5):
        _, resp = http_post(srv, "/v1/publish", {"channel": "news.1", "data": i}, conn=c)
        assert resp.status == 202 and json.loads(resp.body)["offset"] == i
        assert event(d)["data"] == i
    _, resp = http_post(srv, "/v1/send", {"to": dev.device_id, "data": "direct"}, conn=c)
    assert resp.status == 202 and json.loads(resp.body) == {"delivered": 1}
    e = event(d)
    assert e["channel"] == f"device:{dev.device_id}" and e["from"] == "backend"


def test_http_pipelined_requests_are_answered_in_order(server, tmp_path):
    srv = start(server, tmp_path, [], tokens=[("backend", TOKEN, ["publish:*"])])
    c = Conn(srv.host, srv.port)
    reqs = b""
    for i in range(20):
        body = json.dumps({"channel": "pipe", "data": i}).encode()
        reqs += (f"POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    c.send(reqs)
    for i in range(20):
        resp = c.read_response(timeout=5, to_eof=False)
        assert resp.status == 202 and json.loads(resp.body) == {"delivered": 0, "offset": i + 1}


@pytest.mark.parametrize("case", ["no token", "wrong token", "no scope", "bad json", "bad channel",
                                  "not an object", "bad device", "no data", "too large",
                                  "get", "no length"])
def test_http_api_errors(server, tmp_path, case):
    srv = start(server, tmp_path, [], "--max-publish-size", "1KiB",
                tokens=[("backend", TOKEN, ["publish:news.*"])])
    path, body, token, want, code = "/v1/publish", {"channel": "news.1", "data": 1}, TOKEN, 0, ""
    if case == "no token":
        token, want, code = None, 401, "TOKEN_INVALID"
    elif case == "wrong token":
        token, want, code = "nope", 401, "TOKEN_INVALID"
    elif case == "no scope":
        body, want, code = {"channel": "other", "data": 1}, 403, "SCOPE_DENIED"
    elif case == "bad json":
        body, want, code = b"{\"channel\":", 400, "INVALID_REQUEST"
    elif case == "bad channel":
        body, want, code = {"channel": "a b", "data": 1}, 400, "INVALID_REQUEST"
    elif case == "not an object":
        body, want, code = b"[1]", 400, "INVALID_REQUEST"
    elif case == "bad device":
        path, body, want, code = "/v1/send", {"to": "x", "data": 1}, 400, "INVALID_REQUEST"
    elif case == "no data":
        body, want, code = {"channel": "news.1"}, 400, "INVALID_REQUEST"
    elif case == "too large":
        body, want, code = {"channel": "news.1", "data": "x" * 10000}, 413, "INVALID_REQUEST"
    if case == "get":
        c = Conn(srv.host, srv.port)
        c.send(f"GET /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
               .encode())
        resp = c.read_response(timeout=5)
        assert resp.status == 405 and resp.header("allow") == "POST", resp
        return
    if case == "no length":
        c = Conn(srv.host, srv.port)
        c.send(f"POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        resp = c.read_response(timeout=5)
        assert resp.status == 411, resp
        return
    _, resp = http_post(srv, path, body, token=token)
    assert resp.status == want, resp
    err = json.loads(resp.body)["error"]
    assert err["code"] == code and err["retryable"] is False and err["message"], err
    if want == 401:
        assert resp.header("www-authenticate") == "Bearer"


def test_http_send_requires_the_send_scope(server, tmp_path):
    dev = DeviceKey.generate()
    srv = start(server, tmp_path, [(dev, ALL)], tokens=[("backend", TOKEN, ["publish:*"])])
    _, resp = http_post(srv, "/v1/send", {"to": dev.device_id, "data": 1})
    assert resp.status == 403 and json.loads(resp.body)["error"]["code"] == "SCOPE_DENIED"


# ---------------------------------------------------------------------------------------------
# Indexes are cleaned
# ---------------------------------------------------------------------------------------------


@pytest.mark.time_limit(120)
def test_subscribe_and_disconnect_cycles_leave_no_state(server, tmp_path):
    keys = [DeviceKey.generate() for _ in range(20)]
    srv = start(server, tmp_path, [(k, ALL) for k in keys], "--max-idle-channels", "50",
                "--request-rate", "100000", "--request-burst", "100000", workers=2)

    async def cycle(key, round_):
        async with websockets.connect(srv.url(WS_PATH), compression=None) as ws:
            nonce = json.loads(await ws.recv())["payload"]["nonce"]
            await ws.send(json.dumps(device_connect(key, nonce, ALL)))
            assert json.loads(await ws.recv())["ok"]
            for i in range(100):  # pipelined subscribes to distinct channels
                await ws.send(json.dumps({"type": "req", "id": str(i), "method": "subscribe",
                                          "params": {"channel": f"c.{round_}.{i % 60}"}}))
            for _ in range(100):
                r = json.loads(await ws.recv())
                assert r["ok"] or r["error"]["message"].endswith("already in progress"), r
            if round_ % 2:
                for i in range(0, 60, 2):
                    await ws.send(json.dumps({"type": "req", "id": "u", "method": "unsubscribe",
                                              "params": {"channel": f"c.{round_}.{i}"}}))
                    assert json.loads(await ws.recv())["ok"]

    async def main():
        for r in range(10):  # 20 sessions x 10 rounds x 100 subscribes = 20 000 requests
            await asyncio.gather(*(cycle(k, r) for k in keys))

    asyncio.run(asyncio.wait_for(main(), 110))
    # The last sessions' unsubscribes reach the sequencer workers by mail after the clients
    # have gone: wait (bounded) for them to settle before stopping, so the counts read are final.
    from test_operations import scrape  # here: test_operations imports this module
    settle = time.monotonic() + 10
    while True:
        m = scrape(srv)
        if m["ringway_subscriptions"] == 0 and m["ringway_sequenced_channels"] <= 2 * 50:
            break
        assert time.monotonic() < settle, m
        time.sleep(0.05)
    srv.stop()
    router = worker_stats(srv, "router")
    assert router["local_channels"] == 0 and router["local_subscriptions"] == 0, router
    assert router["indexed_sessions"] == 0, router
    # Only idle sequencer entries may stay, and at most the cap per worker.
    assert router["sequenced_channels"] == router["idle_channels"] <= 2 * 50, router
    assert router["subscribes"] >= 20 * 10 * 60, router
