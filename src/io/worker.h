#pragma once
// One worker: one thread, one ring, one listener, one timer wheel, and the connections it
// accepted. Nothing here is shared with other workers except the mailbox.
#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "io/conn.h"
#include "io/handler.h"
#include "io/ring.h"
#include "io/user_data.h"
#include "timer/timer_wheel.h"

namespace ringway::io {

struct WorkerOptions {
  unsigned index = 0;
  RingOptions ring;
  bool direct_descriptors = true;  // accept into the ring's own descriptor table
  unsigned max_connections = 0;    // 0: as many as the descriptor table allows
  // With ordinary descriptors all workers share the process limit: this worker's share.
  unsigned ordinary_fd_share = 0;
  unsigned recv_buffers = 1024;    // power of two
  unsigned recv_buffer_size = 16384;
  uint64_t drain_timeout_ms = 6000;  // after this, shutdown closes what is left
};

struct WorkerStats {
  uint64_t accepted = 0, closed = 0, accept_errors = 0, rejected_full = 0;
  uint64_t bytes_in = 0, bytes_out = 0, recv_enobufs = 0, partial_sends = 0;
  uint64_t loop_turns = 0;
};

class Worker {
 public:
  Worker(const WorkerOptions& opts, ConnectionHandler& handler, int listen_fd);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Must run on the worker's own thread (the ring is single-issuer). Returns false with a
  // reason when the ring cannot be set up.
  bool init(std::string& err);
  void run();

  // Thread-safe: begin a graceful shutdown / run fn on the worker's thread.
  void request_drain();
  void post(std::function<void(Worker&)> fn);

  // ---- for the handler, on the worker's thread ----
  uint64_t now() const { return now_ms_; }
  bool draining() const { return draining_; }
  unsigned index() const { return opts_.index; }
  // Queue output: append to c.out (data) or use queue_control, then call flush.
  void flush(Conn& c);
  // Control frames jump queued data frames: they go out at the next frame boundary.
  bool queue_control(Conn& c, std::span<const uint8_t> frame);
  // After every queued byte is sent, shut down our writing side (the peer reads all of it,
  // then sees EOF). Reading goes on so a close frame or FIN from the peer is still seen.
  void shutdown_after_flush(Conn& c);
  // Close now: cancel everything in flight, close the descriptor, free at the end of the turn.
  void abort(Conn& c);
  void arm_timer(Conn& c, uint64_t at_ms) { wheel_.arm(c.timer, at_ms); }
  void cancel_timer(Conn& c) { wheel_.cancel(c.timer); }
  size_t live_connections() const { return live_; }
  // The connection in slot with this generation, unless it has gone or is closing.
  Conn* find(uint32_t slot, uint32_t gen) {
    Conn* c = lookup(slot, gen);
    return (c && !c->has(conn_flag::kClosing)) ? c : nullptr;
  }
  template <class Fn> void for_each_connection(Fn&& fn) {
    for (Conn* c : slots_)
      if (c && !c->has(conn_flag::kClosing)) fn(*c);
  }
  const WorkerStats& stats() const { return stats_; }
  bool using_direct_descriptors() const { return direct_; }
  bool using_defer_taskrun() const { return features_.defer_taskrun; }

 private:
  io_uring_sqe* get_sqe();
  void arm_accept();
  void arm_recv(Conn& c);
  void arm_wake();
  void submit_send(Conn& c);
  void submit_shutdown(Conn& c);
  void submit_close(Conn& c);
  void cancel_op(Conn& c, Op op);
  void on_cqe(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_recv(Conn& c, const io_uring_cqe& cqe);
  void on_send(Conn& c, const io_uring_cqe& cqe);
  void on_peer_name(Conn& c, int res);
  void on_wake();
  void begin_drain();
  Conn* lookup(uint32_t slot, uint32_t gen);
  void flush_dirty();
  void rearm_recvs();
  void fire_timers();
  void reap();
  void free_conn(Conn& c);
  static Conn& from_timer(timer::TimerNode& n);

  WorkerOptions opts_;
  ConnectionHandler& handler_;
  int listen_fd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  RingFeatures features_;
  BufferRing buffers_;
  bool direct_ = false;
  timer::TimerWheel wheel_;
  uint64_t now_ms_ = 0;

  std::vector<Conn*> slots_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_slots_;
  std::vector<sockaddr_in6> peer_scratch_;  // SO_PEERNAME results, one per slot
  int peer_len_ = sizeof(sockaddr_in);
  size_t live_ = 0;
  Conn* dirty_head_ = nullptr;
  std::vector<Conn*> rearm_;
  std::vector<Conn*> closing_;
  bool accept_armed_ = false;
  bool accept_paused_ = false;  // descriptor table full (the kernel refused an accept)
  bool refusing_logged_ = false;  // "full" said once until the load falls below 90%

  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
  std::atomic<bool> drain_requested_{false};
  bool draining_ = false;
  uint64_t drain_deadline_ = 0;
  std::mutex mail_mu_;
  std::vector<std::function<void(Worker&)>> mail_;

  WorkerStats stats_;
};

}  // namespace ringway::io
