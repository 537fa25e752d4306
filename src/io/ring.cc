#include "io/ring.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "io/user_data.h"

namespace ringway::io {

int setup_ring(io_uring& ring, const RingOptions& opts, RingFeatures& got) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  p.cq_entries = opts.entries * 4;
  if (opts.defer_taskrun) {
    io_uring_params q = p;
    q.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(opts.entries, &ring, &q);
    if (r == 0) {
      got.defer_taskrun = true;
      return 0;
    }
    if (r != -EINVAL) return r;
  }
  got.defer_taskrun = false;
  p.flags |= IORING_SETUP_COOP_TASKRUN;
  int r = io_uring_queue_init_params(opts.entries, &ring, &p);
  if (r == -EINVAL) {  // older kernels: no COOP_TASKRUN / SUBMIT_ALL either
    io_uring_params plain{};
    r = io_uring_queue_init_params(opts.entries, &ring, &plain);
  }
  return r;
}

BufferRing::~BufferRing() {
  if (ring_ && br_) io_uring_unregister_buf_ring(ring_, kGroup);
  if (br_) munmap(br_, br_bytes_);
  if (base_) munmap(base_, base_bytes_);
}

int BufferRing::init(io_uring& ring, unsigned count, unsigned size) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) return -EINVAL;
  br_bytes_ = count * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  base_bytes_ = size_t(count) * size;
  mem = mmap(nullptr, base_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(mem);
  size_ = size;
  mask_ = io_uring_buf_ring_mask(count);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = kGroup;
  int r = io_uring_register_buf_ring(&ring, &reg, 0);
  if (r != 0) return r;
  ring_ = &ring;
  io_uring_buf_ring_init(br_);
  for (unsigned i = 0; i < count; ++i) recycle(uint16_t(i));
  publish();
  return 0;
}

namespace {
// From the kernel's socket command interface (6.7+); liburing 2.3 predates it.
constexpr uint32_t kSocketUringOpGetsockopt = 2;
}  // namespace

void prep_get_peer_name(io_uring_sqe* sqe, int fd, bool fixed, void* out, int out_len) {
  io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, nullptr, 0, 0);
  sqe->cmd_op = kSocketUringOpGetsockopt;
  // level and optname share the 64-bit addr field: level in the low half.
  sqe->addr = uint64_t(SOL_SOCKET) | (uint64_t(SO_PEERNAME) << 32);
  sqe->splice_fd_in = out_len;  // optlen
  sqe->addr3 = reinterpret_cast<uint64_t>(out);
  if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
}

bool probe_peer_name_command(io_uring& ring, int listen_fd) {
  sockaddr_storage ss{};
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (!sqe) return false;
  prep_get_peer_name(sqe, listen_fd, false, &ss, sizeof ss);
  sqe->user_data = pack(Op::kProbe, 0, 0);
  io_uring_submit(&ring);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe(&ring, &cqe) != 0) return false;
  int res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  // A listening socket has no peer: ENOTCONN proves the command itself ran.
  return res == -ENOTCONN || res >= 0;
}

}  // namespace ringway::io
