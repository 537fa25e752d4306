#include "auth/signature_payload.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringway::auth {
namespace {

TEST(SignaturePayload, SixLinesNoTrailingNewline) {
  const std::vector<std::string> scopes = {"publish:a", "subscribe:b*", "send"};
  const std::string p = signature_payload("id", "service", scopes, 42, "nonce");
  EXPECT_EQ(p, "ringway-connect-v1\nid\nservice\npublish:a,subscribe:b*,send\n42\nnonce");
  EXPECT_EQ(std::count(p.begin(), p.end(), '\n'), 5);
}

TEST(SignaturePayload, ScopesKeepTheOrderSent) {
  const std::vector<std::string> a = {"send", "subscribe:x"};
  const std::vector<std::string> b = {"subscribe:x", "send"};
  EXPECT_NE(signature_payload("i", "device", a, 1, "n"), signature_payload("i", "device", b, 1, "n"));
}

TEST(SignaturePayload, EmptyScopesLeaveAnEmptyLine) {
  EXPECT_EQ(signature_payload("i", "device", {}, 0, "n"), "ringway-connect-v1\ni\ndevice\n\n0\nn");
}

TEST(SignaturePayload, SignedAtInDecimalUpToUint64Max) {
  EXPECT_EQ(signature_payload("i", "d", {}, UINT64_MAX, "n"),
            "ringway-connect-v1\ni\nd\n\n18446744073709551615\nn");
}

TEST(SignaturePayload, Constants) {
  EXPECT_EQ(kSignaturePrefix, "ringway-connect-v1");
  EXPECT_EQ(kMaxClockSkewMs, 120000u);
}

TEST(SignaturePayload, FreshnessWindowIsInclusiveBothWays) {
  const uint64_t now = 1767225600000;
  EXPECT_TRUE(signed_at_fresh(now, now));
  EXPECT_TRUE(signed_at_fresh(now - kMaxClockSkewMs, now));
  EXPECT_TRUE(signed_at_fresh(now + kMaxClockSkewMs, now));
  EXPECT_FALSE(signed_at_fresh(now - kMaxClockSkewMs - 1, now));
  EXPECT_FALSE(signed_at_fresh(now + kMaxClockSkewMs + 1, now));
  EXPECT_FALSE(signed_at_fresh(0, now));
  EXPECT_FALSE(signed_at_fresh(UINT64_MAX, now));  // no wrap-around
  EXPECT_FALSE(signed_at_fresh(now, UINT64_MAX));
}

}  // namespace
}  // namespace ringway::auth
