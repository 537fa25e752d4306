#pragma once
// Test helpers: a tiny client-frame builder and a sink that records every call, plus a driver that
// feeds one stream in many splits and checks that the outcome never depends on the split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ws/message_reader.h"

namespace ringway::ws::test {

using Bytes = std::vector<uint8_t>;

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

constexpr uint16_t k1002 = close_code::kProtocolError;
constexpr uint16_t k1007 = close_code::kInvalidPayload;
constexpr uint16_t k1009 = close_code::kMessageTooBig;

struct FrameSpec {
  bool fin = true;
  uint8_t rsv = 0;
  bool masked = true;
  uint32_t mask_key = 0x9a3c51e7;
};

// Appends a client-to-server frame with the minimal length encoding.
inline void add_frame(Bytes& out, uint8_t opcode, const Bytes& payload, FrameSpec spec = {}) {
  out.push_back(static_cast<uint8_t>((spec.fin ? 0x80 : 0) | (spec.rsv << 4) | opcode));
  uint8_t mask_bit = spec.masked ? 0x80 : 0;
  uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<uint8_t>(mask_bit | n));
  } else if (n <= 0xffff) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  } else {
    out.push_back(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  }
  uint8_t key[4] = {static_cast<uint8_t>(spec.mask_key >> 24), static_cast<uint8_t>(spec.mask_key >> 16),
                    static_cast<uint8_t>(spec.mask_key >> 8), static_cast<uint8_t>(spec.mask_key)};
  if (spec.masked) out.insert(out.end(), key, key + 4);
  size_t start = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  if (spec.masked) {
    for (size_t i = 0; i < payload.size(); ++i) out[start + i] ^= key[i % 4];
  }
}

inline void add_frame(Bytes& out, Opcode op, const Bytes& payload, FrameSpec spec = {}) {
  add_frame(out, static_cast<uint8_t>(op), payload, spec);
}

inline Bytes frame(Opcode op, const Bytes& payload, FrameSpec spec = {}) {
  Bytes out;
  add_frame(out, op, payload, spec);
  return out;
}

