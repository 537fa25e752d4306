// min_echo: a deliberately minimal io_uring WebSocket echo server, the floor that ringway's echo
// route is compared against (bench/echo_compare.sh). One thread, one ring, plain descriptors.
// It does the least a WebSocket echo can do: upgrade, unmask, reframe, send. No limits, timers,
// validation, UTF-8 checks or close handshake; a connection is closed on EOF or error.
//
//   min_echo [--port P] [--listen-addr A]      (defaults 9001 and 127.0.0.1; port 0 picks one)
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/base64.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kBuf = 64 * 1024;  // per connection, for receiving and for sending
enum Op : uint64_t { kAccept = 0, kRecv = 1, kSend = 2 };

struct Conn {
  bool upgraded = false;
  size_t rlen = 0;                   // bytes held in rbuf (an unparsed tail between recvs)
  size_t slen = 0, soff = 0;         // send buffer: bytes to send, bytes already sent
  unsigned char rbuf[kBuf];
  unsigned char sbuf[kBuf + 256];    // server frames are never longer than the client frames
};

io_uring ring;
std::vector<Conn*> conns;  // indexed by descriptor

io_uring_sqe* sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring);
  if (!s) {
    io_uring_submit(&ring);
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

void post_recv(int fd, Conn* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv(s, fd, c->rbuf + c->rlen, kBuf - c->rlen, 0);
  io_uring_sqe_set_data64(s, (uint64_t(fd) << 2) | kRecv);
}

void post_send(int fd, Conn* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, (uint64_t(fd) << 2) | kSend);
}

void drop(int fd) {
  delete conns[fd];
  conns[fd] = nullptr;
  close(fd);
}

// The request is complete once "\r\n\r\n" arrived; answer 101 with the accept key.
// Returns false if the request is not complete yet.
bool handshake(Conn* c) {
  const char* req = reinterpret_cast<const char*>(c->rbuf);
  const char* end = static_cast<const char*>(memmem(req, c->rlen, "\r\n\r\n", 4));
  if (!end) return false;
  size_t hlen = end + 4 - req;
  char key[128] = "";
  size_t klen = 0;
  for (const char* p = req; p < end;) {
    const char* eol = static_cast<const char*>(memmem(p, end + 2 - p, "\r\n", 2));
    if (eol - p > 18 && strncasecmp(p, "Sec-WebSocket-Key:", 18) == 0) {
      const char* v = p + 18;
      while (v < eol && *v == ' ') ++v;
      const char* ve = eol;
      while (ve > v && ve[-1] == ' ') --ve;
      klen = size_t(ve - v) < 64 ? size_t(ve - v) : 64;
      memcpy(key, v, klen);
      break;
    }
    p = eol + 2;
  }
  static const char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  memcpy(key + klen, kGuid, sizeof(kGuid) - 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<unsigned char*>(key), klen + sizeof(kGuid) - 1, digest);
  unsigned char accept[32];
  EVP_EncodeBlock(accept, digest, sizeof(digest));
  c->slen = snprintf(reinterpret_cast<char*>(c->sbuf), sizeof(c->sbuf),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
  c->soff = 0;
  c->rlen -= hlen;
  memmove(c->rbuf, c->rbuf + hlen, c->rlen);
  c->upgraded = true;
  return true;
}

// Turns every complete client frame in rbuf into an unmasked server frame appended to sbuf and
// keeps the incomplete tail at the start of rbuf.
void frames(Conn* c) {
  const unsigned char* p = c->rbuf;
  const unsigned char* end = c->rbuf + c->rlen;
  unsigned char* out = c->sbuf + c->slen;
  while (end - p >= 2) {
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (end - p < 4) break;
      len = (uint64_t(p[2]) << 8) | p[3];
      h = 4;
    } else if (len == 127) {
      if (end - p < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      h = 10;
    }
    bool masked = p[1] & 0x80;
    size_t total = h + (masked ? 4 : 0) + len;
    if (uint64_t(end - p) < total) break;
    unsigned char op = p[0];
    if ((op & 0x0f) == 0x9) op = (op & 0xf0) | 0xa;  // answer a ping with a pong
    *out++ = op;
    if (len < 126) {
      *out++ = uint8_t(len);
    } else if (len < 65536) {
      *out++ = 126;
      *out++ = uint8_t(len >> 8);
      *out++ = uint8_t(len);
    } else {
      *out++ = 127;
      for (int i = 7; i >= 0; --i) *out++ = uint8_t(len >> (8 * i));
    }
    const unsigned char* src = p + h + (masked ? 4 : 0);
    if (masked) {
      uint32_t m4;
      memcpy(&m4, p + h, 4);
      uint64_t m8 = (uint64_t(m4) << 32) | m4;
      size_t i = 0;
      for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= m8;
        memcpy(out + i, &w, 8);
      }
      const unsigned char* mb = p + h;
      for (; i < len; ++i) out[i] = src[i] ^ mb[i & 3];
    } else {
      memcpy(out, src, len);
    }
    out += len;
    p += total;
  }
  c->slen = out - c->sbuf;
  c->rlen = end - p;
  if (p != c->rbuf && c->rlen) memmove(c->rbuf, p, c->rlen);
}

// After a recv: send what it produced, or receive more if it produced nothing.
void after_recv(int fd, Conn* c) {
  if (!c->upgraded) {
    if (!handshake(c)) {
      if (c->rlen == kBuf) return drop(fd);
      return post_recv(fd, c);
    }
  }
  frames(c);
  if (c->slen) return post_send(fd, c);
  if (c->rlen == kBuf) return drop(fd);  // a frame longer than the buffer
  post_recv(fd, c);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 9001;
  const char* addr = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--listen-addr") && i + 1 < argc) {
      addr = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--port P] [--listen-addr 127.0.0.1]\n", argv[0]);
      return 2;
    }
  }

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // inherited by accepted sockets
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "min_echo: bad address %s\n", addr);
    return 2;
  }
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) || listen(lfd, 4096)) {
    perror("min_echo: bind/listen");
    return 1;
  }
  socklen_t sl = sizeof(sa);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &sl);

  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4096, &ring, &params) < 0) {
    params = io_uring_params{};
    if (int r = io_uring_queue_init_params(4096, &ring, &params); r < 0) {
      fprintf(stderr, "min_echo: io_uring_queue_init: %s\n", strerror(-r));
      return 1;
    }
  }
  conns.assign(1 << 16, nullptr);

  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(s, kAccept);
  printf("min_echo listening on %s:%u\n", addr, ntohs(sa.sin_port));
  fflush(stdout);

  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      uint64_t ud = cqe->user_data;
      int res = cqe->res;
      if ((ud & 3) == kAccept) {
        if (res >= 0) {
          if (size_t(res) >= conns.size()) conns.resize(res + 1, nullptr);
          conns[res] = new Conn;
          post_recv(res, conns[res]);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) {
          io_uring_sqe* a = sqe();
          io_uring_prep_multishot_accept(a, lfd, nullptr, nullptr, 0);
          io_uring_sqe_set_data64(a, kAccept);
        }
        continue;
      }
      int fd = int(ud >> 2);
      Conn* c = conns[fd];
      if (res <= 0) {
        drop(fd);
        continue;
      }
      if ((ud & 3) == kRecv) {
        c->rlen += res;
        after_recv(fd, c);
      } else {
        c->soff += res;
        if (c->soff < c->slen) {
          post_send(fd, c);
        } else {
          c->slen = c->soff = 0;
          post_recv(fd, c);
        }
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
