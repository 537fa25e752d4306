// Workers on real rings with small test handlers: mail between workers (MSG_RING and eventfd
// wake-ups), drain stopping accept, a full submission queue, and timers of aborted connections.
#include "io/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>


#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include "io/listener.h"

namespace ringway::io {
namespace {

using namespace std::chrono_literals;

int listener(uint16_t& port) {
  ListenAddress a{"127.0.0.1", 0};
  std::string err;
  auto fds = open_listeners(a, 1, ListenOptions{}, port, err);
  EXPECT_EQ(fds.size(), 1u) << err;
  return fds.empty() ? -1 : fds[0];
}

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Records what the worker saw; everything runs on the worker's thread.
struct Recorder : ConnectionHandler {
  void on_open(Worker& w, Conn& c) override { opened.fetch_add(1); }
  void on_data(Worker& w, Conn& c, std::span<const uint8_t> bytes) override {
    if (echo) w.send_data(c, bytes);
    if (abort_then_arm) {
      w.abort(c);
      w.arm_timer(c, w.now() + 60000);  // must do nothing: the connection is closing
    }
  }
  void on_peer_eof(Worker& w, Conn& c) override { w.close_after_flush(c); }
  void on_timer(Worker& w, Conn& c) override {}
  void on_drain(Worker& w, Conn& c) override {}
  void on_close(Worker& w, Conn& c) override { closed.fetch_add(1); }
  void on_mail(Worker& w, const Mail& m) override {
    if (m.kind == kRelay) {  // pass it on to worker m.a, in order, 1 + m.c times
      Mail fwd = m;
      fwd.kind = kDelivered;
      for (uint64_t i = 0; i <= m.c; ++i)
        if (!w.send_mail(m.a, fwd)) refused.fetch_add(1);
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    got.push_back(m.b);
  }
  void on_turn_end(Worker& w) override { timers.store(w.wheel().size()); }

  static constexpr uint32_t kRelay = 1, kDelivered = 2;
  bool echo = false, abort_then_arm = false;
  std::atomic<int> opened{0}, closed{0}, refused{0};
  std::atomic<size_t> timers{0};
  std::mutex mu;
  std::vector<uint64_t> got;
};

struct Running {
  Running(unsigned index, Recorder& h, MailHub* hub, WorkerOptions o = {}) {
    o.index = index;
    o.drain_timeout_ms = 2000;
    fd = listener(port);
    worker = std::make_unique<Worker>(o, h, fd, hub);
    std::latch ready(1);
    thread = std::thread([this, &ready] {
      std::string err;
      bool ok = worker->init(err);
      EXPECT_TRUE(ok) << err;
      ready.count_down();
      if (ok) worker->run();
    });
    ready.wait();
  }
  ~Running() { stop(); }
  void stop() {
    if (!thread.joinable()) return;
    worker->request_drain();
    thread.join();
  }
  int fd;
  uint16_t port = 0;
  std::unique_ptr<Worker> worker;
  std::thread thread;
};

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void relay_between_workers(bool msg_ring) {
  MailHub hub(2, 1, 64, nullptr);
  if (!msg_ring) hub.disable_msg_ring();
  Recorder h0, h1;
  Running w0(0, h0, &hub), w1(1, h1, &hub);
  constexpr unsigned kProducer = 2;  // the test thread
  uint64_t seq = 0;
  for (int batch = 0; batch < 200; ++batch) {
    // Fewer than a ring's worth per batch, and each batch waits until delivered: the workers
    // sleep between batches, so every batch needs a wake-up on both hops.
    for (int i = 0; i < 40; ++i) {
      Mail m{Recorder::kRelay, 1, seq++};
      ASSERT_TRUE(hub.send_from_outside(kProducer, 0, m));
    }
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard<std::mutex> lock(h1.mu);
      return h1.got.size() == seq;
    })) << "batch " << batch << " not delivered";
    if (batch % 50 == 0) std::this_thread::sleep_for(20ms);  // let both fall asleep
  }
  // Both stop before either is destroyed: a worker's eventfd and ring must outlive every thread
  // that may still wake it (worker 0 can be inside its wake-up write for the last record after
  // worker 1 has already consumed it).
  w0.stop();
  w1.stop();
  std::lock_guard<std::mutex> lock(h1.mu);
  for (uint64_t i = 0; i < seq; ++i) ASSERT_EQ(h1.got[i], i);
  EXPECT_EQ(h0.refused.load(), 0);
}

