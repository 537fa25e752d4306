"""RFC 6455 server-side rules, with hand-built frames on raw sockets.

Every failure case asserts the exact close code the server sends, that the close frame carries a
reason, and that the server then closes TCP (FIN) within a bound.
"""

import time

import pytest

from conftest import (
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWs, build_frame, close_payload,
    make_binary, read_rss_kb,
)

FAST = 2.0  # seconds: bound for "the server reacts at once"


# --- framing errors -> 1002 -------------------------------------------------------------------------


def test_unmasked_frame_1002(raw_ws):
    raw_ws.send_text("not masked", mask=False)
    raw_ws.expect_close(1002)


def test_unmasked_control_frame_1002(raw_ws):
    raw_ws.send_frame(OP_PING, b"p", mask=False)
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("rsv", [4, 2, 1, 7], ids=["rsv1", "rsv2", "rsv3", "all"])
def test_rsv_bits_1002(raw_ws, rsv):
    raw_ws.send_text("rsv", rsv=rsv)
    raw_ws.expect_close(1002)


def test_rsv_bit_on_ping_1002(raw_ws):
    raw_ws.send_frame(OP_PING, b"p", rsv=4)
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcode_1002(raw_ws, opcode):
    raw_ws.send_frame(opcode, b"reserved")
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=["ping", "pong", "close"])
def test_control_frame_over_125_bytes_1002(raw_ws, opcode):
    payload = close_payload(1000, b"r" * 124) if opcode == OP_CLOSE else b"c" * 126
    assert len(payload) == 126
    raw_ws.send_frame(opcode, payload)
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=["ping", "pong", "close"])
def test_fragmented_control_frame_1002(raw_ws, opcode):
    payload = close_payload(1000) if opcode == OP_CLOSE else b"frag"
    raw_ws.send_frame(opcode, payload, fin=False)
    raw_ws.expect_close(1002)


def test_continuation_without_message_1002(raw_ws):
    raw_ws.send_frame(OP_CONT, b"orphan")
    raw_ws.expect_close(1002)


def test_continuation_after_complete_message_1002(raw_ws):
    raw_ws.send_text("complete")
    raw_ws.expect_echo(OP_TEXT, b"complete")
    raw_ws.send_frame(OP_CONT, b"late", fin=True)
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("first,second", [(OP_TEXT, OP_TEXT), (OP_TEXT, OP_BINARY),
                                          (OP_BINARY, OP_BINARY), (OP_BINARY, OP_TEXT)],
                         ids=["text-text", "text-binary", "binary-binary", "binary-text"])
def test_new_data_frame_inside_fragmented_message_1002(raw_ws, first, second):
    raw_ws.send(build_frame(first, b"part one", fin=False) + build_frame(second, b"intruder"))
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("length,form", [(0, 16), (5, 16), (125, 16), (126, 64), (200, 64),
                                         (65535, 64)],
                         ids=["0-as-16", "5-as-16", "125-as-16", "126-as-64", "200-as-64",
                              "65535-as-64"])
def test_non_minimal_length_1002(raw_ws, length, form):
    raw_ws.send(build_frame(OP_BINARY, make_binary(length), length_form=form))
    raw_ws.expect_close(1002)


def test_64bit_length_with_msb_set(raw_ws):
    # RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0. Either a protocol
    # error or "too big" is a correct answer; it must come at once, from the header alone.
    raw_ws.send(build_frame(OP_BINARY, b"", length=(1 << 63) + 5, length_form=64))
    raw_ws.expect_close((1002, 1009), timeout=FAST)


def test_nothing_processed_after_protocol_error(raw_ws):
    # A bad frame followed, in the same write, by good ones: only the close may come back.
    raw_ws.send(build_frame(OP_TEXT, b"bad", rsv=4) + build_frame(OP_TEXT, b"good")
                + build_frame(OP_PING, b"ping"))
    raw_ws.expect_close(1002)


def test_echo_then_protocol_error(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"first") + build_frame(5, b"reserved"))
    raw_ws.expect_echo(OP_TEXT, b"first")
    raw_ws.expect_close(1002)


# --- close frames -------------------------------------------------------------------------------------


def test_close_one_byte_payload_1002(raw_ws):
    raw_ws.send_frame(OP_CLOSE, b"\x03")
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
                                  65535])
def test_close_invalid_code_1002(raw_ws, code):
    raw_ws.send_close(code)
    raw_ws.expect_close(1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                                  1013, 1014, 3000, 3999, 4000, 4999])
