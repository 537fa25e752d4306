#include "load/loop.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "load/session_policy.h"
#include "load/workload.h"
#include "ringway/client.h"

namespace ringway::load {

namespace {

enum UdOp : uint8_t { kUdConnect = 1, kUdRecv, kUdSend, kUdCancel, kUdClose };
constexpr uint32_t kGenMask = (1u << 24) - 1;

// user_data: [63..56] op, [55..32] generation, [31..0] slot. Never a pointer, so a completion
// for a connection that has since been reused is recognised by its generation.
constexpr uint64_t pack(uint8_t op, uint32_t slot, uint32_t gen) {
  return (uint64_t(op) << 56) | (uint64_t(gen & kGenMask) << 32) | slot;
}

constexpr unsigned kRingEntries = 4096;
constexpr unsigned kRecvBuffers = 512;  // per thread
constexpr unsigned kRecvBufferSize = 16384;
constexpr uint64_t kMaxWaitNs = 50'000'000;  // the phase is polled at least this often
constexpr unsigned kLogLinesPerSecond = 10;  // per thread
constexpr uint64_t kStopGraceMs = 1000;      // after the close timeout, before forcing

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

uint64_t epoch_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1'000'000u;
}

}  // namespace

// Hands the reader's messages and control frames to the loop for one connection.
struct LoopSink final : client::ServerFrameSink {
  Loop* loop;
  Conn* conn;
  bool on_message(ws::Opcode op, std::span<const uint8_t> payload) override {
    return loop->on_frame(*conn, op, payload);
  }
  bool on_ping(std::span<const uint8_t> payload) override {
    return loop->on_frame(*conn, ws::Opcode::kPing, payload);
  }
  bool on_pong(std::span<const uint8_t>) override { return true; }
  void on_close(uint16_t code, std::string_view reason) override {
    loop->on_server_close(*conn, code, reason);
  }
};

const char* state_name(ConnState s) {
  switch (s) {
    case ConnState::kWaiting: return "waiting";
    case ConnState::kConnecting: return "TCP connect";
    case ConnState::kTls: return "TLS handshake";
    case ConnState::kUpgrading: return "upgrade response";
    case ConnState::kChallenge: return "challenge";
    case ConnState::kHello: return "hello";
    case ConnState::kReady: return "ready";
    case ConnState::kClosing: return "closing";
    case ConnState::kClosed: return "closed";
    case ConnState::kDone: return "done";
  }
  return "?";
}

Loop::Loop(Shared& shared, unsigned index, std::vector<uint64_t> global_indices,
           Workload& workload, uint64_t seed)
    : shared_(shared),
      index_(index),
      workload_(workload),
      rng_(seed | 1),
      wheel_(mono_ns() / 1'000'000u) {
  const Options& o = *shared.opt;
  clock_.loop = this;
  backoff_policy_.min_ms = o.backoff_min_ms;
  backoff_policy_.max_ms = o.backoff_max_ms;
  backoff_policy_.reset_after_ms = SessionPolicy::for_echo_route(o.ping_interval_ms).reset_after_ms;
  conns_.reserve(global_indices.size());
  for (size_t i = 0; i < global_indices.size(); ++i) {
    auto c = std::make_unique<Conn>(backoff_policy_, clock_, random64());
    c->slot = uint32_t(i);
    c->global_index = global_indices[i];
    conns_.push_back(std::move(c));
  }
  unsigned threads = o.threads;
  max_connecting_ = size_t((o.max_connecting + threads - 1) / threads);
  if (max_connecting_ == 0) max_connecting_ = 1;
  connect_rate_ = o.connect_rate / threads;
  for (const Url& u : o.urls) host_headers_.push_back(u.host_header());
}

Loop::~Loop() {
  for (auto& c : conns_) wheel_.cancel(c->timer);
  if (ring_ready_) {
    if (!direct_)
      for (auto& c : conns_)
        if (c->fd >= 0) close(c->fd);
    io_uring_queue_exit(&ring_);
  }
}

uint64_t Loop::clock_ns() { return mono_ns(); }

uint64_t Loop::random64() {  // xorshift64*
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dull;
}

void Loop::update_clock() {
  now_ns_ = mono_ns();
  now_ms_ = now_ns_ / 1'000'000u;
}

