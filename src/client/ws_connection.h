#pragma once
// One client WebSocket connection over a Transport: the opening handshake, masked frames out,
// server frames in, pings answered, the close handshake. No policy: what to do when it closes
// (reconnect, give up) is the owner's. It runs on an EventLoop and reports to its Owner; the
// owner must not destroy it inside one of those calls (retire it and free it afterwards).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "client/event_loop.h"
#include "client/frames.h"
#include "client/handshake.h"
#include "client/transport.h"
#include "common/byte_buffer.h"
#include "ringway/reconnect.h"

namespace ringway::client {

struct WsLimits {
  size_t max_message = size_t{16} << 20;  // a larger server message fails the connection (1009)
  size_t max_output = size_t{8} << 20;    // unsent bytes beyond which send_* refuses
  uint64_t close_timeout_ms = 2000;       // our close frame sent: how long to wait for theirs
};

// How a connection ended.
struct WsClose {
  uint16_t code = 1006;        // the server's code; 1005: its close frame had none; 1006: no
                               // close frame (EOF, reset, local abort); or the code we failed
                               // the connection with (1002, 1007, 1009)
  std::string reason;          // the server's reason, or what went wrong here
  bool server_closed = false;  // the server sent a close frame
  bool opened = false;         // the 101 had been accepted
  int http_status = 0;         // the upgrade was answered with this status instead of 101
  bool certificate_refused = false;  // wss://: the server's certificate failed verification
};

class WsConnection final : private ServerFrameSink {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void on_ws_open() = 0;
    virtual void on_ws_text(std::string_view text) = 0;
    virtual void on_ws_binary(std::span<const uint8_t> data) = 0;
    // Exactly once; the socket is closed by then.
    virtual void on_ws_closed(const WsClose& how) = 0;
  };
  enum class State : uint8_t { kIdle, kConnecting, kUpgrading, kOpen, kClosing, kClosed };

  WsConnection(EventLoop& loop, Clock& clock, Owner& owner, WsLimits limits = {});
  ~WsConnection() override;
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  // Starts connecting (wss:// on `tls`; null: verified against the system's trust store).
  // False (with err, and no on_ws_closed) when it cannot even start.
  bool open(const Url& url, std::string& err, std::shared_ptr<tls::ClientContext> tls = nullptr);
  // The same over a transport the caller made (tests).
  bool open(std::unique_ptr<Transport> transport, const Url& url, std::string& err);

  // Queue a frame; false when not open or over WsLimits::max_output.
  bool send_text(std::string_view text);
  bool send_ping();
  // Starts the close handshake (open), or gives up connecting (before the 101).
  void close(uint16_t code, std::string_view reason);
  // Drops the connection now and reports it with code 1006 and this reason.
  void abort(std::string_view reason);

  // The close-handshake deadline (0: none) and its check.
  uint64_t deadline_ms() const { return close_deadline_ms_; }
  void on_timer(uint64_t now_ms);

  State state() const { return state_; }
  uint64_t last_rx_ms() const { return last_rx_ms_; }
  size_t output_bytes() const { return out_.size() - out_sent_; }

 private:
  void on_io(uint32_t events);
  void on_readable();
  void flush();
  void update_interest();
  void on_bytes(std::span<const uint8_t> bytes);
  bool queue(ws::Opcode op, std::span<const uint8_t> payload);
  void finish(WsClose how);
  uint32_t next_mask();

  bool on_message(ws::Opcode op, std::span<const uint8_t> payload) override;
  bool on_ping(std::span<const uint8_t> payload) override;
  bool on_pong(std::span<const uint8_t> payload) override;
  void on_close(uint16_t code, std::string_view reason) override;

  EventLoop& loop_;
  Clock& clock_;
  Owner& owner_;
  WsLimits limits_;
  std::unique_ptr<Transport> transport_;
  State state_ = State::kIdle;
  std::string key_;
  ResponseHead head_;
  ServerFrameReader reader_;
  ByteBuffer out_;
  size_t out_sent_ = 0;
  uint32_t interest_ = 0;
  uint64_t last_rx_ms_ = 0;
  uint64_t close_deadline_ms_ = 0;
  SplitMix64 masks_;
  int watched_fd_ = -1;
  bool watched_ = false;
};

}  // namespace ringway::client