def test_close_valid_code_echoed_then_eof(raw_ws, code):
    raw_ws.send_close(code)
    raw_ws.expect_close(code, require_reason=False)


def test_close_with_utf8_reason_echoed(raw_ws):
    raw_ws.send_close(4001, "bye \u2713 \U0001F44B")
    raw_ws.expect_close(4001, require_reason=False)


def test_close_with_max_length_reason(raw_ws):
    raw_ws.send_close(1000, "r" * 123)  # 125-byte payload: the largest legal one
    raw_ws.expect_close(1000, require_reason=False)


def test_close_empty_payload(raw_ws):
    raw_ws.send_frame(OP_CLOSE, b"")
    raw_ws.expect_close((1000, None), require_reason=False)


def test_close_reason_invalid_utf8_1007(raw_ws):
    raw_ws.send_close(1000, b"bad \xff reason")
    raw_ws.expect_close(1007)


def test_close_reason_truncated_utf8_1007(raw_ws):
    raw_ws.send_close(1000, b"cut \xe2\x82")
    raw_ws.expect_close(1007)


def test_close_during_fragmented_message(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"unfinished", fin=False) + build_frame(OP_CLOSE,
                                                                              close_payload(1000)))
    raw_ws.expect_close(1000, require_reason=False)


def test_close_after_data_in_same_write(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"last words") + build_frame(OP_CLOSE, close_payload(4002)))
    raw_ws.expect_echo(OP_TEXT, b"last words")
    raw_ws.expect_close(4002, require_reason=False)


# --- UTF-8 ---------------------------------------------------------------------------------------------

BAD_UTF8 = {
    "ff_byte": b"abc\xffdef",
    "lone_continuation": b"abc\x80def",
    "overlong_slash": b"\xc0\xaf",
    "overlong_3byte": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above_10ffff": b"\xf4\x90\x80\x80",
    "f5_lead": b"\xf5\x80\x80\x80",
    "truncated_at_end": b"euro \xe2\x82",
    "bad_continuation": b"\xe2\x28\xa1",
}


@pytest.mark.parametrize("name", sorted(BAD_UTF8))
def test_invalid_utf8_text_1007(raw_ws, name):
    raw_ws.send_text(BAD_UTF8[name])
    raw_ws.expect_close(1007)


def test_binary_message_is_not_utf8_checked(raw_ws):
    data = b"\xff\xfe\xc0\xaf\xed\xa0\x80"
    raw_ws.send_binary(data)
    raw_ws.expect_echo(OP_BINARY, data)


def test_valid_utf8_split_across_fragments_echoed(raw_ws):
    text = "\u20ac\U0001F600\u00e9".encode("utf-8")
    # Split inside each multi-byte sequence.
    cuts = [b"\xe2", b"\x82\xac\xf0\x9f", b"\x98", b"\x80\xc3", b"\xa9"]
    assert b"".join(cuts) == text
    out = build_frame(OP_TEXT, cuts[0], fin=False)
    for c in cuts[1:-1]:
        out += build_frame(OP_CONT, c, fin=False)
    out += build_frame(OP_CONT, cuts[-1], fin=True)
    raw_ws.send(out)
    raw_ws.expect_echo(OP_TEXT, text)


def test_invalid_utf8_across_fragments_1007(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"ok \xe2", fin=False) + build_frame(OP_CONT, b"\x28 no"))
    raw_ws.expect_close(1007)


def test_truncated_utf8_at_end_of_fragmented_message_1007(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"fine ", fin=False) + build_frame(OP_CONT, b"\xf0\x9f\x98"))
    raw_ws.expect_close(1007)


def test_invalid_utf8_detected_before_message_end(raw_ws):
    # First fragment complete and bad; the rest of the message is never sent.
    raw_ws.send_frame(OP_TEXT, b"hello \xff", fin=False)
    t0 = time.monotonic()
    raw_ws.expect_close(1007, timeout=FAST)
    assert time.monotonic() - t0 < FAST


def test_invalid_utf8_detected_mid_frame(raw_ws):
    # One frame declares 4096 bytes; only the first 16, including a bad byte, are sent.
    body = b"0123456789\xc0\xafabcd"
    frame = build_frame(OP_TEXT, body + b"x" * (4096 - len(body)))
    raw_ws.send(frame[:8 + len(body)])  # 2 header + 2 ext length + 4 mask + body
    raw_ws.expect_close(1007, timeout=FAST)


def test_invalid_utf8_straddling_fragments_detected_fast(raw_ws):
    # The bad sequence starts in one fragment and is completed (wrongly) in the next; the
    # message is never finished.
    raw_ws.send(build_frame(OP_TEXT, b"ok \xe2", fin=False) + build_frame(OP_CONT, b"\x28 no",
                                                                         fin=False))
    raw_ws.expect_close(1007, timeout=FAST)


