#pragma once
// Ring creation with feature fallbacks, the provided-buffer ring for multishot receives, and
// the socket command that reads a direct descriptor's peer address.
#include <liburing.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ringway::io {

struct RingOptions {
  unsigned entries = 4096;
  bool defer_taskrun = true;  // SINGLE_ISSUER | DEFER_TASKRUN when the kernel has them
};

struct RingFeatures {
  bool defer_taskrun = false;
};

// Creates the ring on the calling thread (SINGLE_ISSUER ties it to this thread). Falls back to
// a plain ring when the kernel refuses the flags. Returns 0 or -errno.
int setup_ring(io_uring& ring, const RingOptions& opts, RingFeatures& got);

// Kernel-side pool of receive buffers: the kernel picks one per completion, so a connection
// with nothing to read holds no buffer.
class BufferRing {
 public:
  static constexpr uint16_t kGroup = 0;
  BufferRing() = default;
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing();

  // count must be a power of two. Returns 0 or -errno.
  int init(io_uring& ring, unsigned count, unsigned size);
  uint8_t* buffer(uint16_t bid) const { return base_ + size_t(bid) * size_; }
  unsigned buffer_size() const { return size_; }
  // Gives a buffer back; it becomes visible to the kernel at publish().
  void recycle(uint16_t bid) {
    io_uring_buf_ring_add(br_, buffer(bid), size_, bid, mask_, pending_++);
  }
  void publish() {
    if (pending_) {
      io_uring_buf_ring_advance(br_, pending_);
      pending_ = 0;
    }
  }

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  size_t br_bytes_ = 0;
  uint8_t* base_ = nullptr;
  size_t base_bytes_ = 0;
  unsigned size_ = 0;
  int mask_ = 0;
  int pending_ = 0;
};

// The per-connection operations, for a direct descriptor (fixed) or an ordinary one. Shared by
// the server's workers and the load generator's loops.
inline void prep_recv_multishot(io_uring_sqe* sqe, int fd, bool fixed) {
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT | (fixed ? IOSQE_FIXED_FILE : 0);
  sqe->buf_group = BufferRing::kGroup;
}
inline void prep_stream_send(io_uring_sqe* sqe, int fd, bool fixed, const void* data, size_t n) {
  io_uring_prep_send(sqe, fd, data, n, MSG_NOSIGNAL);
  if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
}
inline void prep_close_descriptor(io_uring_sqe* sqe, int fd, bool fixed) {
  if (fixed)
    io_uring_prep_close_direct(sqe, unsigned(fd));
  else
    io_uring_prep_close(sqe, fd);
}

// Prepares SOCKET_URING_OP_GETSOCKOPT(SOL_SOCKET, SO_PEERNAME): the kernel writes the peer's
// sockaddr to `out`. This works on direct descriptors, which getpeername(2) cannot reach.
void prep_get_peer_name(io_uring_sqe* sqe, int fd, bool fixed, void* out, int out_len);

// Whether the kernel runs the socket command above (probed on a listening socket).
bool probe_peer_name_command(io_uring& ring, int listen_fd);

}  // namespace ringway::io
