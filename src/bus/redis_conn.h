#pragma once
// One non-blocking connection to a Redis server, driven by the bus thread's epoll loop. hiredis
// (Debian's libhiredis 0.14) does the protocol — formatting commands and parsing replies — and
// this class does the socket: connect with a deadline, a write buffer, and the FIFO of callbacks
// that Redis's in-order replies are matched to. hiredis's own async layer is not used: 0.14 does
// not know the sharded pub/sub commands (SSUBSCRIBE), and its event adapters would bring a
// second loop library for what is one epoll set here.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::bus {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct Address {
  std::string host;
  uint16_t port = 6379;
  std::string text() const { return host + ":" + std::to_string(port); }
};

class RedisConn {
 public:
  // A reply to a command; null when the connection broke before it came.
  using Callback = std::function<void(redisReply*)>;
  // Replies that answer no command (pub/sub messages and confirmations).
  using PushHandler = std::function<void(redisReply*)>;

  RedisConn(Address addr, int epoll_fd);
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Starts connecting (non-blocking). False when the socket cannot even be made.
  bool connect(uint64_t now_ms, uint64_t timeout_ms);
  bool connected() const { return state_ == State::kConnected; }
  bool broken() const { return state_ == State::kBroken; }
  const std::string& error() const { return error_; }
  const Address& address() const { return addr_; }
  int fd() const { return fd_; }

  // Queues a command; cb runs with its reply (or null if the connection breaks first).
  void command(const std::vector<std::string>& argv, Callback cb);
  // Queues a command whose replies are pushes (SUBSCRIBE and friends).
  void command_push(const std::vector<std::string>& argv);
  void set_push_handler(PushHandler h) { push_ = std::move(h); }
  size_t waiting() const { return callbacks_.size(); }

  // The epoll loop's calls.
  void on_events(uint32_t events, uint64_t now_ms);
  void on_timer(uint64_t now_ms);  // connect deadline
  // Closes and fails every waiting callback (with null).
  void fail(const std::string& why);

 private:
  enum class State { kIdle, kConnecting, kConnected, kBroken };
  bool append(const std::vector<std::string>& argv);
  void update_interest();
  void flush();
  void read_replies();

  Address addr_;
  int epoll_fd_;
  int fd_ = -1;
  State state_ = State::kIdle;
  uint64_t connect_deadline_ms_ = 0;
  std::string out_;
  size_t out_sent_ = 0;
  redisReader* reader_ = nullptr;
  std::deque<Callback> callbacks_;  // in command order; an empty one marks a push command
  PushHandler push_;
  std::string error_;
  bool want_write_ = false;
};

}  // namespace ringway::bus
