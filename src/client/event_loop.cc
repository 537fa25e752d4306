// epoll loop (event_loop.h). An event carries the descriptor and the generation it was watched
// with, so an event for a descriptor removed (and perhaps reused) earlier in the same batch is
// recognised and dropped.
#include "client/event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace ringway::client {

namespace {
constexpr int kMaxEvents = 16;
uint64_t pack(int fd, uint32_t gen) { return (uint64_t(gen) << 32) | uint32_t(fd); }
}  // namespace

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {}

EventLoop::~EventLoop() {
  if (epfd_ >= 0) ::close(epfd_);
}

bool EventLoop::watch(int fd, uint32_t events, Callback cb) {
  uint32_t gen = next_generation_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(fd, gen);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  entries_[fd] = Entry{std::move(cb), gen};
  return true;
}

bool EventLoop::change(int fd, uint32_t events) {
  auto it = entries_.find(fd);
  if (it == entries_.end()) return false;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(fd, it->second.generation);
  return epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::unwatch(int fd) {
  auto it = entries_.find(fd);
  if (it == entries_.end()) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  entries_.erase(it);
}

int EventLoop::wait(int timeout_ms) {
  epoll_event evs[kMaxEvents];
  int n = epoll_wait(epfd_, evs, kMaxEvents, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  int ran = 0;
  for (int i = 0; i < n; ++i) {
    int fd = int(uint32_t(evs[i].data.u64));
    uint32_t gen = uint32_t(evs[i].data.u64 >> 32);
    auto it = entries_.find(fd);
    if (it == entries_.end() || it->second.generation != gen) continue;
    Callback cb = it->second.cb;  // a copy: the callback may unwatch itself
    cb(evs[i].events);
    ++ran;
  }
  return ran;
}

}  // namespace ringway::client
