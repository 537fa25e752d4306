// Client WebSocket connection (ws_connection.h). Output is one buffer: frames queued during a
// loop turn go out together when the descriptor reports writable, which it does on the next
// wait, so a burst of requests costs one send.
#include "client/ws_connection.h"

#include <sys/epoll.h>

#include <array>
#include <cstring>

namespace ringway::client {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerEvent = 8;  // then yield to the loop (level-triggered: it comes back)

std::span<uint8_t> read_buffer() {
  thread_local std::array<uint8_t, kReadChunk> buf;
  return buf;
}

}  // namespace

WsConnection::WsConnection(EventLoop& loop, Clock& clock, Owner& owner, WsLimits limits)
    : loop_(loop),
      clock_(clock),
      owner_(owner),
      limits_(limits),
      reader_(limits.max_message),
      masks_(SplitMix64::from_os()) {}

WsConnection::~WsConnection() {
  if (watched_) loop_.unwatch(watched_fd_);
}

uint32_t WsConnection::next_mask() { return uint32_t(masks_.next_u64()); }

bool WsConnection::open(const Url& url, std::string& err, std::shared_ptr<tls::ClientContext> tls) {
  auto t = open_transport(url, err, std::move(tls));
  if (!t) return false;
  return open(std::move(t), url, err);
}

bool WsConnection::open(std::unique_ptr<Transport> transport, const Url& url, std::string& err) {
  if (state_ != State::kIdle) {
    err = "connection already used";
    return false;
  }
  transport_ = std::move(transport);
  std::array<uint8_t, 16> nonce;
  for (size_t i = 0; i < nonce.size(); i += 8) {
    uint64_t v = masks_.next_u64();
    std::memcpy(nonce.data() + i, &v, 8);
  }
  key_ = websocket_key(nonce);
  std::string request = upgrade_request(url, key_);
  if (!out_.append(request.data(), request.size())) {
    err = "out of memory";
    return false;
  }
  interest_ = EPOLLIN | EPOLLOUT;
  watched_fd_ = transport_->fd();
  if (!loop_.watch(watched_fd_, interest_, [this](uint32_t ev) { on_io(ev); })) {
    err = "epoll_ctl failed";
    return false;
  }
  watched_ = true;
  state_ = State::kConnecting;
  last_rx_ms_ = clock_.now_ms();
  return true;
}

void WsConnection::on_io(uint32_t events) {
  if (state_ == State::kConnecting) {
    std::string err;
    Io r = transport_->handshake(err);
    if (r == Io::kError) {
      WsClose how{1006, err};
      how.certificate_refused = transport_->certificate_refused();
      return finish(how);
    }
    if (transport_->fd() != watched_fd_) {  // the transport moved on to the next address
      loop_.unwatch(watched_fd_);
      watched_fd_ = transport_->fd();
      interest_ = EPOLLIN | EPOLLOUT;
      if (!loop_.watch(watched_fd_, interest_, [this](uint32_t ev) { on_io(ev); })) {
        watched_ = false;
        return finish({1006, "epoll_ctl failed"});
      }
    }
    if (r == Io::kWouldBlock) return update_interest();
    state_ = State::kUpgrading;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
    on_readable();
    if (state_ == State::kClosed) return;
  }
  if (output_bytes() || transport_->wants_write()) flush();
  if (state_ != State::kClosed) update_interest();
}

void WsConnection::on_readable() {
  // Input the transport already holds (TLS) is read to the end: no event would come for it.
  for (int i = 0; (i < kReadsPerEvent || transport_->buffered_input()) && state_ != State::kClosed;
       ++i) {
    size_t got = 0;
    std::string err;
    Io r = transport_->read(read_buffer(), got, err);
    if (r == Io::kWouldBlock) return;
    if (r == Io::kError) return finish({1006, err});
    if (r == Io::kClosed) {
      if (state_ == State::kUpgrading) return finish({1006, "connection closed during the upgrade"});
      return finish({1006, "connection closed without a close frame"});
    }
    last_rx_ms_ = clock_.now_ms();
    on_bytes(read_buffer().first(got));
  }
}

void WsConnection::on_bytes(std::span<const uint8_t> bytes) {
  if (state_ == State::kUpgrading) {
    size_t used = head_.feed(bytes);
    bytes = bytes.subspan(used);
    if (head_.state() == ResponseHead::State::kNeedMore) return;
    if (head_.state() == ResponseHead::State::kTooLong)
      return finish({1006, "response head over 8 KiB"});
    UpgradeAnswer a = check_upgrade_response(head_.text(), key_);
    if (!a.ok) {
      WsClose how{1006, a.error};
      how.http_status = a.status;
      return finish(how);
    }
    head_ = ResponseHead();
    state_ = State::kOpen;
    owner_.on_ws_open();
    if (state_ != State::kOpen || bytes.empty()) return;
  }
  if (state_ != State::kOpen && state_ != State::kClosing) return;
  ReadFailure f = reader_.feed(bytes, *this);
  if (f.close_code != 0 && state_ != State::kClosed) {
    append_close_frame(out_, f.close_code, f.what, next_mask());
    flush();
    WsClose how{f.close_code, std::string("server sent a bad frame: ") + f.what};
    how.opened = true;
    finish(how);
  }
}

