// beast_echo: a minimal WebSocket echo server on Boost.Beast, a peer for bench/compare_all.sh.
//
//   beast_echo [--port P]        # 0 (the default) picks a free port
//
// One thread, one io_context, asynchronous accept/handshake/read/write. Every data message is
// written back unchanged (same opcode, same payload, one frame). Any path is accepted. Prints
// "beast_echo listening on 127.0.0.1:PORT" once it listens.
// <utility> first: Boost 1.74's Asio uses std::exchange without including it, which GCC 12 in
// C++20 mode (where coroutine support turns on) does not forgive.
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : ws_(std::move(socket)) {}

  void start() {
    // Latency matters more than packet count on an echo; ringway's listener sets it too.
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    ws_.auto_fragment(false);            // echo each message as the one frame it came in
    ws_.read_message_max(1024 * 1024);   // ringway's default --max-message-size
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed, reset or a protocol error: the session ends here
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(),
                            [self](beast::error_code ec2, std::size_t) {
                              if (ec2) return;
                              self->buffer_.consume(self->buffer_.size());
                              self->read();
                            });
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
};

class Listener {
 public:
  Listener(asio::io_context& io, unsigned short port)
      : acceptor_(io), retry_(io) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(4096);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        std::make_shared<Session>(std::move(socket))->start();
        return accept();
      }
      // Out of descriptors (EMFILE) or a transient error: say so once, retry shortly, so the
      // server keeps accepting when connections close.
      if (!warned_) {
        fprintf(stderr, "beast_echo: accept: %s (retrying)\n", ec.message().c_str());
        warned_ = true;
      }
      retry_.expires_after(std::chrono::milliseconds(10));
      retry_.async_wait([this](beast::error_code) { accept(); });
    });
  }

 private:
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  bool warned_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  unsigned port = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = unsigned(strtoul(argv[++i], nullptr, 10));
    } else {
      fprintf(stderr, "usage: %s [--port P]\n", argv[0]);
      return 2;
    }
  }
  try {
    asio::io_context io(1);  // one thread: no locking inside Asio
    Listener listener(io, static_cast<unsigned short>(port));
    listener.accept();
    printf("beast_echo listening on 127.0.0.1:%u\n", listener.port());
    fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    fprintf(stderr, "beast_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