TEST(Worker, MailBetweenWorkersWakesWithMsgRing) { relay_between_workers(true); }
TEST(Worker, MailBetweenWorkersWakesWithEventfd) { relay_between_workers(false); }

TEST(Worker, AFullMailRingIsRefusedToTheSender) {
  MailHub hub(2, 1, 64, nullptr);
  Recorder h0, h1;
  Running w1(1, h1, &hub);
  // Worker 0 is not running yet: 60 relay records wait for it. When it starts it relays each
  // four times in one turn, 240 records into a 64-slot ring that worker 1 cannot drain before
  // that turn ends (its wake-up goes out with worker 0's next submit).
  for (uint64_t i = 0; i < 60; ++i)
    ASSERT_TRUE(hub.ring(2, 0).push(Mail{Recorder::kRelay, 1, i, 3}));
  auto* w0 = new Running(0, h0, &hub);
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(h1.mu);
    return int(h1.got.size()) + h0.refused.load() == 240;
  }));
  delete w0;
  EXPECT_GT(h0.refused.load(), 0);
  std::lock_guard<std::mutex> lock(h1.mu);
  EXPECT_GE(h1.got.size(), 64u);
  for (size_t i = 1; i < h1.got.size(); ++i) EXPECT_LE(h1.got[i - 1], h1.got[i]);
}

TEST(Worker, DrainStopsAcceptingBeforeTheLastConnectionEnds) {
  Recorder h;
  Running w(0, h, nullptr);
  int held = connect_to(w.port);
  ASSERT_GE(held, 0);
  ASSERT_TRUE(wait_until([&] { return h.opened.load() == 1; }));
  w.worker->request_drain();
  // The held connection keeps the worker in its drain (the handler ignores on_drain); new
  // connections are refused by the kernel because the listener is closed.
  ASSERT_TRUE(wait_until([&] {
    int fd = connect_to(w.port);
    if (fd >= 0) close(fd);
    return fd == -ECONNREFUSED;
  }, 2s));
  EXPECT_EQ(h.opened.load(), 1);
  w.thread.join();  // the drain deadline (2 s) ends it whatever the held client does
  close(held);
}

