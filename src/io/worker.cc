#include "io/worker.h"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "io/clock.h"
#include "io/user_data.h"

namespace ringway::io {

namespace {
// Ordinary descriptors share the process limit with everything else the process opens.
constexpr unsigned kReservedDescriptors = 64;
// Direct-descriptor table entries beyond the connection cap (see init).
constexpr unsigned kSpareDirectDescriptors = 16;
// Mail records handled per turn before the loop goes back to its sockets (the rest next turn).
constexpr unsigned kMailPerTurn = 4096;
// A full submission queue that a submit cannot empty: the ring is broken; give up loudly.
constexpr unsigned kMaxSubmitAttempts = 1000;
}  // namespace

Worker::Worker(const WorkerOptions& opts, ConnectionHandler& handler,
               std::vector<Listener> listeners, MailHub* hub)
    : opts_(opts), handler_(handler), hub_(hub), wheel_(monotonic_ms()) {
  for (const Listener& l : listeners) listeners_.push_back({l.fd, l.transport, false, 0});
}

Worker::~Worker() {
  for (Conn* c : slots_) {
    if (!c) continue;
    wheel_.cancel(c->timer);
    c->out.release(pools_);
    if (c->transport) listeners_[c->listener].transport->destroy(c->transport);
    delete c;
  }
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (wake_fd_ >= 0) close(wake_fd_);
  for (const ListenerState& l : listeners_)
    if (l.fd >= 0) close(l.fd);
}

bool Worker::init(std::string& err) {
  int r = setup_ring(ring_, opts_.ring, features_);
  if (r < 0) {
    err = std::string("io_uring setup: ") + strerror(-r);
    return false;
  }
  ring_ready_ = true;
  if (opts_.ring.defer_taskrun && !features_.defer_taskrun)
    LOG_WARN("worker %u: kernel refused SINGLE_ISSUER|DEFER_TASKRUN; using a plain ring",
             opts_.index);
  r = buffers_.init(ring_, opts_.recv_buffers, opts_.recv_buffer_size);
  if (r < 0) {
    err = std::string("provided buffer ring: ") + strerror(-r);
    return false;
  }

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  unsigned fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : unsigned(rl.rlim_cur);
  unsigned max_conns = 0;
  if (opts_.direct_descriptors) {
    // A ring's descriptor table is capped by RLIMIT_NOFILE, but each ring has its own. A few
    // entries stay spare so that at capacity an accept still succeeds and the newcomer is
    // closed at once, instead of waiting unanswered in the listen backlog.
    unsigned want = opts_.max_connections ? opts_.max_connections + kSpareDirectDescriptors
                                          : fd_limit;
    unsigned table = std::min(want, fd_limit);
    r = io_uring_register_files_sparse(&ring_, table);
    if (r == 0 && probe_peer_name_command(ring_, listeners_[0].fd)) {
      direct_ = true;
      max_conns = table > kSpareDirectDescriptors ? table - kSpareDirectDescriptors : 1;
    } else {
      if (r == 0) io_uring_unregister_files(&ring_);
      LOG_WARN("worker %u: direct descriptors unavailable (%s); using ordinary descriptors",
               opts_.index, r ? strerror(-r) : "no socket getsockopt command");
    }
  }
  if (!direct_) {
    // Stay under the shared process limit so accept never meets EMFILE: other code in the
    // process (logging, sanitizers, the kernel's own helpers) needs descriptors too.
    unsigned share = opts_.ordinary_fd_share
                         ? opts_.ordinary_fd_share
                         : (fd_limit > kReservedDescriptors ? fd_limit - kReservedDescriptors : 1);
    max_conns = opts_.max_connections ? std::min(opts_.max_connections, share) : share;
  }

  // SO_PEERNAME insists on the exact address length, which follows each listener's family.
  for (ListenerState& l : listeners_) {
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    getsockname(l.fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    l.peer_len = local.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }
  plaintext_.resize(16384);

  slots_.assign(max_conns, nullptr);
  gens_.assign(max_conns, 0);
  peer_scratch_.assign(direct_ ? max_conns : 0, sockaddr_in6{});
  free_slots_.reserve(max_conns);
  for (unsigned i = max_conns; i-- > 0;) free_slots_.push_back(i);

  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    err = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  if (hub_) {
    MailInbox& in = hub_->inbox(opts_.index);
    in.wake_fd = wake_fd_;
    in.ring_fd = ring_.ring_fd;
  }
  return true;
}

io_uring_sqe* Worker::get_sqe() {
  for (unsigned attempt = 0;; ++attempt) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    // The queue is full this turn: hand it to the kernel early and take a fresh entry.
    ++stats_.sq_full;
    int r = io_uring_submit(&ring_);
    if ((r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR) || attempt >= kMaxSubmitAttempts) {
      LOG_ERROR("worker %u: cannot submit to the ring (%s); stopping", opts_.index,
                r < 0 ? strerror(-r) : "queue stays full");
      std::abort();
    }
  }
}

void Worker::arm_accept(unsigned i) {
  ListenerState& l = listeners_[i];
  if (l.armed || l.fd < 0) return;
  io_uring_sqe* sqe = get_sqe();
  if (direct_)
    io_uring_prep_multishot_accept_direct(sqe, l.fd, nullptr, nullptr, 0);
  else
    io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
  sqe->user_data = pack(Op::kAccept, i, 0);
  l.armed = true;
}

void Worker::arm_accepts() {
  for (unsigned i = 0; i < listeners_.size(); ++i) arm_accept(i);
}

void Worker::stop_accepting() {
  bool submitted = false;
  for (unsigned i = 0; i < listeners_.size(); ++i) {
    ListenerState& l = listeners_[i];
    if (l.fd < 0) continue;
    if (l.armed) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, pack(Op::kAccept, i, 0), 0);
      sqe->user_data = pack(Op::kCancel, ~0u, 0);
      submitted = true;
    }
    // The armed accept holds its own reference to the socket until the cancel completes;
    // closing our descriptor now takes this worker out of the port's SO_REUSEPORT group.
    close(l.fd);
    l.fd = -1;
  }
  if (submitted) io_uring_submit(&ring_);  // now: a worker with nothing to drain leaves at once
}