bool WsConnection::on_message(ws::Opcode op, std::span<const uint8_t> payload) {
  if (state_ != State::kOpen) return state_ == State::kClosing;  // read on for their close
  if (op == ws::Opcode::kText)
    owner_.on_ws_text({reinterpret_cast<const char*>(payload.data()), payload.size()});
  else
    owner_.on_ws_binary(payload);
  return state_ == State::kOpen || state_ == State::kClosing;
}

bool WsConnection::on_ping(std::span<const uint8_t> payload) {
  if (state_ == State::kOpen) queue(ws::Opcode::kPong, payload);
  return true;
}

bool WsConnection::on_pong(std::span<const uint8_t>) { return true; }

void WsConnection::on_close(uint16_t code, std::string_view reason) {
  WsClose how{code ? code : uint16_t(1005), std::string(reason)};
  how.server_closed = true;
  how.opened = true;
  if (state_ == State::kOpen) {  // answer it, then hang up: nothing follows a close frame
    append_close_frame(out_, code, "", next_mask());
    flush();
  }
  finish(how);
}

bool WsConnection::queue(ws::Opcode op, std::span<const uint8_t> payload) {
  if (output_bytes() + payload.size() + kMaxClientHeader > limits_.max_output &&
      !ws::is_control(uint8_t(op)))
    return false;
  if (out_sent_ && out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  }
  if (!append_frame(out_, op, payload, next_mask())) return false;
  update_interest();
  return true;
}

bool WsConnection::send_text(std::string_view text) {
  if (state_ != State::kOpen) return false;
  return queue(ws::Opcode::kText, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

bool WsConnection::send_ping() {
  if (state_ != State::kOpen) return false;
  return queue(ws::Opcode::kPing, {});
}

void WsConnection::close(uint16_t code, std::string_view reason) {
  if (state_ == State::kClosing || state_ == State::kClosed || state_ == State::kIdle) return;
  if (state_ != State::kOpen) return abort("closed before the upgrade finished");
  append_close_frame(out_, code, reason, next_mask());
  state_ = State::kClosing;
  close_deadline_ms_ = clock_.now_ms() + limits_.close_timeout_ms;
  update_interest();
}

void WsConnection::abort(std::string_view reason) {
  if (state_ == State::kClosed || state_ == State::kIdle) return;
  WsClose how{1006, std::string(reason)};
  how.opened = state_ == State::kOpen || state_ == State::kClosing;
  finish(how);
}

void WsConnection::on_timer(uint64_t now_ms) {
  if (state_ == State::kClosing && close_deadline_ms_ && now_ms >= close_deadline_ms_)
    abort("no close frame from the server in time");
}

void WsConnection::flush() {
  while (output_bytes() && state_ != State::kClosed) {
    size_t put = 0;
    std::string err;
    Io r = transport_->write(out_.span().subspan(out_sent_), put, err);
    if (r == Io::kWouldBlock) break;
    if (r == Io::kError) return finish({1006, err, false, state_ >= State::kOpen});
    out_sent_ += put;
  }
  if (state_ != State::kClosed && !output_bytes() && transport_->wants_write()) {
    std::string err;  // records the transport still holds (TLS)
    if (transport_->flush(err) == Io::kError) return finish({1006, err, false, state_ >= State::kOpen});
  }
  if (out_sent_ == out_.size()) {
    out_sent_ = 0;
    if (out_.capacity() > 64 * 1024) out_.release();
    else out_.clear();
  }
}

void WsConnection::update_interest() {
  if (!watched_ || state_ == State::kClosed) return;
  uint32_t want = EPOLLIN | EPOLLRDHUP;
  // While connecting, the upgrade request waits for the transport, which says what it needs.
  if ((output_bytes() && state_ != State::kConnecting) || transport_->wants_write()) want |= EPOLLOUT;
  if (want != interest_) {
    interest_ = want;
    loop_.change(watched_fd_, want);
  }
}

void WsConnection::finish(WsClose how) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kOpen || state_ == State::kClosing) how.opened = true;
  state_ = State::kClosed;
  close_deadline_ms_ = 0;
  if (watched_) {
    loop_.unwatch(watched_fd_);
    watched_ = false;
  }
  transport_.reset();
  out_.release();
  out_sent_ = 0;
  owner_.on_ws_closed(how);
}

}  // namespace ringway::client