bool Loop::init(std::string& err) {
  update_clock();
  io::RingOptions ro;
  ro.entries = kRingEntries;
  io::RingFeatures got;
  int r = io::setup_ring(ring_, ro, got);
  if (r < 0) {
    err = std::string("io_uring setup: ") + strerror(-r);
    return false;
  }
  ring_ready_ = true;
  r = buffers_.init(ring_, kRecvBuffers, kRecvBufferSize);
  if (r < 0) {
    err = std::string("provided buffer ring: ") + strerror(-r);
    return false;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  uint64_t fd_limit = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  if (opt().direct_descriptors) {
    // Each ring has its own table, capped by RLIMIT_NOFILE: threads multiply the capacity.
    if (conns_.size() > fd_limit) {
      err = "thread " + std::to_string(index_) + " would hold " +
            std::to_string(conns_.size()) + " connections but a ring's descriptor table is " +
            "capped at RLIMIT_NOFILE (" + std::to_string(fd_limit) + "): use more --threads";
      return false;
    }
    r = io_uring_register_files_sparse(&ring_, unsigned(std::max<size_t>(conns_.size(), 1)));
    if (r < 0) {
      err = std::string("direct descriptor table: ") + strerror(-r) +
            " (try --no-direct-descriptors)";
      return false;
    }
    direct_ = true;
  } else if (opt().total_connections() + 64 > fd_limit) {
    err = "--no-direct-descriptors: " + std::to_string(opt().total_connections()) +
          " connections do not fit the process's descriptor limit (" + std::to_string(fd_limit) +
          ")";
    return false;
  }
  return true;
}

io_uring_sqe* Loop::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

Conn* Loop::find(uint32_t slot, uint32_t gen) {
  if (slot >= conns_.size()) return nullptr;
  Conn* c = conns_[slot].get();
  return c->gen == gen ? c : nullptr;
}

// ---- connecting ----------------------------------------------------------------------------

void Loop::enqueue(Conn& c) {
  if (c.has(conn_flag::kQueued)) return;
  c.flags |= conn_flag::kQueued;
  connect_queue_.push_back(c.slot);
}

void Loop::start_connects() {
  if (stopping_) return;
  if (connect_rate_ > 0) {
    double burst = std::max(1.0, connect_rate_ / 100.0);  // at most 10 ms worth at once
    tokens_ = std::min(burst, tokens_ + double(now_ns_ - tokens_at_ns_) * connect_rate_ / 1e9);
    tokens_at_ns_ = now_ns_;
  }
  while (!connect_queue_.empty() && connecting_ < max_connecting_) {
    if (connect_rate_ > 0 && tokens_ < 1.0) break;
    Conn& c = *conns_[connect_queue_.front()];
    connect_queue_.pop_front();
    c.flags &= ~conn_flag::kQueued;
    if (c.state != ConnState::kWaiting) continue;
    if (connect_rate_ > 0) tokens_ -= 1.0;
    start_connect(c);
  }
}

void Loop::start_connect(Conn& c) {
  const Options& o = opt();
  c.flags = 0;
  c.attempt_start_ns = now_ns_;
  ++c.attempts;
  Counters::add(counters_.attempts_total);
  // No socket to close: count, log and wait out the backoff right here.
  auto setup_failed = [&](const char* what, int e) {
    Counters::add(counters_.errors);
    note_error(what, strerror(e));
    decide_reconnect(c, std::string(what) + ": " + strerror(e));
    c.flags &= ~conn_flag::kEndDecided;
    wheel_.arm(c.timer, now_ms_ + c.retry_delay_ms);
  };
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return setup_failed("socket", errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!o.source_addrs.empty()) {
    // The port is picked at connect time from the full 4-tuple, so each source address has
    // its own ephemeral range towards the server.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = o.source_addrs[c.global_index % o.source_addrs.size()];
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      int e = errno;
      close(fd);
      return setup_failed("bind", e);
    }
  }
  if (direct_) {
    // Into this ring's table at the connection's slot; the ordinary descriptor goes at once,
    // so the process never holds more than one at a time.
    int r = io_uring_register_files_update(&ring_, c.slot, &fd, 1);
    close(fd);
    if (r < 0) return setup_failed("register descriptor", -r);
    c.fd = int(c.slot);
  } else {
    c.fd = fd;
  }
  io_uring_sqe* sqe = get_sqe();
  const sockaddr_in& dest = o.urls[o.url_index(c.global_index)].addr;
  io_uring_prep_connect(sqe, c.fd, reinterpret_cast<const sockaddr*>(&dest), sizeof dest);
  if (direct_) sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = pack(kUdConnect, c.slot, c.gen);
  ++c.inflight;
  c.state = ConnState::kConnecting;
  ++connecting_;
  // Until the hello says otherwise (gateway route), the echo route's policy applies.
  SessionPolicy policy = SessionPolicy::for_echo_route(o.ping_interval_ms);
  c.dead_after_ms = shared_.gateway_route ? 0 : policy.dead_after_ms;
  c.backoff.set_reset_after_ms(policy.reset_after_ms);
  wheel_.arm(c.timer, now_ms_ + o.connect_timeout_ms);
}