void Worker::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
  sqe->user_data = pack(Op::kWake, 0, 0);
}

void Worker::arm_recv(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  prep_recv_multishot(sqe, c.fd, direct_);
  sqe->user_data = pack(Op::kRecv, c.slot, c.gen);
  c.flags |= conn_flag::kRecvArmed;
  ++c.inflight;
}

void Worker::submit_send(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  if (c.out.iov_count() == 1) {
    iovec v = c.out.iov();
    prep_stream_send(sqe, c.fd, direct_, v.iov_base, v.iov_len);
  } else {
    ++stats_.vectored_sends;
    io_uring_prep_sendmsg(sqe, c.fd, c.out.msg(), MSG_NOSIGNAL);
    if (direct_) sqe->flags |= IOSQE_FIXED_FILE;
  }
  sqe->user_data = pack(Op::kSend, c.slot, c.gen);
  c.flags |= conn_flag::kSendInFlight;
  ++c.inflight;
}

void Worker::submit_shutdown(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
  if (direct_) sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = pack(Op::kShutdown, c.slot, c.gen);
  c.flags |= conn_flag::kShutdownSent;
  ++c.inflight;
}

void Worker::mark_dirty(Conn& c) {
  if (c.has(conn_flag::kDirty) || c.closing()) return;
  c.flags |= conn_flag::kDirty;
  c.next_dirty = dirty_head_;
  dirty_head_ = &c;
}

