#include "ws/close_code.h"

#include <gtest/gtest.h>

namespace ringway::ws {
namespace {

bool expected_valid(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

TEST(CloseCode, EveryCodeAgainstTheRfcRanges) {
  for (int code = 0; code <= 0xffff; ++code) {
    ASSERT_EQ(is_valid_received_close_code(static_cast<uint16_t>(code)), expected_valid(code))
        << code;
  }
}

TEST(CloseCode, NamedExamples) {
  for (uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    EXPECT_FALSE(is_valid_received_close_code(bad)) << bad;
  }
  for (uint16_t good : {close_code::kNormal, close_code::kGoingAway, close_code::kProtocolError,
                        close_code::kInvalidPayload, close_code::kPolicy, close_code::kMessageTooBig,
                        close_code::kInternal, close_code::kTryAgainLater, uint16_t{3000},
                        uint16_t{4999}}) {
    EXPECT_TRUE(is_valid_received_close_code(good)) << good;
  }
}

}  // namespace
}  // namespace ringway::ws