void Loop::on_connect(Conn& c, int res) {
  if (c.state != ConnState::kConnecting) return;
  if (res < 0) {
    fail(c, "connect", strerror(-res));
    return;
  }
  if (shared_.tls) {
    c.tls = std::make_unique<tls::Session>(*shared_.tls, opt().urls[opt().url_index(c.global_index)].host);
    if (!c.tls->ok() || !c.tls->start_handshake()) {
      fail(c, "tls", "cannot start the handshake");
      return;
    }
    c.state = ConnState::kTls;
    flush(c);  // the ClientHello
  } else {
    start_upgrade(c);
  }
  arm_recv(c);
}

void Loop::start_upgrade(Conn& c) {
  c.state = ConnState::kUpgrading;
  c.key_seed = random64();
  size_t u = opt().url_index(c.global_index);
  if (!append_upgrade_request(c.out, host_headers_[u], opt().urls[u].path,
                              websocket_key(c.key_seed), opt().deflate)) {
    fail(c, "upgrade", "out of memory");
    return;
  }
  flush(c);
}

// ---- io ------------------------------------------------------------------------------------

void Loop::arm_recv(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  io::prep_recv_multishot(sqe, c.fd, direct_);
  sqe->user_data = pack(kUdRecv, c.slot, c.gen);
  c.flags |= conn_flag::kRecvArmed;
  ++c.inflight;
}

void Loop::submit_send(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  if (c.tls) {
    std::span<const uint8_t> records = c.tls->output();  // stable until consumed()
    io::prep_stream_send(sqe, c.fd, direct_, records.data(), records.size());
  } else {
    io::prep_stream_send(sqe, c.fd, direct_, c.sending.data() + c.sent, c.sending.size() - c.sent);
  }
  sqe->user_data = pack(kUdSend, c.slot, c.gen);
  c.flags |= conn_flag::kSendInFlight;
  ++c.inflight;
}

void Loop::flush(Conn& c) {
  if (c.has(conn_flag::kDirty)) return;
  c.flags |= conn_flag::kDirty;
  dirty_.push_back(&c);
}

bool Loop::queue_text(Conn& c, std::string_view text) {
  if (!client::append_text_frame(c.out, text, uint32_t(random64()))) {
    fail(c, "send", "out of memory");
    return false;
  }
  flush(c);
  return true;
}

void Loop::stamp_queued(Conn& c, uint64_t& stamp) {
  if (!c.sent_at || c.stamped_to == c.next_seq) return;
  // Messages queued this turn leave now: stamp them (open-loop ones carry their intended time
  // already).
  if (!stamp) stamp = mono_ns();
  uint64_t depth = opt().depth;
  for (uint64_t s = c.stamped_to; s != c.next_seq; ++s) {
    uint64_t& t = c.sent_at[s % depth];
    if (t == 0) t = stamp;
  }
  c.stamped_to = c.next_seq;
}

void Loop::flush_dirty() {
  uint64_t stamp = 0;
  for (Conn* c : dirty_) {
    c->flags &= ~conn_flag::kDirty;
    if (!c->open() || c->has(conn_flag::kSendInFlight)) continue;
    if (c->tls) {
      // Frames are sealed into records once the handshake is done (before it, only the
      // handshake's own records go out); the records are sent from the session's output.
      if (c->tls->ready() && !c->out.empty()) {
        stamp_queued(*c, stamp);
        if (!c->tls->seal(c->out.span())) {
          fail(*c, "tls", "cannot seal");
          continue;
        }
        c->out.clear();
        c->ctrl_len = 0;
      }
      if (!c->tls->output().empty()) submit_send(*c);
      continue;
    }
    if (c->out.empty()) continue;
    stamp_queued(*c, stamp);
    std::swap(c->out, c->sending);  // `sending` is empty whenever no send is in flight
    c->sent = 0;
    c->ctrl_len = 0;
    submit_send(*c);
  }
  dirty_.clear();
}