bool Worker::queued(Conn& c, OutQueue::Result r) {
  switch (r) {
    case OutQueue::Result::kQueued: mark_dirty(c); return true;
    case OutQueue::Result::kClosed: ++stats_.dropped_after_close; return false;
    case OutQueue::Result::kNoMemory:
      LOG_WARN("worker %u: out of memory queueing output for %s; closing it", opts_.index,
               c.peer.to_string().c_str());
      abort(c);
      return false;
  }
  return false;
}

bool Worker::send_data(Conn& c, std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (c.closing()) return false;
  return queued(c, c.out.append(pools_, a, b));
}

bool Worker::send_raw(Conn& c, std::span<const uint8_t> bytes) {
  if (c.closing()) return false;
  return queued(c, c.out.append(pools_, bytes, {}, /*barrier=*/true));
}

bool Worker::send_shared(Conn& c, Block* block, uint32_t off, uint32_t len) {
  if (c.closing()) return false;
  return queued(c, c.out.append_shared(pools_, block, off, len));
}

bool Worker::send_control(Conn& c, ControlKind kind, std::span<const uint8_t> frame) {
  if (c.closing()) return false;
  return queued(c, c.out.set_control(pools_, kind, frame));
}

bool Worker::send_final(Conn& c, std::span<const uint8_t> frame) {
  if (c.closing()) return false;
  return queued(c, c.out.append_final(pools_, frame));
}

void Worker::shutdown_after_flush(Conn& c) {
  c.flags |= conn_flag::kShutdownWanted;
  mark_dirty(c);
}

void Worker::close_after_flush(Conn& c) {
  c.flags |= conn_flag::kCloseAfterFlush;
  mark_dirty(c);
}

void Worker::cancel_op(Conn& c, Op op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel64(sqe, pack(op, c.slot, c.gen), 0);
  sqe->user_data = pack(Op::kCancel, c.slot, c.gen);
  ++c.inflight;
}

void Worker::abort(Conn& c) {
  if (c.closing()) return;
  c.flags |= conn_flag::kClosing;
  wheel_.cancel(c.timer);
  // Cancel by user_data, one request each: the kernel finds those by hash, whereas cancelling
  // by descriptor walks every pending request in the ring (quadratic when many close at once).
  if (c.has(conn_flag::kRecvArmed)) cancel_op(c, Op::kRecv);
  if (c.has(conn_flag::kSendInFlight)) cancel_op(c, Op::kSend);
  // The close waits in reap() until nothing else is in flight: an operation the kernel has
  // punted to a worker thread (shutdown is one) must not outlive the descriptor, or it would
  // act on the next connection that is handed the same descriptor number.
  closing_.push_back(&c);
}

void Worker::submit_close(Conn& c) {
  io_uring_sqe* sqe = get_sqe();
  prep_close_descriptor(sqe, c.fd, direct_);
  sqe->user_data = pack(Op::kClose, c.slot, c.gen);
  c.flags |= conn_flag::kCloseSent;
  ++c.inflight;
}

