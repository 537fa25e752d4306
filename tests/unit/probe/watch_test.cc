// The reading side of the checks over real loopback TCP: what a Watch records, the close
// answer, deadlines, and telling a half-closed connection from a closed one.
#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

#include "probe/checks.h"
#include "ws/message_reader.h"
#include "tcp_pair.h"

namespace ringway::probe {
namespace {

using namespace std::chrono_literals;
using test::Listener;
using test::write_all;

struct Pair {
  Listener listener;
  ProbeSocket client;
  int server = -1;

  Pair() {
    std::string err;
    client = ProbeSocket::connect(listener.endpoint(), Clock::now() + 2s, &err);
    EXPECT_TRUE(client.valid()) << err;
    server = listener.accept();
    EXPECT_GE(server, 0);
  }
  ~Pair() {
    if (server >= 0) ::close(server);
  }
  void server_send(const Bytes& b) { write_all(server, b.data(), b.size()); }
  void close_server() {
    ::close(server);
    server = -1;
  }
};

Bytes server_frame(uint8_t opcode, const Bytes& payload) {
  FrameSpec spec;
  spec.opcode = opcode;
  spec.masked = false;
  return build_frame(spec, payload);
}

// A frame the probe sent, as the gateway's own reader (which insists on masks) sees it.
struct ClientFrame {
  uint8_t opcode = 0;
  Bytes payload;
  uint16_t close_code = 0;
};

struct Collect final : ws::MessageSink {
  std::vector<ClientFrame>* out;
  void on_message(ws::Opcode op, std::span<const uint8_t> p) override {
    out->push_back({uint8_t(op), Bytes(p.begin(), p.end())});
  }
  void on_ping(std::span<const uint8_t> p) override {
    out->push_back({opcode::kPing, Bytes(p.begin(), p.end())});
  }
  void on_pong(std::span<const uint8_t> p) override {
    out->push_back({opcode::kPong, Bytes(p.begin(), p.end())});
  }
  void on_close(uint16_t code, std::span<const uint8_t> reason) override {
    out->push_back({opcode::kClose, Bytes(reason.begin(), reason.end()), code});
  }
};

// Reads whatever the client sent to the server side within `wait`; every frame must be a
// valid, masked client frame.
std::vector<ClientFrame> frames_from_client(int fd, std::chrono::milliseconds wait) {
  ws::MessageReader r(1 << 20);
  std::vector<ClientFrame> out;
  Collect sink;
  sink.out = &out;
  Deadline until = Clock::now() + wait;
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    uint8_t buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    ws::ReadResult res = r.feed({buf, size_t(n)}, sink);
    EXPECT_EQ(res.close_code, 0) << "not a valid client frame: " << res.reason;
  }
  return out;
}

TEST(Watch, RecordsPingsCloseAndEof) {
  Pair p;
  p.server_send(server_frame(opcode::kPing, {}));
  p.server_send(server_frame(opcode::kText, Bytes{'h', 'i'}));
  p.server_send(server_frame(opcode::kPing, Bytes{'x'}));
  p.server_send(server_frame(opcode::kClose, close_payload(4002, "idle timeout")));
  p.close_server();
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  watch(p.client, reader, w, Clock::now() + 2s);
  EXPECT_EQ(w.end, Watch::End::kEof);
  EXPECT_TRUE(w.closed());
  EXPECT_EQ(w.pings, 2);
  EXPECT_TRUE(w.first_ping.has_value());
  EXPECT_EQ(w.data_frames, 1u);
  EXPECT_EQ(w.data_bytes, 2u);
  ASSERT_TRUE(w.close_seen);
  EXPECT_EQ(w.close_code, 4002);
  EXPECT_EQ(w.close_reason, "idle timeout");
  EXPECT_FALSE(w.close_answered);
  std::string d = describe(w);
  EXPECT_NE(d.find("close 4002 'idle timeout'"), std::string::npos) << d;
  EXPECT_NE(d.find("TCP EOF"), std::string::npos) << d;
  EXPECT_NE(d.find("2 pings"), std::string::npos) << d;
}

TEST(Watch, ResetIsReported) {
  Pair p;
  test::close_with_reset(p.server);
  p.server = -1;
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  watch(p.client, reader, w, Clock::now() + 2s);
  EXPECT_EQ(w.end, Watch::End::kReset);
  EXPECT_EQ(describe_end(w), "reset");
}

TEST(Watch, DeadlineIsKeptWhenNothingHappens) {
  Pair p;
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  watch(p.client, reader, w, Clock::now() + 150ms);
  auto took = Clock::now() - w.t0;
  EXPECT_FALSE(w.ended());
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 1500ms);
}

TEST(Watch, StopPredicateReturnsEarly) {
  Pair p;
  p.server_send(server_frame(opcode::kPing, {}));
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  WatchOptions wo;
  wo.stop = [](const Watch& x) { return x.pings > 0; };
  watch(p.client, reader, w, Clock::now() + 5s, wo);
  EXPECT_EQ(w.pings, 1);
  EXPECT_LT(Clock::now() - w.t0, 2s);
  EXPECT_FALSE(w.ended());
}

