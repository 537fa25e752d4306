// beast_broadcast: a minimal WebSocket broadcast server on Boost.Beast, a peer for
// bench/fanout_compare.sh.
//
//   beast_broadcast [--port P]        # 0 (the default) picks a free port
//
// One thread, one io_context, as beast_echo. Every text message received on a connection is
// sent to every other open connection, and nothing else happens. The shape is Beast's own
// multi-user chat example: the message is copied once into a shared, immutable string, and
// each session keeps a queue of such strings with one async_write in flight at a time.
// Prints "beast_broadcast listening on 127.0.0.1:PORT" once it listens.
// <utility> first: Boost 1.74's Asio uses std::exchange without including it (see beast_echo).
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
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class Session;
using Message = std::shared_ptr<const std::string>;

// Every open session; one thread, so no lock.
std::unordered_set<Session*> g_sessions;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : ws_(std::move(socket)) {}
  ~Session() { g_sessions.erase(this); }

  void start() {
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    ws_.auto_fragment(false);
    ws_.read_message_max(1024 * 1024);  // ringway's default --max-message-size
    ws_.text(true);                     // everything this server writes is text
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      g_sessions.insert(self.get());
      self->read();
    });
  }

  // Queues a message; the queue drains one write at a time.
  void send(const Message& m) {
    queue_.push_back(m);
    if (queue_.size() == 1) write();
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {  // closed, reset or a protocol error: the session leaves
        g_sessions.erase(self.get());
        return;
      }
      if (self->ws_.got_text()) {
        auto m = std::make_shared<const std::string>(beast::buffers_to_string(self->buffer_.data()));
        for (Session* s : g_sessions)
          if (s != self.get()) s->send(m);
      }
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  void write() {
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) {
                        g_sessions.erase(self.get());
                        return;
                      }
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) self->write();
                    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<Message> queue_;
};

class Listener {
 public:
  Listener(asio::io_context& io, unsigned short port) : acceptor_(io), retry_(io) {
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
      // Out of descriptors (EMFILE) or a transient error: say so once and retry shortly.
      if (!warned_) {
        fprintf(stderr, "beast_broadcast: accept: %s (retrying)\n", ec.message().c_str());
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
    printf("beast_broadcast listening on 127.0.0.1:%u\n", listener.port());
    fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    fprintf(stderr, "beast_broadcast: %s\n", e.what());
    return 1;
  }
  return 0;
}