FAST_PREFIXES = {
    # Each is invalid at its last byte already, whatever might follow.
    "f4_90": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90",
    "ed_a0_surrogate": b"abc\xed\xa0",
    "e0_80_overlong": b"abc\xe0\x80",
    "c0": b"abc\xc0",
    "f5": b"abc\xf5",
}


@pytest.mark.parametrize("name", sorted(FAST_PREFIXES))
def test_invalid_utf8_prefix_detected_fast(raw_ws, name):
    raw_ws.send_frame(OP_TEXT, FAST_PREFIXES[name], fin=False)
    raw_ws.expect_close(1007, timeout=FAST)


def test_invalid_utf8_after_valid_fragments_detected_fast(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, "\u00e9t\u00e9 ".encode(), fin=False)
                + build_frame(OP_CONT, b"still fine ", fin=False)
                + build_frame(OP_CONT, b"\xed\xbf\xbf", fin=False))  # surrogate U+DFFF
    raw_ws.expect_close(1007, timeout=FAST)


# --- message size -------------------------------------------------------------------------------------


def test_declared_2_pow_62_gets_1009_at_once(raw_ws):
    raw_ws.send(build_frame(OP_BINARY, b"", length=1 << 62, length_form=64))
    raw_ws.expect_close(1009, timeout=FAST)


def test_default_max_is_1_mib(raw_ws):
    data = make_binary(1 << 20)
    raw_ws.send_binary(data)
    raw_ws.expect_echo(OP_BINARY, data, timeout=8)
    # One byte more, header only: rejected from the header.
    raw_ws.send(build_frame(OP_BINARY, b"", length=(1 << 20) + 1))
    raw_ws.expect_close(1009, timeout=FAST)


def test_max_message_size_boundary(server):
    srv = server(max_message_size=1000)
    c = srv.raw_ws()
    c.send_text(b"t" * 1000)
    c.expect_echo(OP_TEXT, b"t" * 1000)
    c.send(build_frame(OP_TEXT, b"", length=1001))  # header only
    c.expect_close(1009, timeout=FAST)


def test_fragmented_message_over_max_1009_from_header(server):
    srv = server(max_message_size=1000)
    c = srv.raw_ws()
    c.send(build_frame(OP_BINARY, b"a" * 600, fin=False))
    c.send(build_frame(OP_CONT, b"", length=401, fin=True))  # header only: 600 + 401 > 1000
    c.expect_close(1009, timeout=FAST)


def test_fragmented_message_at_max_ok(server):
    srv = server(max_message_size=1000)
    c = srv.raw_ws()
    c.send(build_frame(OP_BINARY, b"a" * 600, fin=False) + build_frame(OP_CONT, b"b" * 400))
    c.expect_echo(OP_BINARY, b"a" * 600 + b"b" * 400)


def test_many_empty_fragments_ok(raw_ws):
    out = build_frame(OP_TEXT, b"", fin=False)
    for _ in range(100):
        out += build_frame(OP_CONT, b"", fin=False)
    out += build_frame(OP_CONT, b"done", fin=True)
    raw_ws.send(out)
    raw_ws.expect_echo(OP_TEXT, b"done")


@pytest.mark.time_limit(40)
def test_huge_declared_lengths_do_not_grow_memory(echo_server):
    srv = echo_server
    # Warm up: the first connections may allocate pools and buffers once.
    for _ in range(3):
        c = srv.raw_ws()
        c.send_binary(make_binary(70000))
        c.expect_echo(OP_BINARY, make_binary(70000))
        c.send_close(1000)
        c.expect_close(1000, require_reason=False)
        c.close()
    before = read_rss_kb(srv.pid)
    header = build_frame(OP_BINARY, b"", length=1 << 62, length_form=64)
    for batch in range(4):
        conns = [RawWs(srv.host, srv.port) for _ in range(50)]
        try:
            for c in conns:
                c.upgrade()
            for c in conns:
                c.send(header)
            for c in conns:
                c.expect_close(1009, timeout=FAST)
        finally:
            for c in conns:
                c.close()
    srv.assert_alive()
    after = read_rss_kb(srv.pid)
    growth_mb = (after - before) / 1024
    assert growth_mb < 20, f"RSS grew by {growth_mb:.1f} MB ({before} kB -> {after} kB)"
    # And the server still echoes.
    c = srv.raw_ws()
    c.send_text("alive")
    c.expect_echo(OP_TEXT, b"alive")


