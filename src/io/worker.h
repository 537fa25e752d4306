#pragma once
// One worker: one thread, one ring, one listener, one timer wheel, and the connections it
// accepted. Nothing here is shared with other workers; other threads reach it only through
// mail rings (mail.h).
#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/counter.h"
#include "io/conn.h"
#include "io/handler.h"
#include "io/mail.h"
#include "io/out_queue.h"
#include "io/ring.h"
#include "io/transport.h"
#include "io/user_data.h"
#include "timer/timer_wheel.h"

namespace ringway::io {

// One listening socket of a worker, and how its connections' bytes are carried.
struct Listener {
  int fd = -1;
  TransportFactory* transport = nullptr;  // null: plain
};

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
  uint64_t accept_retry_ms = 100;    // accept paused by a full descriptor table retries after this
  // A wait for the next timer ends on a multiple of this many milliseconds of the clock, so a
  // worker whose many connections have a timer due nearly every millisecond wakes at most
  // 1000 / timer_slack_ms times a second and fires everything due in the window at once. Every
  // deadline is seconds long, so firing up to this late changes nothing a peer can see. 0 or 1:
  // wake for each millisecond.
  uint64_t timer_slack_ms = 10;
};

// How long to wait for a timer due in wait_ms: until the first multiple of slack_ms of the clock
// at or after it (WorkerOptions::timer_slack_ms). A timer already due (0) is not delayed.
uint64_t slack_wait(uint64_t now_ms, uint64_t wait_ms, uint64_t slack_ms);

// Written by the worker's thread only; any thread may read them (common/counter.h).
struct WorkerStats {
  Counter accepted, closed, accept_errors, refused, accept_pauses;
  Counter bytes_in, bytes_out, recv_enobufs, partial_sends, vectored_sends;
  Counter loop_turns, sq_full, mail_in, mail_full, dropped_after_close, transport_failures;
  Counter live;  // gauge: connections held now

  // Every counter with its name, for the exit log line and the metrics.
  template <class F> void each(F&& f) const {
    f("accepted", accepted), f("closed", closed), f("accept_errors", accept_errors);
    f("refused", refused), f("accept_pauses", accept_pauses), f("bytes_in", bytes_in);
    f("bytes_out", bytes_out), f("recv_enobufs", recv_enobufs);
    f("partial_sends", partial_sends), f("vectored_sends", vectored_sends);
    f("loop_turns", loop_turns), f("sq_full", sq_full), f("mail_in", mail_in);
    f("mail_full", mail_full), f("dropped_after_close", dropped_after_close);
    f("transport_failures", transport_failures);
  }
};

class Worker {
 public:
  // hub may be null (no mail); otherwise this worker is consumer and producer `opts.index`.
  // The worker owns the listeners' descriptors.
  Worker(const WorkerOptions& opts, ConnectionHandler& handler, std::vector<Listener> listeners,
         MailHub* hub);
  // One plain listener.
  Worker(const WorkerOptions& opts, ConnectionHandler& handler, int listen_fd, MailHub* hub)
      : Worker(opts, handler, std::vector<Listener>{Listener{listen_fd, nullptr}}, hub) {}
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Must run on the worker's own thread (the ring is single-issuer). Returns false with a
  // reason when the ring cannot be set up.
  bool init(std::string& err);
  void run();

  // Thread-safe: begin a graceful shutdown.
  void request_drain();

  // ---- for the handler, on the worker's thread ----
  uint64_t now() const { return now_ms_; }
  bool draining() const { return draining_; }
  unsigned index() const { return opts_.index; }

  // Output. Each returns true when the bytes were queued; false when they were dropped because
  // the connection's final frame is already queued or it is closing. Out of memory closes the
  // connection (and returns false). Everything queued in a turn goes out in one send at its end.
  bool send_data(Conn& c, std::span<const uint8_t> a, std::span<const uint8_t> b = {});
  // Bytes that control frames must not jump (an HTTP response ahead of WebSocket frames).
  bool send_raw(Conn& c, std::span<const uint8_t> bytes);
  // A slice of a shared block; the queue takes its own reference.
  bool send_shared(Conn& c, Block* block, uint32_t off, uint32_t len);
  // A control frame for the next frame boundary; replaces a pending one of the same kind.
  bool send_control(Conn& c, ControlKind kind, std::span<const uint8_t> frame);
  // The last frame (close): after it nothing else is sent on this connection.
  bool send_final(Conn& c, std::span<const uint8_t> frame);
  // Forgets queued output that is not yet in flight (slow consumer).
  void drop_unsent(Conn& c) { c.out.drop_unsent(pools_); }
  size_t buffered(const Conn& c) const {
    return c.out.buffered() + (c.transport ? c.transport->buffered() : 0);
  }
  bool output_closed(const Conn& c) const { return c.out.closed(); }

