#pragma once
// One client event loop per thread: its own io_uring, direct-descriptor table, provided-buffer
// ring and timer wheel, and the connections assigned to the thread. It runs every connection
// through TCP connect -> HTTP upgrade -> (gateway route: challenge, signed connect, hello) ->
// ready, then hands it to the mode's Workload. wss:// puts a TLS handshake after the TCP
// connect: each connection has a tls::Session (the server's memory-BIO one, as a client) that
// the receives feed and whose records are what the sends carry. It also carries the session
// policy of a well-behaved client: pongs for pings, a connection silent for 3 ping intervals is
// dead, and unplanned ends reconnect after an exponential backoff with jitter (Backoff), logged
// with the session's duration.
#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_buffer.h"
#include "io/ring.h"
#include "load/backoff.h"
#include "load/counters.h"
#include "client/frames.h"
#include "load/histogram.h"
#include "load/keys.h"
#include "load/options.h"
#include "load/upgrade.h"
#include "ringway/client.h"
#include "timer/timer_wheel.h"
#include "tls/context.h"
#include "tls/session.h"

namespace ringway::load {

// The largest server message a connection accepts (echo --size is at most 64 MiB).
inline constexpr size_t kMaxServerMessage = size_t(64) << 20;

class Workload;
class Loop;

// The run's phases, set by the runner and read by every loop once per turn.
enum class Phase : int { kRamp = 0, kWarmup = 1, kMeasure = 2, kStop = 3 };

struct Shared {
  const Options* opt = nullptr;
  std::span<const LoadIdentity> identities;  // the gateway route's device keys
  bool gateway_route = false;                // run the connect flow after the 101
  std::shared_ptr<tls::ClientContext> tls;   // wss://: every thread's sessions are made on it
  std::atomic<int> phase{int(Phase::kRamp)};
};

enum class ConnState : uint8_t {
  kWaiting,     // no socket: queued to connect, or waiting out a reconnect delay
  kConnecting,  // TCP connect in flight
  kTls,         // wss://: TLS handshake
  kUpgrading,   // upgrade request sent, reading the 101
  kChallenge,   // gateway route: waiting for connect.challenge
  kHello,       // gateway route: connect request sent, waiting for the response
  kReady,       // the session is up; the workload drives it
  kClosing,     // close frames being exchanged; waiting for the server's EOF
  kClosed,      // socket close submitted; waiting for in-flight operations to finish
  kDone,        // finished for good (the run is over)
};
const char* state_name(ConnState s);

namespace conn_flag {
enum : uint16_t {
  kRecvArmed = 1 << 0,
  kSendInFlight = 1 << 1,
  kDirty = 1 << 2,
  kRearm = 1 << 3,
  kCloseSent = 1 << 4,
  kCloseReceived = 1 << 5,
  kQueued = 1 << 6,       // in the connect queue
  kEndDecided = 1 << 7,   // retry_delay_ms says what happens after this session
  kEstablished = 1 << 8,  // counted in the established gauge
};
}  // namespace conn_flag

inline constexpr uint64_t kNoRetry = ~uint64_t{0};

struct Conn;
// The wheel's intrusive node with a way back to its connection.
struct ConnTimer : timer::TimerNode {
  Conn* owner = nullptr;
};

struct Conn {
  Conn(const BackoffPolicy& p, Clock& clock, uint64_t seed) : backoff(p, clock, seed) {
    timer.owner = this;
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  ConnTimer timer;  // one deadline at a time; its meaning follows the state
  client::ServerFrameReader parser{kMaxServerMessage};
  ByteBuffer out;      // queued frames; control frames first (ctrl_len bytes)
  ByteBuffer sending;  // the one send in flight (ws://; wss:// sends the TLS session's output)
  std::unique_ptr<tls::Session> tls;  // wss://: from TCP connect until the slot is reaped
  ResponseHeadReader head;
  Backoff backoff;
  uint64_t attempt_start_ns = 0;
  uint64_t last_rx_ms = 0;
  uint64_t dead_after_ms = 0;  // 3 x the server's ping interval; 0: never dead
  uint64_t retry_delay_ms = 0;
  uint64_t key_seed = 0;       // Sec-WebSocket-Key of this attempt
  uint64_t global_index = 0;   // across threads: picks the source address and the key
  uint64_t attempts = 0;       // TCP connects started by this connection
  // echo: send times of the messages in flight, by sequence number modulo depth
  std::unique_ptr<uint64_t[]> sent_at;
  uint64_t next_seq = 0, next_expected = 0, stamped_to = 0;
  uint32_t sent = 0;      // bytes of `sending` done
  uint32_t ctrl_len = 0;  // control frames at the front of `out`
  uint32_t slot = 0;
  uint32_t gen = 0;
  int fd = -1;  // direct descriptor index (== slot) or an ordinary descriptor
  uint16_t inflight = 0;
  uint16_t flags = 0;
  ConnState state = ConnState::kWaiting;
  // permessage-deflate: the window to compress what we send with; 0 sends uncompressed (not
  // negotiated, or only an 8-bit window allowed, which zlib's raw deflate cannot produce: RFC
  // 7692 lets any message go uncompressed).
  uint8_t deflate_window = 0;

  bool has(uint16_t f) const { return (flags & f) != 0; }
  bool open() const {
    return state >= ConnState::kConnecting && state <= ConnState::kClosing;
  }
};

class Loop {
 public:
  Loop(Shared& shared, unsigned index, std::vector<uint64_t> global_indices, Workload& workload,
       uint64_t seed);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Must run on the loop's own thread (the ring is SINGLE_ISSUER).
  bool init(std::string& err);
  void run();

