"""Several ringway nodes over Redis (docs/cluster.md): channels and device messages across nodes
with one order per channel, offsets that outlive a node, Redis down at start, killed and
restarted mid-stream, a path to Redis that goes silent (the liveness probe), and a three-master
Redis Cluster with sharded pub/sub. redis-server runs on loopback ports chosen here
(redisproc.py), with no persistence, so a restart loses Redis's data as a crash would."""

import json
import threading
import time

import pytest

from authclient import DeviceKey, token_digest, write_lines
from conftest import Conn, get_request
from redisproc import RedisServer, command, free_port, redis, redis_cluster  # noqa: F401
from test_auth import recv_text, send_json
from test_client import Relay
from test_operations import scrape
from test_routing import (ALL, TOKEN, event, expect_nothing, http_post, login, ok,
                          publish_subscribed, request)

BUS_TIMEOUT = 10.0  # recovery bounds: backoff ≤ 5 s, liveness 3 s, plus slack for a busy box


def node(server, tmp_path, devices, bus_url, *extra, name=None, workers=2, port=0):
    """A ringway on the bus with `devices` [(DeviceKey, scopes)] and the backend token."""
    dev = tmp_path / "devices.txt"
    write_lines(dev, [k.registry_line(s) for k, s in devices])
    tok = tmp_path / "tokens.txt"
    write_lines(tok, [f"backend {token_digest(TOKEN)} publish:*,send"])
    args = ["--devices", dev, "--service-tokens", tok, "--workers", str(workers), "--bus", bus_url]
    if name:
        args += ["--node-id", name]
    return server(*args, *extra, listen=f"127.0.0.1:{port}")


def kill(srv):
    """SIGKILL: the node vanishes without a drain (teardown then leaves it alone)."""
    srv._kill()
    srv._stopped = True


def two_nodes(server, tmp_path, bus_url, devices):
    """Nodes a and b on one bus, both healthy, with `devices` new keys (all scopes)."""
    keys = [DeviceKey.generate() for _ in range(devices)]
    devs = [(k, ALL) for k in keys]
    a = node(server, tmp_path, devs, bus_url, name="a")
    b = node(server, tmp_path, devs, bus_url, name="b")
    wait_health(a), wait_health(b)
    return keys, a, b


def healthz(srv):
    with Conn(srv.host, srv.port) as c:
        c.send(get_request(srv.hostport, "/healthz"))
        return c.read_response(timeout=5)


