#pragma once
// The client's event loop: epoll over the few descriptors a client has (its connection, and
// whatever the application adds, e.g. stdin or a signalfd). Timers are the owner's: it passes
// the time to its next deadline as the wait's timeout. One thread; callbacks may add, change
// and remove descriptors, including their own.
#include <cstdint>
#include <functional>
#include <unordered_map>

namespace ringway::client {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;  // EPOLLIN, EPOLLOUT, EPOLLHUP, ...

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool ok() const { return epfd_ >= 0; }
  // The epoll descriptor: readable when wait(0) has work (to nest this loop in another).
  int fd() const { return epfd_; }

  bool watch(int fd, uint32_t events, Callback cb);
  bool change(int fd, uint32_t events);
  void unwatch(int fd);

  // Waits up to timeout_ms (-1: no limit) and runs the callbacks of ready descriptors. Returns
  // how many ran (0 on timeout or EINTR), -1 when epoll fails.
  int wait(int timeout_ms);

 private:
  struct Entry {
    Callback cb;
    uint32_t generation;
  };
  int epfd_;
  uint32_t next_generation_ = 1;
  std::unordered_map<int, Entry> entries_;
};

}  // namespace ringway::client