  Counters& counters() { return counters_; }
  // For connections with a deflate_window: one no-context-takeover compressor per thread.
  ws::Deflater& deflater() { return deflater_; }
  const Histogram& latency() const { return latency_; }
  const Histogram& connect_latency() const { return connect_latency_; }
  const Histogram& connect_latency_all() const { return connect_latency_all_; }
  const std::map<std::string, uint64_t>& error_reasons() const { return error_reasons_; }
  uint64_t suppressed_logs() const { return suppressed_logs_; }
  bool direct_descriptors() const { return direct_; }

  // For workloads.
  const Options& opt() const { return *shared_.opt; }
  unsigned index() const { return index_; }
  uint64_t now_ns() const { return now_ns_; }
  uint64_t now_ms() const { return now_ms_; }
  // A fresh CLOCK_MONOTONIC reading (now_ns() is the turn's, taken when it woke up).
  static uint64_t clock_ns();
  Phase phase() const { return phase_; }
  bool measuring() const { return phase_ == Phase::kMeasure; }
  bool stopping() const { return stopping_; }
  uint64_t random64();
  Conn* find(uint32_t slot, uint32_t gen);
  const Conn* find(uint32_t slot, uint32_t gen) const {
    return const_cast<Loop*>(this)->find(slot, gen);
  }
  std::span<const std::unique_ptr<Conn>> conns() const { return conns_; }
  void record_latency(uint64_t ns) { latency_.record(ns); }
  // The device key of this connection's current attempt (round-robin over --keys).
  const LoadIdentity& identity_for(const Conn& c) const;
  // Counts an error (with its reason) and leaves the connection as it is.
  void count_error(const char* what, std::string_view detail);
  // Appends the signed device connect request for this connection's key (needs --keys).
  void append_device_connect_request(std::string& out, const Conn& c, std::string_view nonce,
                                     std::span<const std::string> scopes);
  // Marks the connection for the end-of-turn flush.
  void flush(Conn& c);
  bool queue_text(Conn& c, std::string_view text);
  // Starts the closing handshake with a close frame.
  void begin_close(Conn& c, uint16_t code);
  // Decides what follows this session (if not decided yet): a new attempt after delay_ms, or
  // kNoRetry. No log line: the end is planned.
  void retry_after(Conn& c, uint64_t delay_ms);
  // Counts an error, decides a backoff reconnect (logged) and closes the connection at once.
  void fail(Conn& c, const char* what, std::string_view detail);

 private:
  friend struct LoopSink;
  struct LoopClock final : Clock {
    Loop* loop;
    uint64_t now_ms() override { return loop->now_ms_; }
  };

  io_uring_sqe* get_sqe();
  void update_clock();
  void enqueue(Conn& c);
  void start_connects();
  void start_connect(Conn& c);
  void arm_recv(Conn& c);
  void submit_send(Conn& c);
  void on_cqe(const io_uring_cqe& cqe);
  void on_connect(Conn& c, int res);
  void on_recv(Conn& c, const io_uring_cqe& cqe);
  void on_send(Conn& c, int res);
  void on_bytes(Conn& c, std::span<const uint8_t> data);
  bool on_frame(Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload);
  void on_server_close(Conn& c, uint16_t code, std::string_view reason);
  void on_tls_bytes(Conn& c, std::span<const uint8_t> data);
  void start_upgrade(Conn& c);
  void stamp_queued(Conn& c, uint64_t& stamp);
  void on_upgraded(Conn& c);
  void on_challenge(Conn& c, std::span<const uint8_t> payload);
  void on_connect_response(Conn& c, std::span<const uint8_t> payload);
  void on_refused(Conn& c, const client::ConnectResponse& r);
  void on_eof(Conn& c);
  void on_timer(Conn& c);
  void become_ready(Conn& c);
  void decide_reconnect(Conn& c, std::string_view why);
  void abort(Conn& c);
  void flush_dirty();
  void rearm_recvs();
  void reap();
  void on_phase(Phase p);
  void note_error(std::string_view what, std::string_view detail);
  bool may_log();
  uint64_t wait_ns() const;

  Shared& shared_;
  unsigned index_;
  Workload& workload_;
  uint64_t rng_;
  LoopClock clock_;
  BackoffPolicy backoff_policy_;

  io_uring ring_{};
  bool ring_ready_ = false;
  io::BufferRing buffers_;
  bool direct_ = false;
  std::vector<std::string> host_headers_;  // one per Options::urls
  ws::Deflater deflater_;
  timer::TimerWheel wheel_;

  std::vector<std::unique_ptr<Conn>> conns_;
  std::deque<uint32_t> connect_queue_;
  std::vector<Conn*> dirty_;
  std::vector<Conn*> rearm_;
  std::vector<Conn*> closing_;
  size_t connecting_ = 0;
  size_t done_ = 0;
  size_t max_connecting_ = 1;
  double connect_rate_ = 0;  // per second, this thread's share
  double tokens_ = 0;
  uint64_t tokens_at_ns_ = 0;

  Phase phase_ = Phase::kRamp;
  bool stopping_ = false;
  uint64_t stop_deadline_ms_ = 0;
  bool forced_ = false;
  uint64_t now_ns_ = 0;
  uint64_t now_ms_ = 0;
  std::string scratch_;

  Counters counters_;
  Histogram latency_;              // workload latency, measured window
  Histogram connect_latency_;      // connect start to ready, measured window
  Histogram connect_latency_all_;  // the same over the whole run (idle mode's ramp)
  std::map<std::string, uint64_t> error_reasons_;
  uint64_t log_window_ms_ = 0;
  unsigned log_lines_ = 0;
  uint64_t suppressed_logs_ = 0;
};

}  // namespace ringway::load