  // After every queued byte is sent, shut down our writing side (the peer reads all of it,
  // then sees EOF). Reading goes on so a close frame or FIN from the peer is still seen.
  void shutdown_after_flush(Conn& c);
  // After every queued byte is sent, close (the peer's FIN came: nothing more will be read).
  void close_after_flush(Conn& c);
  // Close now: cancel everything in flight, close the descriptor, free at the end of the turn.
  void abort(Conn& c);
  // Deadlines. Arming a closing connection does nothing: it is about to be freed.
  void arm_timer(Conn& c, uint64_t at_ms) {
    if (!c.closing()) wheel_.arm(c.timer, at_ms);
  }
  void cancel_timer(Conn& c) { wheel_.cancel(c.timer); }

  // The next wait ends after at most ms even with nothing due (work retried each turn).
  void poll_after(uint64_t ms) {
    if (now_ms_ + ms < poll_at_) poll_at_ = now_ms_ + ms;
  }

  // Mail to another worker (or to itself). False when that ring is full: the caller decides
  // (answer retryable, or try later); nothing is queued then.
  bool send_mail(unsigned worker, const Mail& m);
  size_t mail_space(unsigned worker);
  unsigned worker_count() const { return hub_ ? hub_->workers() : 1; }

  size_t live_connections() const { return live_; }
  // The connection in slot with this generation, unless it has gone or is closing.
  Conn* find(uint32_t slot, uint32_t gen) {
    Conn* c = lookup(slot, gen);
    return (c && !c->closing()) ? c : nullptr;
  }
  template <class Fn> void for_each_connection(Fn&& fn) {
    for (Conn* c : slots_)
      if (c && !c->closing()) fn(*c);
  }
  const WorkerStats& stats() const { return stats_; }
  const OutPools& pools() const { return pools_; }
  const timer::TimerWheel& wheel() const { return wheel_; }
  bool using_direct_descriptors() const { return direct_; }
  bool using_defer_taskrun() const { return features_.defer_taskrun; }
  bool accepting() const {
    for (const ListenerState& l : listeners_)
      if (l.armed && l.fd >= 0) return true;
    return false;
  }

 private:
  io_uring_sqe* get_sqe();
  void arm_accepts();
  void arm_accept(unsigned i);
  void stop_accepting();
  void arm_recv(Conn& c);
  void arm_wake();
  void submit_send(Conn& c);
  void submit_transport_send(Conn& c);
  bool flush_transport(Conn& c);
  void deliver(Conn& c, std::span<const uint8_t> bytes);
  void submit_shutdown(Conn& c);
  void submit_close(Conn& c);
  void cancel_op(Conn& c, Op op);
  void mark_dirty(Conn& c);
  bool queued(Conn& c, OutQueue::Result r);
  void process_completions();
  void on_cqe(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_recv(Conn& c, const io_uring_cqe& cqe);
  void on_send(Conn& c, const io_uring_cqe& cqe);
  void on_peer_name(Conn& c, int res);
  void open(Conn& c);
  void on_msg_ring_failed(unsigned target, int res);
  void begin_drain();
  void drain_mail();
  void wait_for_work();
  Conn* lookup(uint32_t slot, uint32_t gen);
  void flush_dirty();
  void rearm_recvs();
  void fire_timers();
  void reap();
  void free_conn(Conn& c);
  static Conn& from_timer(timer::TimerNode& n);

  struct ListenerState {
    int fd = -1;
    TransportFactory* transport = nullptr;
    bool armed = false;
    int peer_len = sizeof(sockaddr_in);  // SO_PEERNAME wants the family's exact length
  };

  WorkerOptions opts_;
  ConnectionHandler& handler_;
  std::vector<ListenerState> listeners_;
  MailHub* hub_;
  io_uring ring_{};
  bool ring_ready_ = false;
  RingFeatures features_;
  BufferRing buffers_;
  bool direct_ = false;
  timer::TimerWheel wheel_;
  OutPools pools_;
  uint64_t now_ms_ = 0;

  std::vector<Conn*> slots_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_slots_;
  std::vector<sockaddr_in6> peer_scratch_;  // SO_PEERNAME results, one per slot
  size_t live_ = 0;
  std::vector<uint8_t> plaintext_;  // what a transport decrypts, handed to the handler at once
  Conn* dirty_head_ = nullptr;
  std::vector<Conn*> rearm_;
  std::vector<Conn*> closing_;
  bool accept_paused_ = false;    // the kernel refused an accept (descriptor table full)
  uint64_t accept_retry_at_ = 0;  // when a paused accept is tried again
  bool refusing_logged_ = false;  // "full" said once until the load falls below 90%
  bool mail_backlog_ = false;     // mail left over from this turn: do not sleep
  uint64_t poll_at_ = ~uint64_t(0);  // see poll_after

  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
  std::atomic<bool> drain_requested_{false};
  bool draining_ = false;
  uint64_t drain_deadline_ = 0;

  WorkerStats stats_;
};

}  // namespace ringway::io
