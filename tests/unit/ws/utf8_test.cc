#include "ws/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::ws {
namespace {

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A plain decoder written from the definition, to compare the state machine against.
bool reference_valid(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      len = 2, cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3, cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    static const uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// Index of the byte at which feeding one byte at a time first fails; npos if none does.
size_t reject_index(std::string_view s) {
  Utf8Validator v;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!v.feed(reinterpret_cast<const uint8_t*>(s.data()) + i, 1)) return i;
  }
  return std::string_view::npos;
}

const std::string_view kGood[] = {
    "",
    "plain ascii text that is longer than sixteen bytes",
    "\x7f",
    "\xc2\x80",          // U+0080
    "\xdf\xbf",          // U+07FF
    "\xe0\xa0\x80",      // U+0800
    "\xe2\x82\xac",      // €
    "\xed\x9f\xbf",      // U+D7FF, last before surrogates
    "\xee\x80\x80",      // U+E000, first after surrogates
    "\xef\xbf\xbf",      // U+FFFF
    "\xf0\x90\x80\x80",  // U+10000
    "\xf0\x9d\x84\x9e",  // 𝄞
    "\xf4\x8f\xbf\xbf",  // U+10FFFF
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  // κόσμε
    "caf\xc3\xa9 \xe2\x82\xac 12345678901234567890 \xf0\x9f\x98\x80 end",
};

struct Bad {
  std::string_view text;
  size_t reject_at;  // npos: every byte is a valid prefix but the text ends mid-sequence
};

const Bad kBad[] = {
    {"\x80", 0},                        // stray continuation
    {"\xbf", 0},
    {"abc\x80", 3},
    {"\xc0\x80", 0},                    // C0/C1 can only start overlongs
    {"\xc1\xbf", 0},
    {"\xe0\x80\x80", 1},                // overlong 3-byte
    {"\xe0\x9f\xbf", 1},
    {"\xed\xa0\x80", 1},                // surrogate U+D800
    {"\xed\xbf\xbf", 1},                // surrogate U+DFFF
    {"\xf0\x80\x80\x80", 1},            // overlong 4-byte
    {"\xf0\x8f\xbf\xbf", 1},
    {"\xf4\x90\x80\x80", 1},            // U+110000
    {"\xf5\x80\x80\x80", 0},            // F5..FF never appear
    {"\xf8\x88\x80\x80\x80", 0},
    {"\xfe", 0},
    {"\xff", 0},
    {"\xc2\x41", 1},                    // lead without continuation
    {"\xe2\x28\xa1", 1},
    {"\xe2\x82\x28", 2},
    {"\xf0\x9d\x84\x41", 3},
    {"\xc3\xa9\xa9", 2},                // one continuation too many
    {"0123456789abcdef0123456789\xff", 26},  // after the ASCII fast path
    {"\xc2", std::string_view::npos},   // truncated
    {"\xe2\x82", std::string_view::npos},
    {"\xf0\x9d\x84", std::string_view::npos},
    {"ok \xf4\x8f\xbf", std::string_view::npos},
};

TEST(Utf8, GoodVectors) {
  for (std::string_view s : kGood) {
    EXPECT_TRUE(is_valid_utf8(as_bytes(s))) << s;
    EXPECT_EQ(reject_index(s), std::string_view::npos) << s;
  }
}

TEST(Utf8, BadVectorsFailAtTheFirstBadByte) {
  for (const Bad& b : kBad) {
    SCOPED_TRACE(testing::PrintToString(std::string(b.text)));
    EXPECT_FALSE(is_valid_utf8(as_bytes(b.text)));
    EXPECT_EQ(reject_index(b.text), b.reject_at);
  }
}

// Splitting the input anywhere (with ASCII padding moving the fast path's word boundaries)
// never changes the verdict.
TEST(Utf8, EverySplitGivesTheSameVerdict) {
  std::vector<std::string> inputs;
  for (std::string_view s : kGood) inputs.emplace_back(s);
  for (const Bad& b : kBad) inputs.emplace_back(b.text);
  for (const std::string& core : inputs) {
    for (size_t pad = 0; pad <= 17; ++pad) {
      std::string s = std::string(pad, 'p') + core + std::string(17 - pad, 's');
      bool expected = is_valid_utf8(as_bytes(s));
      ASSERT_EQ(expected, reference_valid(as_bytes(s).data(), s.size()));
      for (size_t cut = 0; cut <= s.size(); ++cut) {
        Utf8Validator v;
        auto p = as_bytes(s);
        bool ok = v.feed(p.data(), cut);
        ok = v.feed(p.data() + cut, s.size() - cut) && ok;
        ASSERT_EQ(ok && v.complete(), expected) << "pad " << pad << " cut " << cut;
      }
    }
  }
}

TEST(Utf8, RejectionIsStickyUntilReset) {
  Utf8Validator v;
  const uint8_t bad[] = {0xff};
  const uint8_t good[] = {'a'};
  EXPECT_FALSE(v.feed(bad, 1));
  EXPECT_FALSE(v.feed(good, 1));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.feed(good, 1));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, CompleteOnlyBetweenCodePoints) {
  Utf8Validator v;
  const uint8_t euro[] = {0xe2, 0x82, 0xac};
  EXPECT_TRUE(v.feed(euro, 1));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed(euro + 1, 1));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed(euro + 2, 1));
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed(euro, 0));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8, AllTwoByteSequencesMatchReference) {
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      uint8_t s[2] = {uint8_t(a), uint8_t(b)};
      ASSERT_EQ(is_valid_utf8({s, 2}), reference_valid(s, 2)) << a << " " << b;
    }
  }
}

TEST(Utf8, AllThreeByteSequencesFromMultibyteLeadsMatchReference) {
  for (int a = 0xc0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        uint8_t s[3] = {uint8_t(a), uint8_t(b), uint8_t(c)};
        ASSERT_EQ(is_valid_utf8({s, 3}), reference_valid(s, 3)) << a << " " << b << " " << c;
      }
    }
  }
}

TEST(Utf8, FourByteSequencesMatchReference) {
  const int tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
  for (int a = 0xf0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : tails) {
        for (int d : tails) {
          uint8_t s[4] = {uint8_t(a), uint8_t(b), uint8_t(c), uint8_t(d)};
          ASSERT_EQ(is_valid_utf8({s, 4}), reference_valid(s, 4));
        }
      }
    }
  }
}

TEST(Utf8, RandomTextMatchesReference) {
  std::mt19937_64 rng(42);
  // Mostly well-formed pieces with occasional random bytes, so both verdicts are common.
  const std::string_view pieces[] = {"a", "0123456789abcdef", "\xc3\xa9", "\xe2\x82\xac",
                                     "\xf0\x9d\x84\x9e", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    int parts = rng() % 12;
    for (int i = 0; i < parts; ++i) {
      if (rng() % 16 == 0) {
        s.push_back(static_cast<char>(rng()));
      } else {
        s += pieces[rng() % std::size(pieces)];
      }
    }
    auto p = as_bytes(s);
    bool expected = reference_valid(p.data(), p.size());
    ASSERT_EQ(is_valid_utf8(p), expected);
    size_t cut = s.empty() ? 0 : rng() % (s.size() + 1);
    Utf8Validator v;
    bool ok = v.feed(p.data(), cut);
    ok = v.feed(p.data() + cut, p.size() - cut) && ok;
    ASSERT_EQ(ok && v.complete(), expected);
  }
}

}  // namespace
}  // namespace ringway::ws