void Loop::on_send(Conn& c, int res) {
  c.flags &= ~conn_flag::kSendInFlight;
  if (!c.open()) return;
  if (res > 0 && c.tls) {
    Counters::add(counters_.bytes_out, uint64_t(res));
    c.tls->consumed(size_t(res));
    if (!c.tls->output().empty()) submit_send(c);  // the rest, or records sealed meanwhile
    else if (!c.out.empty()) flush(c);
    else if (!workload_.keeps_buffers(c)) c.out.release();
    return;
  }
  if (res > 0) {
    Counters::add(counters_.bytes_out, uint64_t(res));
    c.sent += uint32_t(res);
    if (c.sent < c.sending.size()) {  // the rest goes first, before anything queued since
      submit_send(c);
      return;
    }
    c.sending.clear();
    c.sent = 0;
    if (!c.out.empty()) {
      flush(c);
    } else if (!workload_.keeps_buffers(c)) {
      c.sending.release();
      c.out.release();
    }
    return;
  }
  if (res == -EAGAIN || res == -EINTR) {
    submit_send(c);
    return;
  }
  if (c.state == ConnState::kClosing) {  // the server closed first: the close is done
    abort(c);
    return;
  }
  fail(c, "send", strerror(-res));
}

void Loop::on_recv(Conn& c, const io_uring_cqe& cqe) {
  bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) c.flags &= ~conn_flag::kRecvArmed;
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  uint16_t bid = uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (cqe.res > 0) {
    Counters::add(counters_.bytes_in, uint64_t(cqe.res));
    if (c.open()) {
      c.last_rx_ms = now_ms_;
      if (c.tls) on_tls_bytes(c, {buffers_.buffer(bid), size_t(cqe.res)});
      else on_bytes(c, {buffers_.buffer(bid), size_t(cqe.res)});
    }
    buffers_.recycle(bid);
    if (!more && c.open() && !c.has(conn_flag::kRearm)) {
      c.flags |= conn_flag::kRearm;
      rearm_.push_back(&c);
    }
    return;
  }
  if (has_buffer) buffers_.recycle(bid);
  if (!c.open()) return;
  if (cqe.res == 0) {
    on_eof(c);
  } else if (cqe.res == -ENOBUFS) {
    // Every receive buffer is busy this turn: flow control. They are back before the re-arm.
    if (!c.has(conn_flag::kRearm)) {
      c.flags |= conn_flag::kRearm;
      rearm_.push_back(&c);
    }
  } else if (c.state == ConnState::kClosing) {
    abort(c);
  } else {
    fail(c, "recv", strerror(-cqe.res));
  }
}

void Loop::rearm_recvs() {
  for (Conn* c : rearm_) {
    c->flags &= ~conn_flag::kRearm;
    if (c->open() && c->state != ConnState::kConnecting && !c->has(conn_flag::kRecvArmed))
      arm_recv(*c);
  }
  rearm_.clear();
}

