#include "ws/utf8.h"

#include <array>
#include <cstring>

namespace ringway::ws {
namespace {

// Byte classes, from the table of well-formed byte sequences (Unicode 15, table 3-7). The
// continuation range is cut where a lead byte narrows it: E0 needs A0..BF (no overlongs), ED
// needs 80..9F (no surrogates), F0 needs 90..BF (no overlongs), F4 needs 80..8F (<= U+10FFFF).
constexpr uint8_t kAscii = 0;     // 00..7F
constexpr uint8_t kCont8 = 1;     // 80..8F
constexpr uint8_t kCont9 = 2;     // 90..9F
constexpr uint8_t kContAB = 3;    // A0..BF
constexpr uint8_t kLead2 = 4;     // C2..DF
constexpr uint8_t kLeadE0 = 5;    // E0
constexpr uint8_t kLead3 = 6;     // E1..EC, EE..EF
constexpr uint8_t kLeadED = 7;    // ED
constexpr uint8_t kLeadF0 = 8;    // F0
constexpr uint8_t kLead4 = 9;     // F1..F3
constexpr uint8_t kLeadF4 = 10;   // F4
constexpr uint8_t kInvalid = 11;  // C0, C1, F5..FF: can never appear
constexpr uint8_t kClassCount = 12;

// States, as indexes; stored multiplied by kClassCount so a step is one add and one load.
constexpr uint8_t kAccept = 0;   // between code points
constexpr uint8_t kReject = 1;   // absorbing
constexpr uint8_t kNeed1 = 2;    // one more 80..BF
constexpr uint8_t kNeed2 = 3;    // two more 80..BF
constexpr uint8_t kNeed3 = 4;    // three more 80..BF
constexpr uint8_t kAfterE0 = 5;  // A0..BF then one more
constexpr uint8_t kAfterED = 6;  // 80..9F then one more
constexpr uint8_t kAfterF0 = 7;  // 90..BF then two more
constexpr uint8_t kAfterF4 = 8;  // 80..8F then two more
constexpr uint8_t kStateCount = 9;

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> c{};
  for (int b = 0; b < 256; ++b) {
    uint8_t k = kInvalid;
    if (b <= 0x7f) k = kAscii;
    else if (b <= 0x8f) k = kCont8;
    else if (b <= 0x9f) k = kCont9;
    else if (b <= 0xbf) k = kContAB;
    else if (b >= 0xc2 && b <= 0xdf) k = kLead2;
    else if (b == 0xe0) k = kLeadE0;
    else if (b == 0xed) k = kLeadED;
    else if (b >= 0xe1 && b <= 0xef) k = kLead3;
    else if (b == 0xf0) k = kLeadF0;
    else if (b >= 0xf1 && b <= 0xf3) k = kLead4;
    else if (b == 0xf4) k = kLeadF4;
    c[b] = k;
  }
  return c;
}

constexpr std::array<uint8_t, kStateCount * kClassCount> make_transitions() {
  std::array<uint8_t, kStateCount * kClassCount> t{};
  auto set = [&t](uint8_t from, uint8_t cls, uint8_t to) {
    t[from * kClassCount + cls] = static_cast<uint8_t>(to * kClassCount);
  };
  for (uint8_t s = 0; s < kStateCount; ++s)
    for (uint8_t k = 0; k < kClassCount; ++k) set(s, k, kReject);
  set(kAccept, kAscii, kAccept);
  set(kAccept, kLead2, kNeed1);
  set(kAccept, kLeadE0, kAfterE0);
  set(kAccept, kLead3, kNeed2);
  set(kAccept, kLeadED, kAfterED);
  set(kAccept, kLeadF0, kAfterF0);
  set(kAccept, kLead4, kNeed3);
  set(kAccept, kLeadF4, kAfterF4);
  for (uint8_t k : {kCont8, kCont9, kContAB}) {
    set(kNeed1, k, kAccept);
    set(kNeed2, k, kNeed1);
    set(kNeed3, k, kNeed2);
  }
  set(kAfterE0, kContAB, kNeed1);
  set(kAfterED, kCont8, kNeed1);
  set(kAfterED, kCont9, kNeed1);
  set(kAfterF0, kCont9, kNeed2);
  set(kAfterF0, kContAB, kNeed2);
  set(kAfterF4, kCont8, kNeed2);
  return t;
}

constexpr auto kClasses = make_classes();
constexpr auto kTransitions = make_transitions();
constexpr uint8_t kAcceptState = kAccept * kClassCount;
constexpr uint8_t kRejectState = kReject * kClassCount;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

static_assert(kStateCount * kClassCount <= 256, "pre-multiplied states must fit a byte");

inline uint64_t load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

}  // namespace

bool Utf8Validator::feed(const uint8_t* p, size_t n) {
  uint8_t s = state_;
  const uint8_t* end = p + n;
  while (p != end && s != kRejectState) {
    if (s == kAcceptState) {
      // Text is mostly ASCII: skip 16, then 8, bytes at a time while no high bit is set.
      while (end - p >= 16 && ((load64(p) | load64(p + 8)) & kHighBits) == 0) p += 16;
      if (end - p >= 8 && (load64(p) & kHighBits) == 0) p += 8;
      if (p == end) break;
    }
    // Step byte by byte through a run of non-ASCII text; probing for ASCII words after every
    // code point would cost more than it saves.
    do {
      s = kTransitions[s + kClasses[*p++]];
    } while (p != end && s != kRejectState && (s != kAcceptState || *p >= 0x80));
  }
  state_ = s;
  return s != kRejectState;
}

bool is_valid_utf8(std::span<const uint8_t> bytes) {
  Utf8Validator v;
  return v.feed(bytes.data(), bytes.size()) && v.complete();
}

}  // namespace ringway::ws