def wait_health(srv, want=200, timeout=BUS_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        resp = healthz(srv)
        if resp.status == want:
            return time.monotonic()
        assert time.monotonic() < deadline, f"/healthz stayed {resp.status} {resp.body!r}"
        time.sleep(0.05)


def publish_ok(c, channel, data, req_id="p"):
    return ok(c, "publish", {"channel": channel, "data": data}, req_id)


def events(c, n, timeout=5.0):
    return [event(c, timeout) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Channels and sends across nodes
# ---------------------------------------------------------------------------------------------


def test_two_nodes_share_channels_with_one_order(server, tmp_path, redis):
    r = redis()
    (alice, bob), a, b = two_nodes(server, tmp_path, r.url, 2)
    ca, cb = login(a, alice), login(b, bob)
    sa = ok(ca, "subscribe", {"channel": "room"}, "s")
    sb = ok(cb, "subscribe", {"channel": "room"}, "s")
    # One history in Redis: both nodes name the same epoch and offset.
    assert sa == sb and sa["offset"] == 0, (sa, sb)
    # A WebSocket publish on a, an HTTP publish on b: both subscribers see both, same offsets.
    res = request(ca, "publish", {"channel": "room", "data": "one"}, "p1")
    assert res["ok"] and res["payload"]["offset"] == 1, res
    _, resp = http_post(b, "/v1/publish", {"channel": "room", "data": "two"})
    assert resp.status == 202 and json.loads(resp.body)["offset"] == 2, resp
    for c in (ca, cb):
        got = events(c, 2)
        assert [(e["offset"], e["data"]) for e in got] == [(1, "one"), (2, "two")], got
        assert got[0]["from"] == alice.device_id and got[1]["from"] == "backend", got
    # A late subscriber on b learns the offset Redis holds.
    assert ok(cb, "subscribe", {"channel": "room"}, "s2") == {"epoch": sa["epoch"], "offset": 2}


def test_three_nodes_keep_per_publisher_order(server, tmp_path, redis):
    """Three publishers (one per node) race on one channel; every subscriber on every node sees
    the same sequence, offsets 1..N without a gap, each publisher's messages in its order."""
    r = redis()
    keys = [DeviceKey.generate() for _ in range(6)]
    devs = [(k, ALL) for k in keys]
    nodes = [node(server, tmp_path, devs, r.url, name=f"n{i}") for i in range(3)]
    for n in nodes:
        wait_health(n)
    subs = [login(n, keys[i]) for i, n in enumerate(nodes)]
    for s in subs:
        ok(s, "subscribe", {"channel": "race"})
    pubs = [login(n, keys[3 + i]) for i, n in enumerate(nodes)]
    per = 40
    errors = []

    def publisher(i):
        try:
            for j in range(per):
                res = publish_ok(pubs[i], "race", {"p": i, "j": j}, f"{i}-{j}")
                assert res["offset"] >= 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=publisher, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    seen = []
    for s in subs:
        got = events(s, 3 * per)
        assert [e["offset"] for e in got] == list(range(1, 3 * per + 1)), got[:5]
        seen.append([(e["data"]["p"], e["data"]["j"]) for e in got])
        expect_nothing(s)
    assert seen[0] == seen[1] == seen[2]
    for i in range(3):
        assert [j for p, j in seen[0] if p == i] == list(range(per))


def test_send_reaches_a_device_on_another_node(server, tmp_path, redis):
    r = redis()
    alice, bob = DeviceKey.generate(), DeviceKey.generate()
    devs = [(alice, ALL), (bob, ALL)]
    # One partition: every node is subscribed to it (each holds a device channel), so counting
    # must go by who watches the channel, not by who hears the partition.
    a, b, c = (node(server, tmp_path, devs, r.url, "--bus-partitions", "1", name=x)
               for x in "abc")
    for n in (a, b, c):
        wait_health(n)
    cb = login(b, bob)
    ca = login(a, alice)
    # delivered: none here, plus one for the node that holds bob (docs/protocol.md).
    assert ok(ca, "send", {"to": bob.device_id, "data": {"hi": 1}}, "s") == {"delivered": 1}
    e = event(cb)
    assert e["channel"] == f"device:{bob.device_id}" and e["data"] == {"hi": 1}, e
    assert e["from"] == alice.device_id
    _, resp = http_post(c, "/v1/send", {"to": bob.device_id, "data": 2})
    assert resp.status == 202 and json.loads(resp.body) == {"delivered": 1}, resp
    assert event(cb)["data"] == 2
    # A device nobody holds, a channel nobody watches: nothing delivered anywhere.
    stranger = DeviceKey.generate()
    assert ok(ca, "send", {"to": stranger.device_id, "data": 3}, "s2") == {"delivered": 0}
    assert publish_ok(ca, "nobody", 4) == {"delivered": 0, "offset": 1}


def test_delivered_counts_local_subscribers_and_remote_nodes(server, tmp_path, redis):
    r = redis()
    keys, a, b = two_nodes(server, tmp_path, r.url, 4)
    pub = login(a, keys[0])
    local = [login(a, keys[1]), login(a, keys[2])]
    remote = login(b, keys[3])
    for s in local + [remote]:
        ok(s, "subscribe", {"channel": "count"})
    assert publish_ok(pub, "count", 1) == {"delivered": 3, "offset": 1}
    for s in local + [remote]:
        assert event(s)["offset"] == 1
    remote.close()
    deadline = time.monotonic() + 5
    while True:  # b stops watching once its last subscriber is gone
        res = publish_ok(pub, "count", 2, "p2")
        for s in local:
            event(s)
        if res["delivered"] == 2:
            break
        assert time.monotonic() < deadline, res


def test_offsets_outlive_a_node_restart(server, tmp_path, redis):
    """The history is in Redis: a node that restarts (and its resubscribing clients) continues
    the channel's offsets under the same epoch."""
    r = redis()
    alice, bob = DeviceKey.generate(), DeviceKey.generate()
    devs = [(alice, ALL), (bob, ALL)]
    port = free_port()
    a = node(server, tmp_path, devs, r.url, name="a")
    b = node(server, tmp_path, devs, r.url, name="b", port=port)
    wait_health(a), wait_health(b)
    ca, cb = login(a, alice), login(b, bob)
    first = ok(cb, "subscribe", {"channel": "keep"})
    for i in range(3):
        publish_ok(ca, "keep", i, f"p{i}")
    assert [e["offset"] for e in events(cb, 3)] == [1, 2, 3]
    kill(b)
    b2 = node(server, tmp_path, devs, r.url, name="b", port=port)
    wait_health(b2)
    cb = login(b2, bob)
    again = ok(cb, "subscribe", {"channel": "keep"})
    assert again == {"epoch": first["epoch"], "offset": 3}, (first, again)
    publish_ok(ca, "keep", "after", "p9")
    e = event(cb)
    assert e["offset"] == 4 and e["data"] == "after", e


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_bus_metrics(server, tmp_path, redis):
    r = redis()
    alice = DeviceKey.generate()
    a = node(server, tmp_path, [(alice, ALL)], r.url, name="a")
    wait_health(a)
    ca = login(a, alice)
    ok(ca, "subscribe", {"channel": "m"})
    publish_subscribed(ca, {"channel": "m", "data": 1})
    m = scrape(a)
    assert m["ringway_bus_healthy"] == 1 and m["ringway_bus_connected_shards"] == 1, m
    assert m["ringway_bus_published_total"] >= 1 and m["ringway_bus_messages_in_total"] >= 1, m
    assert m["ringway_bus_publish_failed_total"] == 0, m
    assert m["ringway_bus_probes_returned_total"] >= 1, m
    assert m["ringway_bus_watched_partitions"] >= 1, m


def test_malformed_messages_on_a_partition_are_dropped_and_counted(server, tmp_path, redis):
    """Whoever can reach Redis can publish on a partition's channel; what is not a well-formed
    message (bad JSON data, a bad channel, no offset) never reaches a subscriber's frame."""
    r = redis()
    (alice,), a, _ = two_nodes(server, tmp_path, r.url, 1)
    ca = login(a, alice)
    ok(ca, "subscribe", {"channel": "inj"})
    part = f"rw:{{p{fnv1a('inj') % 16}}}"
    for bad in ["junk", "e 1 inj\nx\n{not json", "e 0 inj\nx\n1", "e 1 bad chan\nx\n1",
                "e 1 inj\n\n1", "e 1 inj\nx\n\"\xff\"".encode("latin-1")]:
        assert command(r.port, "PUBLISH", part, bad) >= 1
    answer, own = publish_subscribed(ca, {"channel": "inj", "data": {"real": True}})
    assert answer["offset"] == 1 and own == {"channel": "inj", "from": alice.device_id,
                                             "offset": 1, "data": {"real": True}}, own
    expect_nothing(ca)
    assert scrape(a)["ringway_bus_messages_malformed_total"] == 6


def test_a_redis_with_a_password(server, tmp_path, redis):
    """redis://:PASSWORD@ authenticates every connection; a wrong password leaves the bus
    unhealthy with the server's reason in the log, never the password."""
    r = redis(password="s3cr:t")
    (alice, bob), a, b = two_nodes(server, tmp_path, f"redis://:s3cr%3At@127.0.0.1:{r.port}", 2)
    ca, cb = login(a, alice), login(b, bob)
    assert ok(ca, "send", {"to": bob.device_id, "data": "pw"}, "s") == {"delivered": 1}
    assert event(cb)["data"] == "pw"
    bad = node(server, tmp_path, [(alice, ALL)], f"redis://:wrong-one@127.0.0.1:{r.port}",
               name="bad")
    deadline = time.monotonic() + BUS_TIMEOUT
    while "AUTH refused" not in bad.stderr:
        assert time.monotonic() < deadline, bad.stderr[-2000:]
        time.sleep(0.05)
    assert healthz(bad).status == 503
    assert "wrong-one" not in bad.stderr and "s3cr" not in a.stderr
    assert ":***@" in bad.stderr


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def unavailable(res):
    assert res["type"] == "res" and res["ok"] is False, res
    err = res["error"]
    assert err["code"] == "UNAVAILABLE" and err["retryable"] is True, res
    assert err["retryAfterMs"] > 0, res
    return err


def test_redis_down_at_start_then_up(server, tmp_path, redis):
    """No Redis at start: the node serves (devices log in, pings work), reports itself unhealthy,
    refuses publishes and new subscriptions as retryable; when Redis comes it heals by itself,
    and the devices that logged in meanwhile can be reached."""
    r = redis(start=False)
    alice, bob = DeviceKey.generate(), DeviceKey.generate()
    devs = [(alice, ALL), (bob, ALL)]
    a = node(server, tmp_path, devs, r.url, name="a")
    resp = healthz(a)
    assert resp.status == 503 and b"bus unhealthy" in resp.body, resp
    ca = login(a, alice)  # its own channel is watched once the bus is back
    assert ok(ca, "ping", {}, "pg")["ts"] > 0
    unavailable(request(ca, "publish", {"channel": "x", "data": 1}, "p"))
    unavailable(request(ca, "subscribe", {"channel": "x"}, "s"))
    _, resp = http_post(a, "/v1/publish", {"channel": "x", "data": 1})
    assert resp.status == 503 and json.loads(resp.body)["error"]["code"] == "UNAVAILABLE", resp
    r.start()
    wait_health(a)
    b = node(server, tmp_path, devs, r.url, name="b")
    wait_health(b)
    cb = login(b, bob)
    deadline = time.monotonic() + BUS_TIMEOUT
    while True:  # alice's device channel is watched again shortly after the bus returns
        res = ok(cb, "send", {"to": alice.device_id, "data": "found"}, "s")
        if res["delivered"] == 1:
            break
        assert time.monotonic() < deadline, res
        time.sleep(0.1)
    assert event(ca)["data"] == "found"
    ok(ca, "subscribe", {"channel": "x"}, "s2")
    assert publish_ok(cb, "x", 2)["offset"] == 1
    assert event(ca)["data"] == 2


def test_redis_killed_and_restarted_mid_stream(server, tmp_path, redis):
    """A publisher keeps publishing while Redis is killed and started again (empty). Publishers
    are told UNAVAILABLE while it is gone; nothing is delivered twice or out of order; after
    both nodes report healthy again every accepted publish reaches every subscriber; the
    channel has a new epoch, and a new subscriber is told it."""
    r = redis()
    keys, a, b = two_nodes(server, tmp_path, r.url, 3)
    pub = login(a, keys[0])
    subs = [login(a, keys[1]), login(b, keys[2])]
    before = [ok(s, "subscribe", {"channel": "live"}) for s in subs][0]
    accepted, refused = [], 0
    phase = {"v": "before"}
    stop = threading.Event()
    received = [[], []]

    def reader(i):
        while not stop.is_set():
            try:
                received[i].append(event(subs[i], timeout=0.5))
            except (TimeoutError, AssertionError):
                continue

    readers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(2)]
    for t in readers:
        t.start()
    n = 0
    t_end = time.monotonic() + 60
    while time.monotonic() < t_end:
        n += 1
        res = request(pub, "publish", {"channel": "live", "data": {"n": n, "phase": phase["v"]}},
                      f"p{n}")
        if res["ok"]:
            accepted.append((n, phase["v"], res["payload"]["offset"]))
        else:
            unavailable(res)
            refused += 1
        if phase["v"] == "before" and n == 20:
            r.kill()
            phase["v"] = "down"
        elif phase["v"] == "down" and refused >= 5:
            r.start()
            wait_health(a), wait_health(b)
            phase["v"] = "after"
            n_after = n
        elif phase["v"] == "after" and n >= n_after + 20:
            break
        time.sleep(0.01)
    assert phase["v"] == "after" and refused >= 5, (phase, refused)
    after = [x for x in accepted if x[1] == "after"]
    assert len(after) >= 20, accepted
    deadline = time.monotonic() + 5
    while any(len([e for e in got if e["data"]["phase"] == "after"]) < len(after)
              for got in received) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in readers:
        t.join(timeout=5)
    for got in received:
        ns = [e["data"]["n"] for e in got]
        assert ns == sorted(set(ns)), ns  # no duplicate, no reordering
        # Everything delivered was accepted (a refused publish was not delivered)...
        assert set(ns) <= {x[0] for x in accepted}, (ns, accepted)
        # ... and everything accepted once both nodes were healthy again arrived.
        assert {x[0] for x in after} <= set(ns), (after, ns)
        assert [e["offset"] for e in got if e["data"]["phase"] == "after"] == \
            [x[2] for x in after]
    assert after[0][2] == 1  # Redis lost the history: offsets start again...
    late = login(b, keys[1])
    now = ok(late, "subscribe", {"channel": "live"})
    assert now["epoch"] != before["epoch"] and now["offset"] == after[-1][2], (before, now)
    m = scrape(a)
    assert m["ringway_bus_publish_failed_total"] >= 5 and m["ringway_bus_reconnects_total"] >= 1, m


def test_a_silent_path_to_redis_is_found_by_the_liveness_probe(server, tmp_path, redis):
    """The path to Redis stops forwarding without closing (a relay freezes): the node's probes
    stop coming back; it reports itself unhealthy within the probe timeout, reconnects (new
    connections through the relay work) and is healthy again."""
    r = redis()
    relay = Relay(("127.0.0.1", r.port))
    try:
        alice = DeviceKey.generate()
        a = node(server, tmp_path, [(alice, ALL)], f"redis://127.0.0.1:{relay.port}", name="a")
        wait_health(a)
        ca = login(a, alice)
        ok(ca, "subscribe", {"channel": "q"})
        frozen_at = relay.freeze()
        t_bad = wait_health(a, want=503, timeout=10)
        # Probes every 1 s, lost after 3 s; allow for the probe period and a busy machine.
        assert t_bad - frozen_at < 3.0 + 1.0 + 2.0, t_bad - frozen_at
        wait_health(a)
        answer, own = publish_subscribed(ca, {"channel": "q", "data": "back"})
        assert answer["offset"] >= 1 and own["data"] == "back", (answer, own)
        m = scrape(a)
        assert m["ringway_bus_unhealthy_periods_total"] >= 1, m
    finally:
        relay.close()


# ---------------------------------------------------------------------------------------------
# Redis Cluster
# ---------------------------------------------------------------------------------------------


def fnv1a(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def crc16(data):
    crc = 0
    for c in data:
        crc ^= c << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def partition_slot(channel, partitions=16):
    """The cluster slot of a channel's partition (src/bus: fnv1a, then the hash tag p<n>)."""
    return crc16(f"p{fnv1a(channel) % partitions}".encode()) % 16384


def test_a_redis_cluster_with_sharded_pubsub(server, tmp_path, redis_cluster):
    """Two nodes on a three-master Redis Cluster: channels whose partitions live on every master,
    subscribers on both nodes, publishes from both, a send across; the partitions are sharded
    pub/sub channels on their masters. Then one master is killed: its channels answer
    UNAVAILABLE, the others keep working, and /healthz says the bus is unhealthy."""
    cl = redis_cluster
    by_owner = {}
    for i in range(200):
        ch = f"c{i}"
        by_owner.setdefault(cl.owner_of(partition_slot(ch)).port, []).append(ch)
        if len(by_owner) == 3 and all(len(v) >= 2 for v in by_owner.values()):
            break
    assert len(by_owner) == 3, by_owner
    channels = [ch for v in by_owner.values() for ch in v[:2]]
    keys, a, b = two_nodes(server, tmp_path, cl.url, 3)
    sa, sb, pub = login(a, keys[0]), login(b, keys[1]), login(b, keys[2])
    for ch in channels:
        assert ok(sa, "subscribe", {"channel": ch}, ch) == ok(sb, "subscribe", {"channel": ch}, ch)
    for i, ch in enumerate(channels):
        assert publish_ok(pub, ch, i, f"p{i}") == {"delivered": 2, "offset": 1}
    for s in (sa, sb):
        got = events(s, len(channels))
        assert sorted((e["channel"], e["data"]) for e in got) == \
            sorted((ch, i) for i, ch in enumerate(channels)), got
    _, resp = http_post(a, "/v1/publish", {"channel": channels[0], "data": "http"})
    assert resp.status == 202 and json.loads(resp.body) == {"delivered": 2, "offset": 2}, resp
    for s in (sa, sb):
        assert event(s)["data"] == "http"
    assert ok(sa, "send", {"to": keys[1].device_id, "data": "x"}, "s") == {"delivered": 1}
    assert event(sb)["data"] == "x"
    # Sharded pub/sub: each master carries the partitions it owns, and only those.
    for n in cl.nodes:
        shard_channels = set(command(n.port, "PUBSUB", "SHARDCHANNELS"))
        for ch in by_owner[n.port][:2]:
            assert f"rw:{{p{fnv1a(ch) % 16}}}" in shard_channels, (n.port, shard_channels)
    assert not command(cl.nodes[0].port, "PUBSUB", "CHANNELS"), "plain pub/sub used"
    # One master gone: its channels are refused, the others still flow.
    dead = cl.nodes[0]
    dead.kill()
    wait_health(b, want=503)
    for ch in by_owner[dead.port][:2]:
        unavailable(request(pub, "publish", {"channel": ch, "data": "lost"}, "d"))
    alive = [ch for port, v in by_owner.items() if port != dead.port for ch in v[:2]]
    for ch in alive:
        assert publish_ok(pub, ch, "still", "q")["delivered"] == 2
    for s in (sa, sb):
        got = events(s, len(alive))
        assert sorted(e["channel"] for e in got) == sorted(alive), got
