#include "io/user_data.h"

#include <gtest/gtest.h>

namespace ringway::io {
namespace {

TEST(UserData, RoundTripsEveryField) {
  for (Op op : {Op::kAccept, Op::kRecv, Op::kSend, Op::kClose, Op::kPeerName, Op::kWake}) {
    for (uint32_t slot : {0u, 1u, 19999u, 0xffffffffu}) {
      for (uint32_t gen : {0u, 1u, kGenerationMask}) {
        UserData u = unpack(pack(op, slot, gen));
        EXPECT_EQ(u.op, op);
        EXPECT_EQ(u.slot, slot);
        EXPECT_EQ(u.gen, gen);
      }
    }
  }
}

TEST(UserData, GenerationWrapsWithinItsBits) {
  // A generation past the mask wraps instead of spilling into the op byte.
  UserData u = unpack(pack(Op::kRecv, 7, kGenerationMask + 1));
  EXPECT_EQ(u.op, Op::kRecv);
  EXPECT_EQ(u.gen, 0u);
}

}  // namespace
}  // namespace ringway::io
