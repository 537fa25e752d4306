#pragma once
// permessage-deflate's codec (RFC 7692 §7.2) over zlib's raw deflate.
//
// Receiving: an inflate state (~7 KB plus a 32 KiB window) is borrowed from a per-thread pool
// only while a compressed message is being received, and returned when it is delivered, so an
// idle connection holds no compression memory. Output is bounded as it grows: inflating stops
// one byte past the message-size limit, so a small message that would inflate to gigabytes costs
// no more than the limit.
//
// Sending: one deflate state per window size per worker, reset after each message (no context
// takeover), compressing with Z_SYNC_FLUSH and dropping the 00 00 ff ff tail the receiver adds
// back. The output never ends in a final (BFINAL) block, which some clients reject on the next
// message. libdeflate compresses whole buffers faster but always ends with a final block;
// docs/deflate.md has the measurements and the reasons.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/byte_buffer.h"
#include "ws/utf8.h"

namespace ringway::ws {

// The tail every compressed message ends with before it is cut off (RFC 7692 §7.2.1).
inline constexpr uint8_t kDeflateTail[4] = {0x00, 0x00, 0xff, 0xff};
// zlib's compression level for outgoing messages: speed over the last few percent of ratio.
inline constexpr int kDeflateLevel = 1;
// The receiver's window: 2^15 reads whatever window the client compressed with.
inline constexpr int kMaxWindowBitsForInflate = 15;
// Inflate states a thread keeps for reuse; more are freed when returned.
inline constexpr size_t kMaxPooledInflaters = 16;
// A pooled inflater keeps its output buffer up to this size; larger ones are freed.
inline constexpr size_t kMaxPooledInflateOutput = 64 * 1024;
// A deflater's scratch output beyond this size is freed after the message.
inline constexpr size_t kMaxKeptDeflateOutput = 256 * 1024;
// Context takeover (one connection's own deflate stream, kept between messages): a 4 KiB window
// and a small hash keep the state near 30 KB; repeated JSON keys are found within it.
inline constexpr uint8_t kTakeoverWindowBits = 12;
inline constexpr int kTakeoverMemLevel = 4;
// What one connection with context takeover in both directions holds: its deflate stream
// (zlib: 2^(w+2) + 2^(m+9) plus ~6 KB) and a kept inflate state (~7 KB plus the client's
// window, 2^client_window_bits: 32 KiB unless the client let it be cut with
// client_max_window_bits). bench/deflate_bench measures 70.6 KB and 41.9 KB for 15 and 12 bits.
constexpr size_t takeover_bytes(uint8_t client_window_bits) {
  return (size_t(1) << (kTakeoverWindowBits + 2)) + (size_t(1) << (kTakeoverMemLevel + 9)) +
         6144 + 7168 + (size_t(1) << client_window_bits);
}
// The most one connection is charged (the budget's check before negotiating).
inline constexpr size_t kTakeoverBytes = takeover_bytes(15);

namespace detail {
struct InflateState {
  z_stream z;
  ByteBuffer out;  // the message inflated so far
  size_t in_bytes;  // compressed bytes received for it
  // Context takeover only: the connection's kept deflate stream for sending, which lives here
  // so that a connection's whole compression context hangs off the reader's one pointer.
  z_stream* deflate;
};
// A reset state with empty output; nullptr when out of memory.
InflateState* acquire_inflater();
void release_inflater(InflateState* s);
size_t pooled_inflaters();
void drain_inflater_pool();
}  // namespace detail

enum class InflateStatus : uint8_t { kOk, kTooBig, kInvalidData, kInvalidUtf8, kNoMemory };

// Inflates n bytes onto s.out, never holding more than limit bytes (kTooBig as soon as the
// output would pass it). New output is fed to utf8 when it is not null (kInvalidUtf8 at the
// first bad byte). A final (BFINAL) block in the input is allowed: inflating starts a new stream
// behind it.
InflateStatus inflate_append(detail::InflateState& s, const uint8_t* in, size_t n, size_t limit,
                             Utf8Validator* utf8);

class Deflater {
 public:
  Deflater() = default;
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses a whole message with a window of 2^window_bits (9..15). The result (without the
  // 00 00 ff ff tail) is valid until the next call; empty when out of memory.
  std::span<const uint8_t> compress(std::span<const uint8_t> in, uint8_t window_bits);
  // The same with a connection's own stream, whose window carries over to the next message
  // (context takeover); the scratch output is this deflater's.
  std::span<const uint8_t> compress_with(z_stream& stream, std::span<const uint8_t> in);
  // A raw deflate stream (window 2^window_bits, 9..15) for compress_with; nullptr when out of
  // memory. Freed with free_stream.
  static z_stream* new_stream(uint8_t window_bits, int mem_level);
  static void free_stream(z_stream* z);
  // How many deflate states exist (one per window size used).
  size_t streams() const;

 private:
  std::span<const uint8_t> run(z_stream& z, std::span<const uint8_t> in, bool reset);

  z_stream* streams_[16] = {};  // by window bits, created on first use
  ByteBuffer out_;
};

}  // namespace ringway::ws
