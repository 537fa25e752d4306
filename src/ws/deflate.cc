#include "ws/deflate.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace ringway::ws {
namespace detail {
namespace {

struct InflaterPool {
  InflateState* items[kMaxPooledInflaters] = {};
  size_t count = 0;
  ~InflaterPool() { clear(); }
  void clear() {
    while (count) destroy(items[--count]);
  }
  static void destroy(InflateState* s) {
    inflateEnd(&s->z);
    delete s;
  }
};

thread_local InflaterPool tls_inflaters;

}  // namespace

InflateState* acquire_inflater() {
  InflaterPool& pool = tls_inflaters;
  if (pool.count) {
    InflateState* s = pool.items[--pool.count];
    s->out.clear();
    s->in_bytes = 0;
    return s;
  }
  auto* s = new (std::nothrow) InflateState{};
  if (!s) return nullptr;
  s->deflate = nullptr;
  // Negative window bits: raw deflate, no zlib header or checksum (RFC 7692 §7.2.2).
  if (inflateInit2(&s->z, -kMaxWindowBitsForInflate) != Z_OK) {
    delete s;
    return nullptr;
  }
  return s;
}

void release_inflater(InflateState* s) {
  if (!s) return;
  Deflater::free_stream(s->deflate);
  s->deflate = nullptr;
  InflaterPool& pool = tls_inflaters;
  // Reset to the full window: a kept client context may have asked for a smaller one.
  if (pool.count == kMaxPooledInflaters ||
      inflateReset2(&s->z, -kMaxWindowBitsForInflate) != Z_OK) {
    InflaterPool::destroy(s);
    return;
  }
  if (s->out.capacity() > kMaxPooledInflateOutput) s->out.release();
  s->out.clear();
  pool.items[pool.count++] = s;
}

size_t pooled_inflaters() { return tls_inflaters.count; }

void drain_inflater_pool() { tls_inflaters.clear(); }

}  // namespace detail

InflateStatus inflate_append(detail::InflateState& s, const uint8_t* in, size_t n, size_t limit,
                             Utf8Validator* utf8) {
  z_stream& z = s.z;
  z.next_in = const_cast<Bytef*>(in);
  z.avail_in = static_cast<uInt>(n);
  for (;;) {
    size_t have = s.out.size();
    // Room grows with the output (doubling), never past one byte over the limit.
    size_t want = std::min(std::max<size_t>(have, 16384), limit + 1 - have);
    uint8_t* p = s.out.grow(want);
    if (!p) return InflateStatus::kNoMemory;
    z.next_out = p;
    z.avail_out = static_cast<uInt>(want);
    uInt in_before = z.avail_in;
    int r = inflate(&z, Z_SYNC_FLUSH);
    size_t produced = want - z.avail_out;
    s.out.truncate(have + produced);
    if (r == Z_NEED_DICT || r == Z_DATA_ERROR || r == Z_STREAM_ERROR) return InflateStatus::kInvalidData;
    if (r == Z_MEM_ERROR) return InflateStatus::kNoMemory;
    if (s.out.size() > limit) return InflateStatus::kTooBig;
    if (utf8 && produced && !utf8->feed(p, produced)) return InflateStatus::kInvalidUtf8;
    if (r == Z_STREAM_END) {
      if (inflateReset(&z) != Z_OK) return InflateStatus::kNoMemory;
      if (z.avail_in == 0) return InflateStatus::kOk;
      continue;
    }
    // Z_OK or Z_BUF_ERROR: done when the input is used up and the output was not full.
    if (z.avail_in == 0 && z.avail_out != 0) return InflateStatus::kOk;
    if (z.avail_out != 0 && (r == Z_BUF_ERROR || (produced == 0 && z.avail_in == in_before)))
      return InflateStatus::kOk;
  }
}

Deflater::~Deflater() {
  for (z_stream*& z : streams_) {
    free_stream(z);
    z = nullptr;
  }
}

z_stream* Deflater::new_stream(uint8_t window_bits, int mem_level) {
  if (window_bits < 9 || window_bits > 15) return nullptr;
  auto* z = new (std::nothrow) z_stream{};
  if (!z) return nullptr;
  if (deflateInit2(z, kDeflateLevel, Z_DEFLATED, -int(window_bits), mem_level,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    delete z;
    return nullptr;
  }
  return z;
}

void Deflater::free_stream(z_stream* z) {
  if (!z) return;
  deflateEnd(z);
  delete z;
}

size_t Deflater::streams() const {
  size_t n = 0;
  for (z_stream* z : streams_) n += z != nullptr;
  return n;
}

std::span<const uint8_t> Deflater::compress(std::span<const uint8_t> in, uint8_t window_bits) {
  if (window_bits < 9 || window_bits > 15) return {};
  z_stream*& z = streams_[window_bits];
  if (!z) z = new_stream(window_bits, 8);
  if (!z) return {};
  return run(*z, in, /*reset=*/true);  // no context takeover: each message starts afresh
}

std::span<const uint8_t> Deflater::compress_with(z_stream& stream, std::span<const uint8_t> in) {
  return run(stream, in, /*reset=*/false);
}

std::span<const uint8_t> Deflater::run(z_stream& zs, std::span<const uint8_t> in, bool reset) {
  z_stream* z = &zs;
  if (out_.capacity() > kMaxKeptDeflateOutput) out_.release();
  out_.clear();
  // deflateBound covers a whole stream; the sync flush adds its empty stored block.
  size_t room = deflateBound(z, static_cast<uLong>(in.size())) + 16;
  uint8_t* p = out_.grow(room);
  if (!p) return {};
  z->next_in = const_cast<Bytef*>(in.data());
  z->avail_in = static_cast<uInt>(in.size());
  z->next_out = p;
  z->avail_out = static_cast<uInt>(room);
  int r = deflate(z, Z_SYNC_FLUSH);
  size_t produced = room - z->avail_out;
  if (reset) deflateReset(z);
  if (r != Z_OK || z->avail_in != 0 || produced < 4) {
    out_.clear();
    return {};
  }
  // Z_SYNC_FLUSH ends with an empty stored block, 00 00 ff ff, which is not sent.
  return {out_.data(), produced - sizeof kDeflateTail};
}

}  // namespace ringway::ws
