#include "bus/redis_conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringway::bus {

RedisConn::RedisConn(Address addr, int epoll_fd) : addr_(std::move(addr)), epoll_fd_(epoll_fd) {}

RedisConn::~RedisConn() {
  // Callbacks still waiting are dropped, not called: the owner fails a connection (which calls
  // them) before it lets it go, and by now what they refer to may be gone.
  callbacks_.clear();
  fail("closed");
}

bool RedisConn::connect(uint64_t now_ms, uint64_t timeout_ms) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, addr_.host.c_str(), &a4) == 1) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr = a4;
    in->sin_port = htons(addr_.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, addr_.host.c_str(), &a6) == 1) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
    in->sin6_family = AF_INET6;
    in->sin6_addr = a6;
    in->sin6_port = htons(addr_.port);
    len = sizeof(sockaddr_in6);
  } else {
    error_ = "bad address " + addr_.host + " (use a numeric IPv4 or IPv6 address)";
    state_ = State::kBroken;
    return false;
  }
  fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    state_ = State::kBroken;
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  reader_ = redisReaderCreate();
  state_ = State::kConnecting;
  connect_deadline_ms_ = now_ms + timeout_ms;
  int r = ::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno != EINPROGRESS) {
    fail(std::string("connect: ") + std::strerror(errno));
    return true;  // broken(): the caller retries later
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = this;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_, &ev);
  want_write_ = true;
  if (r == 0) state_ = State::kConnected;
  return true;
}

void RedisConn::update_interest() {
  bool want = state_ == State::kConnecting || out_sent_ < out_.size();
  if (want == want_write_ || fd_ < 0) return;
  want_write_ = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = this;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &ev);
}

bool RedisConn::append(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, int(argv.size()), ptrs.data(), lens.data());
  if (n < 0) return false;
  out_.append(cmd, size_t(n));
  redisFreeCommand(cmd);
  return true;
}

void RedisConn::command(const std::vector<std::string>& argv, Callback cb) {
  if (state_ == State::kBroken || !append(argv)) {
    if (cb) cb(nullptr);
    return;
  }
  callbacks_.push_back(std::move(cb));
  if (state_ == State::kConnected) flush();
}

void RedisConn::command_push(const std::vector<std::string>& argv) {
  // Its replies are pushes, matched by the push handler, not by a callback.
  if (state_ == State::kBroken || !append(argv)) return;
  if (state_ == State::kConnected) flush();
}

void RedisConn::flush() {
  while (out_sent_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    fail(std::string("send: ") + std::strerror(errno));
    return;
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  }
  update_interest();
}

void RedisConn::on_events(uint32_t events, uint64_t now_ms) {
  if (state_ == State::kConnecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(std::string("connect: ") + std::strerror(err));
      return;
    }
    state_ = State::kConnected;
  }
  if (state_ != State::kConnected) return;
  if (events & EPOLLIN) read_replies();
  if (state_ == State::kConnected && (events & EPOLLOUT)) flush();
  if (state_ == State::kConnected && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
    fail("connection closed");
  (void)now_ms;
}

void RedisConn::on_timer(uint64_t now_ms) {
  if (state_ == State::kConnecting && now_ms >= connect_deadline_ms_) fail("connect timed out");
}

void RedisConn::read_replies() {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      redisReaderFeed(reader_, buf, size_t(n));
      for (;;) {
        void* reply = nullptr;
        if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
          fail("protocol error from Redis");
          return;
        }
        if (!reply) break;
        Reply owned(static_cast<redisReply*>(reply));
        // A reply answers the oldest waiting command; with none waiting it is a push.
        if (!callbacks_.empty()) {
          Callback cb = std::move(callbacks_.front());
          callbacks_.pop_front();
          if (cb) cb(owned.get());
        } else if (push_) {
          push_(owned.get());
        }
        if (state_ != State::kConnected) return;
      }
      if (size_t(n) < sizeof buf) return;
      continue;
    }
    if (n == 0) {
      fail("Redis closed the connection");
      return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    fail(std::string("recv: ") + std::strerror(errno));
    return;
  }
}

void RedisConn::fail(const std::string& why) {
  if (state_ == State::kBroken && fd_ < 0 && callbacks_.empty()) return;
  if (error_.empty() || state_ != State::kBroken) error_ = why;
  state_ = State::kBroken;
  if (fd_ >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd_, nullptr);
    close(fd_);
    fd_ = -1;
  }
  if (reader_) {
    redisReaderFree(reader_);
    reader_ = nullptr;
  }
  out_.clear();
  out_sent_ = 0;
  std::deque<Callback> waiting;
  waiting.swap(callbacks_);
  for (Callback& cb : waiting)
    if (cb) cb(nullptr);
}

}  // namespace ringway::bus