void Worker::request_drain() {
  drain_requested_.store(true, std::memory_order_release);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

bool Worker::send_mail(unsigned worker, const Mail& m) {
  if (!hub_ || worker >= hub_->workers()) return false;
  if (!hub_->ring(opts_.index, worker).push(m)) {
    ++stats_.mail_full;
    return false;
  }
  if (worker == opts_.index) {
    mail_backlog_ = true;  // our own mail: handled next turn without sleeping
    return true;
  }
  if (hub_->claim_wake(worker)) {
    if (hub_->msg_ring_enabled()) {
      // Rides on this turn's submit; success posts a completion only on the target ring.
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_msg_ring(sqe, hub_->inbox(worker).ring_fd, 0, pack(Op::kMail, 0, 0), 0);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      sqe->user_data = pack(Op::kMsgRing, worker, 0);
    } else {
      hub_->wake_by_eventfd(worker);
    }
  }
  return true;
}

size_t Worker::mail_space(unsigned worker) {
  if (!hub_ || worker >= hub_->workers()) return 0;
  return hub_->ring(opts_.index, worker).free_space();
}

void Worker::on_msg_ring_failed(unsigned target, int res) {
  LOG_WARN("worker %u: IORING_OP_MSG_RING failed (%s); waking workers with eventfds", opts_.index,
           strerror(-res));
  hub_->disable_msg_ring();
  if (target < hub_->workers()) hub_->wake_by_eventfd(target);
}

Conn* Worker::lookup(uint32_t slot, uint32_t gen) {
  if (slot >= slots_.size()) return nullptr;
  Conn* c = slots_[slot];
  return (c && c->gen == gen) ? c : nullptr;
}

Conn& Worker::from_timer(timer::TimerNode& n) {
  return *reinterpret_cast<Conn*>(reinterpret_cast<char*>(&n) - offsetof(Conn, timer));
}

uint64_t slack_wait(uint64_t now_ms, uint64_t wait_ms, uint64_t slack_ms) {
  if (slack_ms <= 1 || wait_ms == 0) return wait_ms;
  uint64_t due = now_ms + wait_ms;
  uint64_t rounded = (due + slack_ms - 1) / slack_ms * slack_ms;
  return rounded - now_ms;
}

void Worker::wait_for_work() {
  uint64_t wait_ms = ~uint64_t(0);
  if (auto t = wheel_.next_timeout()) wait_ms = slack_wait(now_ms_, *t, opts_.timer_slack_ms);
  // Past the drain deadline everything is aborted: just wait for the completions.
  if (draining_ && now_ms_ < drain_deadline_)
    wait_ms = std::min(wait_ms, drain_deadline_ - now_ms_);
  if (accept_paused_ && !draining_)
    wait_ms = std::min(wait_ms, accept_retry_at_ > now_ms_ ? accept_retry_at_ - now_ms_ : 0);
  if (poll_at_ != ~uint64_t(0)) {
    wait_ms = std::min(wait_ms, poll_at_ > now_ms_ ? poll_at_ - now_ms_ : 0);
    poll_at_ = ~uint64_t(0);
  }
  bool sleep = !mail_backlog_;
  if (sleep && hub_) {
    // Announce the sleep, then look once more: a producer that pushed before the announcement
    // is seen here; one that pushes after it sees the flag and wakes us.
    MailInbox& in = hub_->inbox(opts_.index);
    in.sleeping.store(true, std::memory_order_seq_cst);
    if (hub_->has_mail(opts_.index)) sleep = false;
  }
  io_uring_cqe* cqe = nullptr;
  if (!sleep || wait_ms == 0) {
    io_uring_submit_and_get_events(&ring_);
  } else if (wait_ms == ~uint64_t(0)) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = int64_t(wait_ms / 1000);
    ts.tv_nsec = int64_t(wait_ms % 1000) * 1000000;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  if (hub_) hub_->inbox(opts_.index).sleeping.store(false, std::memory_order_relaxed);
}

void Worker::run() {
  now_ms_ = monotonic_ms();
  arm_accepts();
  arm_wake();
  for (;;) {
    if (accept_paused_ && now_ms_ >= accept_retry_at_) accept_paused_ = false;
    if (!draining_ && !accept_paused_) arm_accepts();
    if (draining_) {
      // The cancelled accepts must complete before the loop ends: until then the ring holds
      // the listening sockets, and the port would go on accepting into a backlog nobody reads.
      bool armed = false;
      for (const ListenerState& l : listeners_) armed |= l.armed;
      if (live_ == 0 && !armed) break;
      if (now_ms_ >= drain_deadline_) {
        for (Conn* c : slots_)
          if (c) abort(*c);
        reap();
      }
    }
    wait_for_work();
    ++stats_.loop_turns;
    now_ms_ = monotonic_ms();
    process_completions();
    buffers_.publish();
    drain_mail();
    fire_timers();
    handler_.on_turn_end(*this);
    flush_dirty();
    rearm_recvs();
    reap();
  }
  std::string line;
  stats_.each([&line](const char* name, const Counter& c) {
    line.append(" ").append(name).append("=").append(std::to_string(c.get()));
  });
  LOG_INFO("worker %u stats:%s", opts_.index, line.c_str());
}

void Worker::process_completions() {
  // One completion at a time, each marked seen before the next: a handler that fills the
  // submission queue submits early, and the completions that produces need room in the CQ.
  // Only what was ready when the turn began is handled, so a turn is bounded.
  unsigned ready = io_uring_cq_ready(&ring_);
  for (unsigned i = 0; i < ready; ++i) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(&ring_, &cqe) != 0 || !cqe) break;
    io_uring_cqe copy = *cqe;
    io_uring_cqe_seen(&ring_, cqe);
    on_cqe(copy);
  }
}