TEST(Watch, AnswersCloseWithTheSameCodeWhenAsked) {
  Pair p;
  p.server_send(server_frame(opcode::kClose, close_payload(1007, "invalid utf-8")));
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  WatchOptions wo;
  wo.answer_close = true;
  wo.stop = [](const Watch& x) { return x.close_seen; };
  watch(p.client, reader, w, Clock::now() + 2s, wo);
  EXPECT_TRUE(w.close_answered);
  std::vector<ClientFrame> got = frames_from_client(p.server, 500ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, opcode::kClose);
  EXPECT_EQ(got[0].close_code, 1007);
  EXPECT_TRUE(got[0].payload.empty());
}

TEST(Watch, UnparseableServerFrameEndsTheWatch) {
  Pair p;
  Bytes bad = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
  p.server_send(bad);
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  watch(p.client, reader, w, Clock::now() + 2s);
  EXPECT_EQ(w.end, Watch::End::kBadFrame);
  EXPECT_FALSE(w.closed());
}

TEST(Watch, ConfirmCloseTellsAHalfCloseFromAClose) {
  Pair p;
  p.server_send(server_frame(opcode::kClose, close_payload(1002, "bad")));
  ::shutdown(p.server, SHUT_WR);  // FIN, but the server still holds the socket
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  WatchOptions wo;
  wo.confirm_close = true;
  watch(p.client, reader, w, Clock::now() + 300ms, wo);
  EXPECT_TRUE(w.close_seen);
  ASSERT_TRUE(w.fin_at.has_value());
  EXPECT_FALSE(w.ended()) << describe(w);
  EXPECT_NE(ended_text(w).find("not closed"), std::string::npos) << ended_text(w);
  // The probes are whole, masked, empty pongs.
  std::vector<ClientFrame> probes = frames_from_client(p.server, 100ms);
  ASSERT_FALSE(probes.empty());
  for (const ClientFrame& f : probes) {
    EXPECT_EQ(f.opcode, opcode::kPong);
    EXPECT_TRUE(f.payload.empty());
  }
  // Now the server really closes: the next probe is answered with a reset.
  Clock::time_point closed_at = Clock::now();
  p.close_server();
  watch(p.client, reader, w, Clock::now() + 2s, wo);
  EXPECT_EQ(w.end, Watch::End::kReset) << describe(w);
  EXPECT_TRUE(w.closed());
  EXPECT_LT(Clock::now() - closed_at, 1500ms);
  EXPECT_NE(ended_text(w).find("reset on our probe"), std::string::npos) << ended_text(w);
}

TEST(Watch, ConfirmCloseOnAFullCloseIsQuick) {
  Pair p;
  p.close_server();  // FIN and the socket is gone
  ServerStream reader;
  Watch w;
  w.t0 = Clock::now();
  WatchOptions wo;
  wo.confirm_close = true;
  watch(p.client, reader, w, Clock::now() + 2s, wo);
  EXPECT_EQ(w.end, Watch::End::kReset);
  EXPECT_TRUE(w.fin_at.has_value());
  EXPECT_LT(w.end_at, 1500ms);
}

TEST(CloseProber, SendsPendingBytesFirstThenPongs) {
  Pair p;
  // The rest of a masked binary frame in flight: header already "sent", 3 payload bytes left.
  FrameSpec spec;
  spec.opcode = opcode::kBinary;
  Bytes frame = build_frame(spec, std::string_view("abcdef"));
  // Send the first part through the client so the server sees one whole frame in the end.
  p.client.send_all(frame.data(), frame.size() - 3, Clock::now() + 1s);
  CloseProber prober(std::span<const uint8_t>(frame).subspan(frame.size() - 3), 10ms);
  IoResult r = prober.run(p.client, Clock::now() + 60ms);
  EXPECT_EQ(r.status, Io::kTimeout);
  EXPECT_GE(prober.probes_sent(), 1u);
  std::vector<ClientFrame> got = frames_from_client(p.server, 100ms);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].opcode, opcode::kBinary);
  EXPECT_EQ(got[0].payload, (Bytes{'a', 'b', 'c', 'd', 'e', 'f'}));
  for (size_t i = 1; i < got.size(); ++i) EXPECT_EQ(got[i].opcode, opcode::kPong);
}

TEST(CloseProber, GrowingGapsThinOutTheProbes) {
  Pair p;
  CloseProber steady({}, 10ms, 1.0);
  EXPECT_EQ(steady.run(p.client, Clock::now() + 300ms).status, Io::kTimeout);
  CloseProber growing({}, 10ms, 2.0);
  EXPECT_EQ(growing.run(p.client, Clock::now() + 300ms).status, Io::kTimeout);
  // Steady: a probe every 10 ms (~30; fewer on a loaded machine). Growing: at 0, 10, 30, 70,
  // 150 ms and then not before 310 ms: 5 at most.
  EXPECT_GE(steady.probes_sent(), 8u);
  EXPECT_GE(growing.probes_sent(), 2u);
  EXPECT_LE(growing.probes_sent(), 5u);
  std::vector<ClientFrame> got = frames_from_client(p.server, 100ms);
  EXPECT_EQ(got.size(), steady.probes_sent() + growing.probes_sent());
}

}  // namespace
}  // namespace ringway::probe