# --- control frames during data ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(125))], ids=["empty", "1", "125"])
def test_ping_gets_pong_with_same_payload(raw_ws, data):
    raw_ws.send_frame(OP_PING, data)
    f = raw_ws.recv_frame()
    assert f.opcode == OP_PONG and f.fin, f
    assert f.payload == data


def test_unsolicited_pong_is_ignored(raw_ws):
    raw_ws.send_frame(OP_PONG, b"nobody asked")
    raw_ws.send_text("after pong")
    f = raw_ws.recv_frame()
    assert f.opcode == OP_TEXT and f.payload == b"after pong", f


def test_fragmented_message_with_interleaved_ping_and_pong(raw_ws):
    raw_ws.send(build_frame(OP_TEXT, b"Hel", fin=False)
                + build_frame(OP_PING, b"p1")
                + build_frame(OP_CONT, b"lo ", fin=False)
                + build_frame(OP_PONG, b"unsolicited")
                + build_frame(OP_CONT, b"", fin=False)
                + build_frame(OP_PING, b"p2")
                + build_frame(OP_CONT, b"world", fin=True))
    # Both pings arrive in one read, so the server may answer only the latest (RFC 6455 §5.5.3):
    # pongs come first (they jump the echo), in order, ending with p2's.
    pongs = []
    while True:
        f = raw_ws.recv_frame()
        if f.opcode != OP_PONG:
            break
        pongs.append(f.payload)
    assert pongs and pongs[-1] == b"p2" and pongs in ([b"p2"], [b"p1", b"p2"]), pongs
    assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, b"Hello world"), f


def test_ping_flood_gets_one_pong_per_send(raw_ws):
    # 2000 pings in one write: the server keeps one pending pong (the latest), so it neither
    # queues 2000 pongs nor answers an old ping after a newer one.
    raw_ws.send(b"".join(build_frame(OP_PING, b"%d" % i) for i in range(2000))
                + build_frame(OP_TEXT, b"done"))
    pongs = []
    while True:
        f = raw_ws.recv_frame()
        if f.opcode != OP_PONG:
            break
        pongs.append(int(f.payload))
    assert (f.opcode, f.payload) == (OP_TEXT, b"done"), f
    assert pongs and pongs[-1] == 1999 and pongs == sorted(set(pongs)), pongs[:20]
    assert len(pongs) < 200, f"{len(pongs)} pongs for 2000 pings in one write"


def test_ping_answered_while_message_incomplete(raw_ws):
    # The first fragment is sent; the ping must be answered without waiting for the rest.
    raw_ws.send(build_frame(OP_BINARY, b"partial", fin=False) + build_frame(OP_PING, b"now"))
    f = raw_ws.recv_frame(timeout=FAST)
    assert (f.opcode, f.payload) == (OP_PONG, b"now"), f
    raw_ws.send_frame(OP_CONT, b" done")
    raw_ws.expect_echo(OP_BINARY, b"partial done")


def test_ping_after_partly_sent_frame(raw_ws):
    # A data frame arrives in two writes, a ping right behind it: both get answered (the pong
    # and the echo may come in either order).
    frame = build_frame(OP_BINARY, b"z" * 1000)
    raw_ws.send(frame[:500])
    raw_ws.send(frame[500:] + build_frame(OP_PING, b"after"))
    frames = [raw_ws.recv_frame(), raw_ws.recv_frame()]
    got = sorted((f.opcode, f.payload) for f in frames)
    assert got == [(OP_BINARY, b"z" * 1000), (OP_PONG, b"after")], frames


# --- assorted valid framing ---------------------------------------------------------------------------


def test_zero_mask_key(raw_ws):
    raw_ws.send_text("zero key", key=b"\x00\x00\x00\x00")
    raw_ws.expect_echo(OP_TEXT, b"zero key")


def test_many_frames_in_one_write(raw_ws):
    msgs = [make_binary(n, seed=n) for n in range(0, 300, 7)]
    raw_ws.send(b"".join(build_frame(OP_BINARY, m) for m in msgs))
    for m in msgs:
        raw_ws.expect_echo(OP_BINARY, m)


def test_frame_split_at_every_header_boundary(raw_ws):
    # 64-bit length frame delivered in 1-byte writes through the header, then the payload.
    payload = make_binary(70000)
    frame = build_frame(OP_BINARY, payload)
    raw_ws.send(frame[:14], chunk=1, pause=0.001)
    raw_ws.send(frame[14:])
    raw_ws.expect_echo(OP_BINARY, payload)