void Worker::on_cqe(const io_uring_cqe& cqe) {
  UserData ud = unpack(cqe.user_data);
  switch (ud.op) {
    case Op::kAccept: on_accept(cqe); return;
    case Op::kWake:
      if (cqe.res < 0 && cqe.res != -EINTR && cqe.res != -EAGAIN) {
        LOG_ERROR("worker %u: wake read failed: %s", opts_.index, strerror(-cqe.res));
      }
      arm_wake();
      if (drain_requested_.load(std::memory_order_acquire) && !draining_) begin_drain();
      return;
    case Op::kMail: return;  // the mail is in the rings; drain_mail() takes it this turn
    case Op::kMsgRing:
      if (cqe.res < 0) on_msg_ring_failed(ud.slot, cqe.res);
      return;
    case Op::kProbe: return;
    default: break;
  }
  Conn* c = lookup(ud.slot, ud.gen);
  if (!c) {
    // Only the close of a connection refused at accept lands here: its descriptor is free.
    if (ud.op == Op::kClose) accept_paused_ = false;
    if (cqe.flags & IORING_CQE_F_BUFFER) buffers_.recycle(uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  switch (ud.op) {
    case Op::kRecv: on_recv(*c, cqe); break;
    case Op::kSend: on_send(*c, cqe); break;
    case Op::kPeerName: on_peer_name(*c, cqe.res); break;
    case Op::kShutdown:
    case Op::kCancel:
    case Op::kClose:
    default: break;
  }
  if (!(cqe.flags & IORING_CQE_F_MORE)) --c->inflight;
}

void Worker::on_accept(const io_uring_cqe& cqe) {
  unsigned li = unpack(cqe.user_data).slot;
  if (li >= listeners_.size()) return;
  ListenerState& listener = listeners_[li];
  if (!(cqe.flags & IORING_CQE_F_MORE)) listener.armed = false;
  int res = cqe.res;
  if (res < 0) {
    if (res != -ECANCELED) ++stats_.accept_errors;
    if (res == -ENFILE || res == -EMFILE) {
      // Descriptor table full: try again after a while (or as soon as a connection closes);
      // waiting only for a close would wait forever if none of ours ever closes.
      if (!refusing_logged_)
        LOG_WARN("worker %u: descriptor table full (%zu connections); accepting paused",
                 opts_.index, live_);
      refusing_logged_ = true;
      accept_paused_ = true;
      accept_retry_at_ = now_ms_ + opts_.accept_retry_ms;
      ++stats_.accept_pauses;
    } else if (res != -ECANCELED) {
      LOG_WARN("worker %u: accept: %s", opts_.index, strerror(-res));
    }
    return;
  }
  if (draining_) {  // accepted just before the cancel took effect: nothing will serve it
    io_uring_sqe* sqe = get_sqe();
    prep_close_descriptor(sqe, res, direct_);
    sqe->user_data = pack(Op::kClose, ~0u, 0);
    return;
  }
  if (free_slots_.empty()) {
    // At capacity: close the newcomer now so it can retry elsewhere.
    ++stats_.refused;
    if (!refusing_logged_) {
      LOG_WARN("worker %u: at the connection limit (%zu); refusing new connections", opts_.index,
               live_);
      refusing_logged_ = true;
    }
    io_uring_sqe* sqe = get_sqe();
    prep_close_descriptor(sqe, res, direct_);
    sqe->user_data = pack(Op::kClose, ~0u, 0);
    return;
  }
  uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  Conn* c = new Conn;
  c->slot = slot;
  c->gen = gens_[slot];
  c->fd = res;
  c->listener = uint8_t(li);
  slots_[slot] = c;
  ++live_;
  stats_.live.set(live_);
  ++stats_.accepted;
  if (direct_) {
    // Queued before the recv so the address is known by the time the first bytes are handled.
    io_uring_sqe* sqe = get_sqe();
    prep_get_peer_name(sqe, c->fd, true, &peer_scratch_[slot], listener.peer_len);
    sqe->user_data = pack(Op::kPeerName, c->slot, c->gen);
    ++c->inflight;
    arm_recv(*c);  // the handler hears of it when the address is in (on_peer_name)
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(c->fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    c->peer = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  arm_recv(*c);
  open(*c);
}

void Worker::open(Conn& c) {
  if (c.has(conn_flag::kOpened) || c.closing()) return;
  if (TransportFactory* f = listeners_[c.listener].transport) {
    c.transport = f->create();
    if (!c.transport) {
      LOG_WARN("worker %u: out of memory for a transport; closing %s", opts_.index,
               c.peer.to_string().c_str());
      abort(c);
      return;
    }
  }
  c.flags |= conn_flag::kOpened;
  handler_.on_open(*this, c);
}

void Worker::on_peer_name(Conn& c, int res) {
  if (res < 0) LOG_DEBUG("worker %u: peer name: %s", opts_.index, strerror(-res));
  if (res >= 0)
    c.peer = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&peer_scratch_[c.slot]),
                                        listeners_[c.listener].peer_len);
  open(c);
}

void Worker::on_recv(Conn& c, const io_uring_cqe& cqe) {
  bool more = cqe.flags & IORING_CQE_F_MORE;
  if (!more) c.flags &= ~conn_flag::kRecvArmed;
  if (cqe.res > 0) {
    uint16_t bid = uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    stats_.bytes_in += uint64_t(cqe.res);
    open(c);  // bytes before the address (not expected): the handler must still hear of it first
    if (!c.closing()) deliver(c, {buffers_.buffer(bid), size_t(cqe.res)});
    buffers_.recycle(bid);
    if (!more && !c.has(conn_flag::kRearmRecv)) {
      c.flags |= conn_flag::kRearmRecv;
      rearm_.push_back(&c);
    }
    return;
  }
  if (cqe.flags & IORING_CQE_F_BUFFER) buffers_.recycle(uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
  if (c.closing()) return;
  if (cqe.res == 0) {
    c.flags |= conn_flag::kPeerEof;
    open(c);
    if (!c.closing()) handler_.on_peer_eof(*this, c);
  } else if (cqe.res == -ENOBUFS) {
    // Every ring buffer is busy this turn: flow control, not an error. Buffers return before
    // the next submit, so re-arming at the end of the turn finds them.
    ++stats_.recv_enobufs;
    if (!c.has(conn_flag::kRearmRecv)) {
      c.flags |= conn_flag::kRearmRecv;
      rearm_.push_back(&c);
    }
  } else {
    LOG_DEBUG("worker %u: recv from %s: %s", opts_.index, c.peer.to_string().c_str(),
              strerror(-cqe.res));
    abort(c);
  }
}

void Worker::deliver(Conn& c, std::span<const uint8_t> bytes) {
  if (!c.transport) {
    handler_.on_data(*this, c, bytes);
    return;
  }
  struct Sink final : PlaintextSink {
    Sink(Worker& w, Conn& c) : w(w), c(c) {}
    void plaintext(std::span<const uint8_t> p) override {
      if (!c.closing() && !p.empty()) w.handler_.on_data(w, c, p);
    }
    Worker& w;
    Conn& c;
  } sink(*this, c);
  Transport::In r = c.transport->on_recv(bytes, sink);
  if (c.closing()) return;
  if (r == Transport::In::kFailed) {
    ++stats_.transport_failures;
    LOG_PEER(kInfo, "worker %u: %s: TLS failed; closing without a reply", opts_.index,
             c.peer.to_string().c_str());
    // An alert the transport wrote may still go out; nothing else is owed.
    c.flags |= conn_flag::kCloseAfterFlush | conn_flag::kCloseNotified;
    mark_dirty(c);
    return;
  }
  if (!c.transport->output().empty()) mark_dirty(c);  // handshake records to send
  if (r == Transport::In::kPeerClosed) {  // close_notify: the peer's stream ended
    c.flags |= conn_flag::kPeerEof;
    handler_.on_peer_eof(*this, c);
  }
}

bool Worker::flush_transport(Conn& c) {
  // Seal queued plaintext, at most a bounded amount ahead of the socket: what is not sealed yet
  // stays in the queue (shared blocks), not in this connection's ciphertext.
  constexpr size_t kMaxSealedAhead = 64 * 1024;
  Transport& t = *c.transport;
  if (t.ready()) {
    while (t.buffered() < kMaxSealedAhead && c.out.prepare(pools_)) {
      size_t total = 0;
      bool ok = true;
      for (size_t i = 0, n = c.out.iov_count(); i < n && ok; ++i) {
        iovec v = n == 1 ? c.out.iov() : c.out.msg()->msg_iov[i];
        ok = t.seal({static_cast<const uint8_t*>(v.iov_base), v.iov_len});
        total += v.iov_len;
      }
      c.out.on_sent(pools_, total);
      if (!ok) {
        ++stats_.transport_failures;
        abort(c);
        return false;
      }
    }
    // Everything owed is sealed: the end of our stream goes after it.
    if (c.out.empty() && !c.has(conn_flag::kCloseNotified) &&
        (c.has(conn_flag::kShutdownWanted) || c.has(conn_flag::kCloseAfterFlush))) {
      c.flags |= conn_flag::kCloseNotified;
      t.seal_close();
    }
  }
  if (t.output().empty()) return false;
  submit_transport_send(c);
  return true;
}

void Worker::submit_transport_send(Conn& c) {
  std::span<const uint8_t> o = c.transport->output();
  io_uring_sqe* sqe = get_sqe();
  prep_stream_send(sqe, c.fd, direct_, o.data(), o.size());
  sqe->user_data = pack(Op::kSend, c.slot, c.gen);
  c.flags |= conn_flag::kSendInFlight;
  ++c.inflight;
}

void Worker::on_send(Conn& c, const io_uring_cqe& cqe) {
  c.flags &= ~conn_flag::kSendInFlight;
  if (c.closing()) return;
  if (c.transport && cqe.res > 0) {
    stats_.bytes_out += uint64_t(cqe.res);
    c.transport->consumed(size_t(cqe.res));
    mark_dirty(c);  // the rest of the output, or more to seal, or the shutdown
    return;
  }
  if (c.transport && (cqe.res == -EAGAIN || cqe.res == -EINTR)) {
    submit_transport_send(c);
    return;
  }
  if (cqe.res > 0) {
    stats_.bytes_out += uint64_t(cqe.res);
    if (!c.out.on_sent(pools_, size_t(cqe.res))) {
      // Partial: the rest of the same send goes first, before anything queued since.
      ++stats_.partial_sends;
      submit_send(c);
      return;
    }
    mark_dirty(c);  // more may be queued, or a shutdown/close waits for the queue to empty
    return;
  }
  if (cqe.res == -EAGAIN || cqe.res == -EINTR) {
    submit_send(c);
    return;
  }
  // EPIPE, ECONNRESET, ...: the peer is gone; what is queued has nowhere to go.
  LOG_DEBUG("worker %u: send to %s: %s", opts_.index, c.peer.to_string().c_str(),
            cqe.res ? strerror(-cqe.res) : "sent nothing");
  abort(c);
}

void Worker::drain_mail() {
  if (!hub_) return;
  mail_backlog_ = false;
  unsigned budget = kMailPerTurn;
  Mail m;
  for (unsigned p = 0; p < hub_->producers() && budget; ++p) {
    MailRing& r = hub_->ring(p, opts_.index);
    while (budget && r.pop(m)) {
      --budget;
      ++stats_.mail_in;
      handler_.on_mail(*this, m);
    }
  }
  if (!budget) mail_backlog_ = true;
}

void Worker::begin_drain() {
  draining_ = true;
  drain_deadline_ = now_ms_ + opts_.drain_timeout_ms;
  stop_accepting();
  for (Conn* c : slots_) {
    if (!c || c->closing()) continue;
    if (c->has(conn_flag::kOpened))
      handler_.on_drain(*this, *c);
    else
      abort(*c);  // accepted a moment ago, not yet handed to the handler: nothing is owed
  }
}

void Worker::fire_timers() {
  wheel_.advance(now_ms_, [this](timer::TimerNode& n) {
    Conn& c = from_timer(n);
    if (c.closing()) return;
    handler_.on_timer(*this, c);
  });
}

void Worker::flush_dirty() {
  for (Conn* c = dirty_head_; c;) {
    Conn* next = c->next_dirty;
    c->flags &= ~conn_flag::kDirty;
    c->next_dirty = nullptr;
    if (!c->closing() && !c->has(conn_flag::kSendInFlight)) {
      if (c->transport ? flush_transport(*c) : c->out.prepare(pools_) != 0) {
        if (!c->transport) submit_send(*c);
      } else if (!c->closing()) {
        if (c->has(conn_flag::kShutdownWanted) && !c->has(conn_flag::kShutdownSent))
          submit_shutdown(*c);
        if (c->has(conn_flag::kCloseAfterFlush)) abort(*c);
      }
    }
    c = next;
  }
  dirty_head_ = nullptr;
}

void Worker::rearm_recvs() {
  for (Conn* c : rearm_) {
    c->flags &= ~conn_flag::kRearmRecv;
    if (c->closing() || c->has(conn_flag::kPeerEof) || c->has(conn_flag::kRecvArmed)) continue;
    arm_recv(*c);
  }
  rearm_.clear();
}

void Worker::reap() {
  size_t keep = 0;
  for (size_t i = 0; i < closing_.size(); ++i) {
    Conn* c = closing_[i];
    if (!c->has(conn_flag::kClosedNotified)) {
      c->flags |= conn_flag::kClosedNotified;
      if (c->has(conn_flag::kOpened)) handler_.on_close(*this, *c);
    }
    if (c->inflight == 0 && !c->has(conn_flag::kCloseSent)) submit_close(*c);
    if (c->inflight == 0)
      free_conn(*c);
    else
      closing_[keep++] = c;
  }
  closing_.resize(keep);
}

void Worker::free_conn(Conn& c) {
  // Nothing may re-arm a closing connection (arm_timer refuses), but unlinking here keeps a
  // freed node out of the wheel whatever happened.
  assert(!c.timer.armed());
  wheel_.cancel(c.timer);
  c.out.release(pools_);
  if (c.transport) {
    listeners_[c.listener].transport->destroy(c.transport);
    c.transport = nullptr;
  }
  uint32_t slot = c.slot;
  slots_[slot] = nullptr;
  gens_[slot] = (gens_[slot] + 1) & kGenerationMask;
  free_slots_.push_back(slot);
  --live_;
  stats_.live.set(live_);
  ++stats_.closed;
  delete &c;
  accept_paused_ = false;  // a descriptor (or slot) is free again
  if (live_ * 10 < slots_.size() * 9) refusing_logged_ = false;
}

}  // namespace ringway::io