inline Bytes close_payload(uint16_t code, std::string_view reason = {}) {
  Bytes p(2 + reason.size());
  p[0] = static_cast<uint8_t>(code >> 8);
  p[1] = static_cast<uint8_t>(code);
  std::copy(reason.begin(), reason.end(), p.begin() + 2);
  return p;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Event {
  enum Kind { kMessage, kPing, kPong, kClose } kind;
  Opcode op = Opcode::kContinuation;
  uint16_t code = 0;
  Bytes payload;
  bool operator==(const Event&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Event& e) {
  static const char* names[] = {"message", "ping", "pong", "close"};
  return os << names[e.kind] << "(op=" << int(e.op) << " code=" << e.code << " len=" << e.payload.size()
            << ")";
}

struct Recorder : MessageSink {
  std::vector<Event> events;
  void on_message(Opcode op, std::span<const uint8_t> p) override {
    events.push_back({Event::kMessage, op, 0, Bytes(p.begin(), p.end())});
  }
  void on_ping(std::span<const uint8_t> p) override {
    events.push_back({Event::kPing, Opcode::kPing, 0, Bytes(p.begin(), p.end())});
  }
  void on_pong(std::span<const uint8_t> p) override {
    events.push_back({Event::kPong, Opcode::kPong, 0, Bytes(p.begin(), p.end())});
  }
  void on_close(uint16_t code, std::span<const uint8_t> reason) override {
    events.push_back({Event::kClose, Opcode::kClose, code, Bytes(reason.begin(), reason.end())});
  }
};

struct Outcome {
  std::vector<Event> events;
  uint16_t code = 0;
  std::string reason;
  bool operator==(const Outcome&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{events:";
  for (const Event& e : o.events) os << " " << e;
  return os << "; close " << o.code << " '" << o.reason << "'}";
}

// Feeds stream cut at the given ascending offsets. Checks that nothing is delivered and {0,""} is
// returned after the first violation, and that a finished reader owns no memory.
inline Outcome run_cuts(const Bytes& stream, const std::vector<size_t>& cuts,
                        size_t max = kDefaultMaxMessageSize, bool deflate = false) {
  MessageReader reader(max);
  reader.set_deflate(deflate);
  Recorder sink;
  Outcome out;
  size_t prev = 0;
  bool failed = false;
  auto feed = [&](size_t from, size_t to) {
    size_t before = sink.events.size();
    ReadResult r = reader.feed({stream.data() + from, to - from}, sink);
    if (failed) {
      EXPECT_EQ(r.close_code, 0);
      EXPECT_EQ(sink.events.size(), before) << "delivered after a violation";
    } else if (r.close_code) {
      failed = true;
      out.code = r.close_code;
      out.reason = r.reason;
      EXPECT_TRUE(reader.idle()) << "a failed reader must release its memory";
    }
  };
  for (size_t c : cuts) {
    feed(prev, c);
    prev = c;
  }
  feed(prev, stream.size());
  out.events = std::move(sink.events);
  if (!out.events.empty() && out.events.back().kind == Event::kClose) {
    EXPECT_TRUE(reader.idle()) << "a closed reader must release its memory";
  }
  return out;
}

inline Outcome run_whole(const Bytes& stream, size_t max = kDefaultMaxMessageSize,
                         bool deflate = false) {
  return run_cuts(stream, {}, max, deflate);
}

inline Outcome run_bytewise(const Bytes& stream, size_t max = kDefaultMaxMessageSize,
                            bool deflate = false) {
  MessageReader reader(max);
  reader.set_deflate(deflate);
  Recorder sink;
  Outcome out;
  for (size_t i = 0; i < stream.size(); ++i) {
    ReadResult r = reader.feed({stream.data() + i, 1}, sink);
    if (r.close_code && !out.code) {
      out.code = r.close_code;
      out.reason = r.reason;
    }
  }
  out.events = std::move(sink.events);
  return out;
}

// Streams up to this size are cut at every offset. Beyond it every offset is still too slow
// (quadratic), so cuts cover each offset near the start and end, around every 4096-byte boundary
// of wslay's input buffer, and a stride through the middle.
inline constexpr size_t kExhaustiveSplitLimit = 16384;

inline std::vector<size_t> split_points(size_t n) {
  std::vector<size_t> cuts;
  if (n <= kExhaustiveSplitLimit) {
    for (size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
  }
  for (size_t i = 1; i < n; ++i) {
    bool edge = i < 512 || n - i < 512;
    size_t r = i % 4096;
    bool near_block = r < 20 || r > 4096 - 20;
    bool stride = i % 997 == 0;
    if (edge || near_block || stride) cuts.push_back(i);
  }
  return cuts;
}

// The core property: whole, every single split, byte by byte, and random multi-splits all give
// the same sink calls and the same close code.
inline void expect_same_in_every_split(const Bytes& stream, const Outcome& expected,
                                       size_t max = kDefaultMaxMessageSize, bool deflate = false) {
  Outcome whole = run_whole(stream, max, deflate);
  ASSERT_EQ(whole, expected);
  for (size_t cut : split_points(stream.size())) {
    Outcome o = run_cuts(stream, {cut}, max, deflate);
    ASSERT_EQ(o, expected) << "split at " << cut << " of " << stream.size();
  }
  ASSERT_EQ(run_bytewise(stream, max, deflate), expected) << "byte by byte";
  std::mt19937_64 rng(stream.size() * 7919 + 17);
  for (int round = 0; round < 50 && stream.size() > 2; ++round) {
    std::vector<size_t> cuts;
    size_t pos = 0;
    while (true) {
      pos += 1 + rng() % (1 + std::min<size_t>(stream.size() / 4, 9000));
      if (pos >= stream.size()) break;
      cuts.push_back(pos);
    }
    ASSERT_EQ(run_cuts(stream, cuts, max, deflate), expected) << "random cuts, round " << round;
  }
}

inline Event message(Opcode op, Bytes payload) { return {Event::kMessage, op, 0, std::move(payload)}; }
inline Event ping(Bytes payload) { return {Event::kPing, Opcode::kPing, 0, std::move(payload)}; }
inline Event pong(Bytes payload) { return {Event::kPong, Opcode::kPong, 0, std::move(payload)}; }
inline Event closed(uint16_t code, Bytes reason = {}) {
  return {Event::kClose, Opcode::kClose, code, std::move(reason)};
}

// Valid UTF-8 of exactly n bytes mixing 1- to 4-byte sequences.
inline Bytes mixed_text(size_t n) {
  static const std::string_view pieces[] = {"abc ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
                                            "xyz", "\xd0\x96", "\xef\xbf\xbd"};
  Bytes out;
  size_t i = 0;
  while (out.size() < n) {
    std::string_view p = pieces[i++ % std::size(pieces)];
    if (out.size() + p.size() > n) p = "a";
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

inline Bytes random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

}  // namespace ringway::ws::test