void Loop::on_cqe(const io_uring_cqe& cqe) {
  uint8_t op = uint8_t(cqe.user_data >> 56);
  Conn* c = find(uint32_t(cqe.user_data), uint32_t(cqe.user_data >> 32) & kGenMask);
  if (!c) {  // cannot happen while every operation is counted, but never touch a stranger
    if (cqe.flags & IORING_CQE_F_BUFFER)
      buffers_.recycle(uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  switch (op) {
    case kUdConnect: on_connect(*c, cqe.res); break;
    case kUdRecv: on_recv(*c, cqe); break;
    case kUdSend: on_send(*c, cqe.res); break;
    default: break;  // cancel, close
  }
  if (!(cqe.flags & IORING_CQE_F_MORE)) --c->inflight;
}

// ---- protocol ------------------------------------------------------------------------------

// wss://: received records into the connection's TLS session, the plaintext on to on_bytes.
void Loop::on_tls_bytes(Conn& c, std::span<const uint8_t> data) {
  struct Sink final : io::PlaintextSink {
    Loop* loop;
    Conn* conn;
    void plaintext(std::span<const uint8_t> bytes) override {
      if (conn->open() && conn->state != ConnState::kClosed) loop->on_bytes(*conn, bytes);
    }
  } sink;
  sink.loop = this;
  sink.conn = &c;
  io::Transport::In in = c.tls->on_recv(data, sink);  // the session lives until reap()
  if (!c.open() || c.state == ConnState::kClosed) return;
  if (in == io::Transport::In::kFailed) {
    std::string why = c.tls->certificate_error();
    fail(c, "tls", why.empty() ? c.tls->error() : "certificate refused: " + why);
    return;
  }
  if (c.state == ConnState::kTls && c.tls->ready()) {
    if (measuring()) {
      Counters::add(counters_.tls_handshakes);
      if (c.tls->resumed()) Counters::add(counters_.tls_resumed);
    }
    start_upgrade(c);
    if (!c.open()) return;
  }
  if (!c.tls->output().empty()) flush(c);  // handshake records, alerts
  if (in == io::Transport::In::kPeerClosed) on_eof(c);
}

void Loop::on_bytes(Conn& c, std::span<const uint8_t> data) {
  if (c.has(conn_flag::kCloseReceived)) return;  // nothing after the server's close counts
  if (c.state == ConnState::kUpgrading) {
    size_t used = c.head.feed(data);
    data = data.subspan(used);
    if (c.head.state() == ResponseHeadReader::State::kError) {
      fail(c, "upgrade", "response head over 8 KiB");
      return;
    }
    if (c.head.state() == ResponseHeadReader::State::kNeedMore) return;
    int status = 0;
    std::string err;
    ws::DeflateAgreement deflate;
    bool ok = check_upgrade_response(c.head.head(), websocket_key(c.key_seed), status, err,
                                     opt().deflate, &deflate);
    c.head.release();
    c.parser.set_deflate(deflate);
    c.deflate_window =
        deflate.accepted && deflate.client_window_bits >= 9 ? deflate.client_window_bits : 0;
    if (!ok && status == 503) {
      // The HTTP form of UNAVAILABLE (a draining server): not an error, retried with backoff.
      Counters::add(counters_.unavailable);
      decide_reconnect(c, "upgrade: 503 (server draining)");
      abort(c);
      return;
    }
    if (!ok) {
      fail(c, "upgrade", err);
      return;
    }
    on_upgraded(c);
    if (!c.open()) return;
  }
  if (data.empty()) return;
  LoopSink sink;
  sink.loop = this;
  sink.conn = &c;
  client::ReadFailure f = c.parser.feed(data, sink);
  if (f.close_code && c.open() && c.state != ConnState::kClosed) fail(c, "frame", f.what);
}

void Loop::on_upgraded(Conn& c) {
  if (shared_.gateway_route) {
    c.state = ConnState::kChallenge;
    return;
  }
  become_ready(c);
}

bool Loop::on_frame(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload) {
  if (c.state == ConnState::kClosed) return false;
  switch (opcode) {
    case ws::Opcode::kPing: {
      // Pongs go ahead of queued data, behind earlier control frames; `out` holds whole frames
      // only (a partly sent frame lives in `sending`), so this is a frame boundary.
      uint8_t frame[client::kMaxClientHeader + ws::kMaxControlPayload];
      uint32_t mask = uint32_t(random64());
      size_t h = client::encode_client_header(frame, ws::Opcode::kPong, payload.size(), mask);
      if (!payload.empty()) std::memcpy(frame + h, payload.data(), payload.size());
      client::mask_bytes(frame + h, payload.size(), mask);
      if (!c.out.insert(c.ctrl_len, frame, h + payload.size())) {
        fail(c, "pong", "out of memory");
        return false;
      }
      c.ctrl_len += uint32_t(h + payload.size());
      Counters::add(counters_.pings);
      flush(c);
      return true;
    }
    default: break;
  }
  switch (c.state) {
    case ConnState::kChallenge:
      if (opcode != ws::Opcode::kText) {
        fail(c, "challenge", "not a text frame");
        return false;
      }
      on_challenge(c, payload);
      return c.open();
    case ConnState::kHello:
      if (opcode != ws::Opcode::kText) {
        fail(c, "hello", "not a text frame");
        return false;
      }
      on_connect_response(c, payload);
      return c.open();
    case ConnState::kReady:
    case ConnState::kClosing:
      return workload_.on_message(*this, c, opcode, payload) && c.open();
    default:
      return false;
  }
}

void Loop::on_challenge(Conn& c, std::span<const uint8_t> payload) {
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  auto nonce = client::parse_challenge(text);
  if (!nonce) {
    // A server over a limit answers the upgrade with an error (UNAVAILABLE) instead.
    client::ConnectResponse r = client::parse_connect_response(text);
    if (r.parsed && !r.ok) {
      on_refused(c, r);
      return;
    }
    fail(c, "challenge", "first message is not connect.challenge");
    return;
  }
  scratch_.clear();
  if (!workload_.append_connect_request(*this, c, *nonce, scratch_)) {
    if (shared_.identities.empty()) {
      fail(c, "connect", "the gateway route needs --keys");
      return;
    }
    append_device_connect_request(scratch_, c, *nonce, opt().scopes);
  }
  c.state = ConnState::kHello;
  queue_text(c, scratch_);
}

const LoadIdentity& Loop::identity_for(const Conn& c) const {
  // Round-robin over the keys: connection g's k-th attempt uses key g + k * connections, so
  // a storm of a few connections still cycles through every key.
  const auto& ids = shared_.identities;
  uint64_t k = c.global_index + (c.attempts - 1) * opt().total_connections();
  return ids[k % ids.size()];
}

void Loop::append_device_connect_request(std::string& out, const Conn& c, std::string_view nonce,
                                         std::span<const std::string> scopes) {
  static const client::ClientInfo info = load_client_info();
  append_connect_request(out, identity_for(c), nonce, scopes, epoch_ms(), "1", info);
}

void Loop::on_connect_response(Conn& c, std::span<const uint8_t> payload) {
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  client::ConnectResponse r = client::parse_connect_response(text);
  if (!r.parsed) {
    fail(c, "hello", "the reply to connect is not a response");
    return;
  }
  if (r.ok) {
    SessionPolicy policy = SessionPolicy::from_hello(r.ping_interval_ms, r.idle_timeout_ms);
    c.dead_after_ms = policy.dead_after_ms;
    c.backoff.set_reset_after_ms(policy.reset_after_ms);
    become_ready(c);
    return;
  }
  on_refused(c, r);
}

void Loop::on_refused(Conn& c, const client::ConnectResponse& r) {
  // The server follows an error with a close frame; the close handshake ends the attempt.
  if (r.code == "UNAVAILABLE") {
    Counters::add(counters_.unavailable);
    uint64_t delay = 0;
    if (opt().respect_retry && r.retry_after_ms) {
      // Up to 10% more, so shed clients do not all come back in the same millisecond.
      delay = r.retry_after_ms + random64() % (r.retry_after_ms / 10 + 1);
    }
    retry_after(c, delay);
    return;
  }
  Counters::add(counters_.errors);
  Counters::add(counters_.auth_failures);
  note_error("connect refused", r.code);
  decide_reconnect(c, "connect refused: " + r.code);
}

void Loop::become_ready(Conn& c) {
  if (c.state >= ConnState::kConnecting && c.state <= ConnState::kHello) --connecting_;
  c.state = ConnState::kReady;
  c.flags |= conn_flag::kEstablished;
  Counters::add(counters_.established);
  uint64_t est = Counters::get(counters_.established);
  if (est > Counters::get(counters_.max_established))
    counters_.max_established.store(est, std::memory_order_relaxed);
  uint64_t latency = now_ns_ - c.attempt_start_ns;
  connect_latency_all_.record(latency);
  if (measuring()) {
    Counters::add(counters_.connects);
    connect_latency_.record(latency);
  }
  Counters::add(counters_.connects_total);
  counters_.last_ready_ns.store(now_ns_, std::memory_order_relaxed);
  c.backoff.on_session_start();
  c.last_rx_ms = now_ms_;
  if (c.dead_after_ms)
    wheel_.arm(c.timer, now_ms_ + c.dead_after_ms);
  else
    wheel_.cancel(c.timer);
  workload_.on_ready(*this, c);
}

void Loop::on_server_close(Conn& c, uint16_t code, std::string_view reason) {
  if (c.state == ConnState::kClosed) return;
  c.flags |= conn_flag::kCloseReceived;
  if (!c.has(conn_flag::kEndDecided)) {
    std::string why = "server closed";
    if (code) {
      why += ' ';
      why += std::to_string(code);
    }
    if (!reason.empty()) {
      why += ' ';
      why += reason;
    }
    decide_reconnect(c, why);
  }
  if (!c.has(conn_flag::kCloseSent)) {
    // Echo the code (RFC 6455 §5.5.1); the server then closes TCP and we close on its EOF.
    uint16_t reply = (code >= 1000 && code != 1005 && code != 1006 && code != 1015) ? code : 0;
    c.flags |= conn_flag::kCloseSent;
    if (!client::append_close_frame(c.out, reply, {}, uint32_t(random64()))) {
      abort(c);
      return;
    }
    flush(c);
  }
  c.state = ConnState::kClosing;
  wheel_.arm(c.timer, now_ms_ + opt().close_timeout_ms);
}

void Loop::begin_close(Conn& c, uint16_t code) {
  if (!c.open() || c.state == ConnState::kClosed) return;
  if (c.has(conn_flag::kCloseSent)) return;
  if (c.state < ConnState::kChallenge) {  // no WebSocket yet: nothing to say goodbye to
    abort(c);
    return;
  }
  c.flags |= conn_flag::kCloseSent;
  if (!client::append_close_frame(c.out, code, {}, uint32_t(random64()))) {
    abort(c);
    return;
  }
  flush(c);
  if (c.state != ConnState::kClosing) {
    c.state = ConnState::kClosing;
    wheel_.arm(c.timer, now_ms_ + opt().close_timeout_ms);
  }
}

void Loop::on_eof(Conn& c) {
  if (c.state != ConnState::kClosing) {
    if (!c.has(conn_flag::kEndDecided)) {
      Counters::add(counters_.errors);
      note_error("eof", std::string("server closed TCP during ") + state_name(c.state));
      decide_reconnect(c, std::string("EOF during ") + state_name(c.state));
    }
  }
  abort(c);
}

void Loop::on_timer(Conn& c) {
  switch (c.state) {
    case ConnState::kWaiting:
      enqueue(c);
      return;
    case ConnState::kConnecting:
    case ConnState::kTls:
    case ConnState::kUpgrading:
    case ConnState::kChallenge:
    case ConnState::kHello:
      fail(c, "timeout", std::string("no progress past ") + state_name(c.state) +
                             " within --connect-timeout");
      return;
    case ConnState::kReady:
      if (SessionPolicy{c.dead_after_ms, 0}.is_dead(c.last_rx_ms, now_ms_)) {
        Counters::add(counters_.dead);
        fail(c, "dead", "silent for 3 ping intervals");
        return;
      }
      if (c.dead_after_ms) wheel_.arm(c.timer, c.last_rx_ms + c.dead_after_ms);
      return;
    case ConnState::kClosing:
      abort(c);  // the close handshake timed out
      return;
    default: return;
  }
}

// ---- endings -------------------------------------------------------------------------------

void Loop::retry_after(Conn& c, uint64_t delay_ms) {
  if (c.has(conn_flag::kEndDecided)) return;
  c.flags |= conn_flag::kEndDecided;
  c.retry_delay_ms = stopping_ ? kNoRetry : delay_ms;
  // A planned end still closes the session for the backoff's bookkeeping.
  if (c.backoff.in_session()) {
    c.backoff.next_delay_ms();
    c.backoff.reset();
  }
}

void Loop::decide_reconnect(Conn& c, std::string_view why) {
  if (c.has(conn_flag::kEndDecided)) return;
  c.flags |= conn_flag::kEndDecided;
  if (stopping_) {
    c.retry_delay_ms = kNoRetry;
    return;
  }
  bool had_session = c.backoff.in_session();
  c.retry_delay_ms = c.backoff.next_delay_ms();
  Counters::add(counters_.reconnects);
  if (opt().quiet || !may_log()) return;
  std::string line = reconnect_line(c.global_index, had_session, c.backoff.last_session_ms(), why,
                                    c.retry_delay_ms, c.backoff.attempts());
  std::fprintf(stderr, "%s\n", line.c_str());
}

void Loop::fail(Conn& c, const char* what, std::string_view detail) {
  if (!c.open() || c.state == ConnState::kClosed) return;
  Counters::add(counters_.errors);
  note_error(what, detail);
  std::string why(what);
  if (!detail.empty()) {
    why += ": ";
    why += detail;
  }
  decide_reconnect(c, why);
  abort(c);
}

void Loop::count_error(const char* what, std::string_view detail) {
  Counters::add(counters_.errors);
  note_error(what, detail);
}

void Loop::note_error(std::string_view what, std::string_view detail) {
  std::string key(what);
  if (!detail.empty()) {
    key += ": ";
    key += detail;
  }
  ++error_reasons_[key];
}

bool Loop::may_log() {
  uint64_t window = now_ms_ / 1000;
  if (window != log_window_ms_) {
    log_window_ms_ = window;
    log_lines_ = 0;
  }
  if (log_lines_ < kLogLinesPerSecond) {
    ++log_lines_;
    return true;
  }
  ++suppressed_logs_;
  return false;
}

void Loop::abort(Conn& c) {
  if (!c.open()) return;
  if (c.state >= ConnState::kConnecting && c.state <= ConnState::kHello) --connecting_;
  if (c.has(conn_flag::kEstablished)) {
    c.flags &= ~conn_flag::kEstablished;
    Counters::sub(counters_.established);
  }
  if (!c.has(conn_flag::kEndDecided)) decide_reconnect(c, "closed");
  workload_.on_session_end(*this, c);
  ConnState was = c.state;
  c.state = ConnState::kClosed;
  wheel_.cancel(c.timer);
  // Cancel what is pending by its user_data: the kernel finds that in a hash. Cancelling by
  // descriptor (IORING_ASYNC_CANCEL_FD) scans every pending request of the ring instead, which
  // at tens of thousands of armed receives per ring makes a mass close quadratic.
  bool connecting = was == ConnState::kConnecting;
  for (uint8_t op : {kUdConnect, kUdRecv, kUdSend}) {
    bool pending = op == kUdConnect ? connecting
                   : op == kUdRecv  ? c.has(conn_flag::kRecvArmed)
                                    : c.has(conn_flag::kSendInFlight);
    if (!pending) continue;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, pack(op, c.slot, c.gen), 0);
    sqe->user_data = pack(kUdCancel, c.slot, c.gen);
    ++c.inflight;
  }
  io_uring_sqe* sqe = get_sqe();
  io::prep_close_descriptor(sqe, c.fd, direct_);
  sqe->user_data = pack(kUdClose, c.slot, c.gen);
  ++c.inflight;
  closing_.push_back(&c);
}

void Loop::reap() {
  size_t keep = 0;
  for (Conn* c : closing_) {
    if (c->inflight) {
      closing_[keep++] = c;
      continue;
    }
    c->gen = (c->gen + 1) & kGenMask;
    c->fd = -1;
    c->out.release();
    c->sending.release();
    c->tls.reset();
    c->head.release();
    c->parser.reset();
    c->sent = c->ctrl_len = 0;
    bool queued = c->has(conn_flag::kQueued);
    c->flags = queued ? conn_flag::kQueued : 0;
    if (stopping_ || c->retry_delay_ms == kNoRetry) {
      c->state = ConnState::kDone;
      ++done_;
    } else if (c->retry_delay_ms == 0) {
      c->state = ConnState::kWaiting;
      enqueue(*c);
    } else {
      c->state = ConnState::kWaiting;
      wheel_.arm(c->timer, now_ms_ + c->retry_delay_ms);
    }
  }
  closing_.resize(keep);
}

// ---- the loop ------------------------------------------------------------------------------

void Loop::on_phase(Phase p) {
  phase_ = p;
  if (p != Phase::kStop || stopping_) return;
  stopping_ = true;
  stop_deadline_ms_ = now_ms_ + opt().close_timeout_ms + kStopGraceMs;
  for (auto& up : conns_) {
    Conn& c = *up;
    switch (c.state) {
      case ConnState::kWaiting:
        wheel_.cancel(c.timer);
        c.state = ConnState::kDone;
        ++done_;
        break;
      case ConnState::kConnecting:
      case ConnState::kTls:
      case ConnState::kUpgrading:
      case ConnState::kChallenge:
      case ConnState::kHello:
        retry_after(c, kNoRetry);
        abort(c);
        break;
      case ConnState::kReady:
        retry_after(c, kNoRetry);
        begin_close(c, 1000);
        break;
      default:
        c.retry_delay_ms = kNoRetry;
        break;
    }
  }
}

uint64_t Loop::wait_ns() const {
  uint64_t wait = kMaxWaitNs;
  if (auto t = wheel_.next_timeout()) wait = std::min(wait, *t * 1'000'000u);
  if (!connect_queue_.empty() && connecting_ < max_connecting_ && !stopping_) {
    if (connect_rate_ <= 0 || tokens_ >= 1.0) return 0;
    wait = std::min(wait, uint64_t((1.0 - tokens_) / connect_rate_ * 1e9) + 1);
  }
  if (uint64_t w = workload_.next_wakeup_ns(*this)) wait = std::min(wait, w > now_ns_ ? w - now_ns_ : 0);
  return wait;
}

void Loop::run() {
  update_clock();
  tokens_at_ns_ = now_ns_;
  for (auto& c : conns_) enqueue(*c);
  for (;;) {
    auto p = Phase(shared_.phase.load(std::memory_order_acquire));
    if (p != phase_) on_phase(p);
    if (stopping_) {
      if (done_ == conns_.size()) break;
      if (now_ms_ >= stop_deadline_ms_ && !forced_) {
        forced_ = true;
        for (auto& c : conns_) {
          c->retry_delay_ms = kNoRetry;
          abort(*c);
        }
      }
      if (forced_ && now_ms_ >= stop_deadline_ms_ + kStopGraceMs) break;
    }
    start_connects();
    workload_.on_turn(*this);
    flush_dirty();
    rearm_recvs();

    uint64_t wait = wait_ns();
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{};
    ts.tv_sec = int64_t(wait / 1'000'000'000u);
    ts.tv_nsec = int64_t(wait % 1'000'000'000u);
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    update_clock();

    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      on_cqe(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    buffers_.publish();
    wheel_.advance(now_ms_, [this](timer::TimerNode& n) {
      on_timer(*static_cast<ConnTimer&>(n).owner);
    });
    reap();
  }
  // Operations still in flight (forced stop) are cancelled by the ring's teardown.
  counters_.finished.store(true, std::memory_order_release);
}

}  // namespace ringway::load
