#include "auth/base64url.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ringway::auth {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(bytes("")), "");
  EXPECT_EQ(base64url_encode(bytes("f")), "Zg");
  EXPECT_EQ(base64url_encode(bytes("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(bytes("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(bytes("foob")), "Zm9vYg");
  EXPECT_EQ(base64url_encode(bytes("fooba")), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(bytes("foobar")), "Zm9vYmFy");
}

TEST(Base64Url, UsesUrlSafeAlphabet) {
  const std::vector<uint8_t> in = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64url_encode(in), "-_-_");
  std::array<uint8_t, 3> out{};
  ASSERT_TRUE(base64url_decode("-_-_", out));
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), in);
}

TEST(Base64Url, EncodedSizeMatchesEncoder) {
  for (size_t n = 0; n < 100; ++n) {
    EXPECT_EQ(base64url_encode(std::vector<uint8_t>(n, 0x5a)).size(), base64url_encoded_size(n));
  }
  EXPECT_EQ(base64url_encoded_size(32), 43u);
  EXPECT_EQ(base64url_encoded_size(64), 86u);
}

TEST(Base64Url, RoundTripsEveryLengthAndByte) {
  for (size_t n = 0; n < 70; ++n) {
    std::vector<uint8_t> in(n);
    for (size_t i = 0; i < n; ++i) in[i] = static_cast<uint8_t>(i * 37 + n);
    const std::string enc = base64url_encode(in);
    std::vector<uint8_t> out(n, 0xee);
    ASSERT_TRUE(base64url_decode(enc, out)) << enc;
    EXPECT_EQ(out, in);
  }
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> out(256);
  ASSERT_TRUE(base64url_decode(base64url_encode(all), out));
  EXPECT_EQ(out, all);
}

TEST(Base64Url, RejectsPadding) {
  std::array<uint8_t, 1> one{};
  std::array<uint8_t, 2> two{};
  EXPECT_FALSE(base64url_decode("Zg==", one));
  EXPECT_FALSE(base64url_decode("Zg=", one));
  EXPECT_FALSE(base64url_decode("Zm8=", two));
  EXPECT_TRUE(base64url_decode("Zg", one));
  EXPECT_TRUE(base64url_decode("Zm8", two));
}

TEST(Base64Url, RejectsStandardAlphabetAndOtherBytes) {
  std::array<uint8_t, 3> out{};
  EXPECT_FALSE(base64url_decode("+/+/", out));
  EXPECT_FALSE(base64url_decode("-_-+", out));
  EXPECT_FALSE(base64url_decode("-_-/", out));
  EXPECT_FALSE(base64url_decode("Zm9 ", out));
  EXPECT_FALSE(base64url_decode("Zm9\n", out));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm9\0", 4), out));
  EXPECT_FALSE(base64url_decode("Zm9\xc3", out));
  EXPECT_TRUE(base64url_decode("Zm9v", out));
}

TEST(Base64Url, RejectsWrongLengths) {
  std::array<uint8_t, 32> key{};
  const std::string good = base64url_encode(key);
  ASSERT_EQ(good.size(), 43u);
  EXPECT_TRUE(base64url_decode(good, key));
  EXPECT_FALSE(base64url_decode(good.substr(0, 42), key));
  EXPECT_FALSE(base64url_decode(good + "A", key));
  EXPECT_FALSE(base64url_decode("", key));
  std::array<uint8_t, 33> longer{};
  EXPECT_FALSE(base64url_decode(good, longer));
  std::array<uint8_t, 0> none{};
  EXPECT_TRUE(base64url_decode("", none));
  EXPECT_FALSE(base64url_decode("A", none));
}

TEST(Base64Url, RejectsNonCanonicalTrailingBits) {
  // One byte 0x66 encodes as "Zg"; "Zh".."Zv" decode to the same byte with junk low bits.
  std::array<uint8_t, 1> one{};
  EXPECT_TRUE(base64url_decode("Zg", one));
  EXPECT_EQ(one[0], 'f');
  EXPECT_FALSE(base64url_decode("Zh", one));
  EXPECT_FALSE(base64url_decode("Zv", one));
  // Two bytes "fo" encode as "Zm8"; "Zm9" carries a set low bit.
  std::array<uint8_t, 2> two{};
  EXPECT_TRUE(base64url_decode("Zm8", two));
  EXPECT_FALSE(base64url_decode("Zm9", two));
  EXPECT_FALSE(base64url_decode("Zm-", two));
  // A 32-byte key's last char carries 2 unused bits: 'E' (000100) is canonical, 'B' is not.
  std::array<uint8_t, 32> key{};
  std::string enc = base64url_encode(key);
  EXPECT_EQ(enc.back(), 'A');
  enc.back() = 'B';
  EXPECT_FALSE(base64url_decode(enc, key));
  enc.back() = 'E';  // 000100: only used bits set
  EXPECT_TRUE(base64url_decode(enc, key));
}

}  // namespace
}  // namespace ringway::auth