TEST(Worker, AFullSubmissionQueueIsSubmittedEarlyNotOverrun) {
  Recorder h;
  h.echo = true;
  WorkerOptions o;
  o.ring.entries = 8;
  Running w(0, h, nullptr, o);
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    int fd = connect_to(w.port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(wait_until([&] { return h.opened.load() == 100; }));
  for (int fd : fds) ASSERT_EQ(write(fd, "ping", 4), 4);
  for (int fd : fds) {
    char buf[8];
    ASSERT_EQ(read(fd, buf, sizeof buf), 4);
    EXPECT_EQ(std::string(buf, 4), "ping");
    close(fd);
  }
  ASSERT_TRUE(wait_until([&] { return h.closed.load() == 100; }));
  w.stop();
  EXPECT_GT(w.worker->stats().sq_full.get(), 0u);
}

TEST(Worker, AcceptPausedByTheDescriptorLimitRetriesWithoutAnyClose) {
  // Ordinary descriptors, and a process limit that leaves room for two more: the third
  // accept fails with EMFILE. Nothing ever closes, so only a timed retry can resume accepting
  // once the limit is raised again.
  Recorder h;
  h.echo = true;
  WorkerOptions o;
  o.direct_descriptors = false;
  o.ordinary_fd_share = 100;  // the worker's own cap is not what stops it here
  o.accept_retry_ms = 50;
  // The limit bounds descriptor numbers, not a count; new descriptors take the lowest free
  // number, and an armed accept keeps the limit it was armed under. So: count what a worker
  // opens (ring, eventfd, listener), create the client sockets, then lower the limit to leave
  // exactly that many free numbers plus 2 before starting the worker that is tested. Probing
  // with fcntl opens nothing.
  auto open_fds = [] {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) n += fcntl(fd, F_GETFD) != -1;
    return n;
  };
  int worker_fds = 0;
  {
    Recorder idle;
    int before = open_fds();
    Running probe(0, idle, nullptr, o);
    worker_fds = open_fds() - before;
  }
  ASSERT_GT(worker_fds, 0);
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    clients.push_back(fd);
  }
  rlimit saved{};
  getrlimit(RLIMIT_NOFILE, &saved);
  int limit = 0;
  for (int free_below = 0; free_below < worker_fds + 2; ++limit) {
    if (fcntl(limit, F_GETFD) == -1) ++free_below;
  }
  rlimit low = saved;
  low.rlim_cur = rlim_t(limit);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Running w(0, h, nullptr, o);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(w.port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  for (int fd : clients) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      setrlimit(RLIMIT_NOFILE, &saved);
      FAIL() << "connect: " << strerror(errno);
    }
  }
  // The limit refused an accept (a pause) and accepting is held back: not every client is in.
  ASSERT_TRUE(wait_until([&] { return w.worker->stats().accept_pauses.get() >= 1; }));
  int opened_while_low = h.opened.load();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(opened_while_low, 4) << "the lowered limit did not stop any accept";
  for (int fd : clients) {
    ASSERT_EQ(write(fd, "hi", 2), 2);
    char buf[2];
    ASSERT_EQ(read(fd, buf, 2), 2) << "a held-back connection was never accepted";
  }
  EXPECT_EQ(h.opened.load(), 4);
  for (int fd : clients) close(fd);
  w.stop();
  EXPECT_GE(w.worker->stats().accept_pauses.get(), 1u);
}

TEST(Worker, ATimerArmedAfterAbortIsNeverLeftInTheWheel) {
  Recorder h;
  h.abort_then_arm = true;
  Running w(0, h, nullptr);
  for (int i = 0; i < 20; ++i) {
    int fd = connect_to(w.port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "x", 1), 1);
    char c;
    EXPECT_EQ(read(fd, &c, 1), 0);  // closed by the server
    close(fd);
  }
  ASSERT_TRUE(wait_until([&] { return h.closed.load() == 20; }));
  ASSERT_TRUE(wait_until([&] { return h.timers.load() == 0; }));
  w.stop();
  EXPECT_EQ(w.worker->wheel().size(), 0u);
}

}  // namespace
}  // namespace ringway::io

namespace ringway::io {
namespace {

TEST(TimerSlack, WaitsEndOnMultiplesOfTheSlackAndNeverEarly) {
  EXPECT_EQ(slack_wait(1000, 0, 10), 0u);    // already due: at once
  EXPECT_EQ(slack_wait(1000, 1, 10), 10u);   // due at 1001: wake at 1010
  EXPECT_EQ(slack_wait(1003, 7, 10), 7u);    // due at 1010 exactly
  EXPECT_EQ(slack_wait(1003, 8, 10), 17u);   // due at 1011: 1020
  EXPECT_EQ(slack_wait(1003, 8, 1), 8u);     // slack 1 or 0: exact
  EXPECT_EQ(slack_wait(1003, 8, 0), 8u);
  for (uint64_t now = 0; now < 50; ++now) {
    for (uint64_t wait = 1; wait < 50; ++wait) {
      uint64_t w = slack_wait(now, wait, 10);
      EXPECT_GE(w, wait);
      EXPECT_LT(w, wait + 10);
      EXPECT_EQ((now + w) % 10, 0u);
    }
  }
}

}  // namespace
}  // namespace ringway::io
