#include "ws/deflate_negotiation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringway::ws {
namespace {

// The response value for these request header values ("" when declined).
std::string answer(std::vector<std::string_view> values, DeflateMode mode = DeflateMode::kOn,
                   bool takeover_allowed = true) {
  DeflateAgreement a = negotiate_deflate(values, mode, takeover_allowed);
  char out[kMaxDeflateResponse];
  size_t n = format_deflate_response(a, out, sizeof out);
  EXPECT_EQ(a.accepted, n != 0);
  return std::string(out, n);
}

constexpr std::string_view kOnAnswer =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

TEST(DeflateNegotiation, Modes) {
  DeflateMode m;
  ASSERT_TRUE(parse_deflate_mode("takeover", m));
  EXPECT_EQ(m, DeflateMode::kTakeover);
  EXPECT_FALSE(parse_deflate_mode("yes", m));
  EXPECT_STREQ(deflate_mode_name(DeflateMode::kOff), "off");
}

TEST(DeflateNegotiation, NoOfferNoAnswer) {
  EXPECT_EQ(answer({}), "");
  EXPECT_EQ(answer({"x-webkit-deflate-frame"}), "");
  EXPECT_EQ(answer({"permessage-deflate"}, DeflateMode::kOff), "");
}

TEST(DeflateNegotiation, OnModeAsksForNoContextTakeoverBothWays) {
  EXPECT_EQ(answer({"permessage-deflate"}), kOnAnswer);
  // What browsers send: client_max_window_bits without a value is allowed and never answered
  // (the server inflates with a full window).
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}), kOnAnswer);
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits=10"}), kOnAnswer);
  EXPECT_EQ(answer({"permessage-deflate; server_no_context_takeover"}), kOnAnswer);
  EXPECT_EQ(answer({"permessage-deflate; client_no_context_takeover"}), kOnAnswer);
}

TEST(DeflateNegotiation, ServerMaxWindowBitsIsHonoured) {
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=10"}),
            std::string(kOnAnswer) + "; server_max_window_bits=10");
  DeflateAgreement a = negotiate_deflate(std::vector<std::string_view>{"permessage-deflate; server_max_window_bits=12"},
                                         DeflateMode::kOn, true);
  EXPECT_EQ(a.server_window_bits, 12);
  // 8 cannot be produced by zlib's raw deflate: declined.
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=8"}), "");
  for (int bits = 9; bits <= 15; ++bits) {
    std::string offer = "permessage-deflate; server_max_window_bits=" + std::to_string(bits);
    EXPECT_EQ(answer({offer}), std::string(kOnAnswer) + "; server_max_window_bits=" +
                                   std::to_string(bits));
  }
}

TEST(DeflateNegotiation, RfcExamples) {
  // RFC 7692 §7.1.3 and §5: offers in order of preference, the first acceptable one wins.
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
                    "permessage-deflate; client_max_window_bits"}),
            std::string(kOnAnswer) + "; server_max_window_bits=10");
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=8, permessage-deflate"}), kOnAnswer);
  EXPECT_EQ(answer({"permessage-deflate; unknown_param, permessage-deflate; server_max_window_bits=11"}),
            std::string(kOnAnswer) + "; server_max_window_bits=11");
  // Quoted values (RFC 6455's quoted-string) are unquoted first.
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=\"10\""}),
            std::string(kOnAnswer) + "; server_max_window_bits=10");
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits=\"15\""}), kOnAnswer);
}

TEST(DeflateNegotiation, OffersOverSeveralHeaders) {
  EXPECT_EQ(answer({"x-foo", "permessage-deflate; server_max_window_bits=9"}),
            std::string(kOnAnswer) + "; server_max_window_bits=9");
  EXPECT_EQ(answer({"permessage-deflate; bogus", "permessage-deflate"}), kOnAnswer);
  EXPECT_EQ(answer({", ,permessage-deflate,"}), kOnAnswer);
}

TEST(DeflateNegotiation, MalformedOffersAreDeclined) {
  for (std::string_view bad : {
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; client_no_context_takeover=\"x\"",
           "permessage-deflate; server_max_window_bits",
           "permessage-deflate; server_max_window_bits=16",
           "permessage-deflate; server_max_window_bits=7",
           "permessage-deflate; server_max_window_bits=010",
           "permessage-deflate; server_max_window_bits=1a",
           "permessage-deflate; server_max_window_bits=",
           "permessage-deflate; client_max_window_bits=16",
           "permessage-deflate; client_max_window_bits=0",
           "permessage-deflate; client_max_window_bits=\"1 0\"",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
           "permessage-deflate; client_max_window_bits=\"10",
           "permessage-deflate;",
           "permessage-deflate; x",
           "Permessage-Deflate",
           "permessage-deflate-x",
       }) {
    EXPECT_EQ(answer({bad}), "") << bad;
  }
}

// Every combination of the four parameters, in both modes: accepted (with only the allowed
// answer parameters), and server_no_context_takeover answered whenever it was offered.
TEST(DeflateNegotiation, EveryParameterCombination) {
  const char* bits_values[] = {nullptr, "9", "15"};
  for (DeflateMode mode : {DeflateMode::kOn, DeflateMode::kTakeover}) {
    for (bool takeover_allowed : {false, true}) {
      for (int mask = 0; mask < 4; ++mask) {
        for (const char* sbits : bits_values) {
          for (int cbits = 0; cbits < 3; ++cbits) {  // absent, no value, a value
            std::string offer = "permessage-deflate";
            if (mask & 1) offer += "; server_no_context_takeover";
            if (mask & 2) offer += "; client_no_context_takeover";
            if (sbits) offer += std::string("; server_max_window_bits=") + sbits;
            if (cbits == 1) offer += "; client_max_window_bits";
            if (cbits == 2) offer += "; client_max_window_bits=12";
            DeflateAgreement a = negotiate_deflate(std::vector<std::string_view>{offer}, mode,
                                                   takeover_allowed);
            ASSERT_TRUE(a.accepted) << offer;
            std::string got = answer({offer}, mode, takeover_allowed);
            bool takeover = mode == DeflateMode::kTakeover && takeover_allowed;
            EXPECT_EQ(a.server_no_context_takeover, !takeover || (mask & 1)) << offer;
            EXPECT_EQ(a.client_no_context_takeover, !takeover || (mask & 2)) << offer;
            EXPECT_EQ(got.find("server_no_context_takeover") != std::string::npos,
                      a.server_no_context_takeover);
            EXPECT_EQ(got.find("client_no_context_takeover") != std::string::npos,
                      a.client_no_context_takeover);
            EXPECT_EQ(got.find("server_max_window_bits") != std::string::npos, sbits != nullptr)
                << offer;
            if (sbits) EXPECT_NE(got.find(std::string("server_max_window_bits=") + sbits), std::string::npos);
            EXPECT_EQ(a.server_window_bits, sbits ? std::stoi(sbits) : 15);
            // Asked for only when the client's window is kept and the client offered it.
            bool ask = !a.client_no_context_takeover && cbits != 0;
            EXPECT_EQ(a.answer_client_window_bits, ask) << offer;
            EXPECT_EQ(got.find("client_max_window_bits=12") != std::string::npos, ask) << offer;
            if (!ask) EXPECT_EQ(got.find("client_max_window_bits"), std::string::npos) << offer;
          }
        }
      }
    }
  }
}

TEST(DeflateNegotiation, TakeoverModeLeavesContextWhenAllowed) {
  EXPECT_EQ(answer({"permessage-deflate"}, DeflateMode::kTakeover, true), "permessage-deflate");
  EXPECT_EQ(answer({"permessage-deflate"}, DeflateMode::kTakeover, false), kOnAnswer);
  // A kept client window is cut to 4 KiB when the client lets the server choose it...
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}, DeflateMode::kTakeover, true),
            "permessage-deflate; client_max_window_bits=12");
  // ... and never raised above what the client offered.
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits=10"}, DeflateMode::kTakeover, true),
            "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}, DeflateMode::kTakeover, false),
            kOnAnswer);
}

TEST(DeflateNegotiation, ResponseNeedsRoom) {
  DeflateAgreement a = negotiate_deflate(std::vector<std::string_view>{"permessage-deflate; server_max_window_bits=10"},
                                         DeflateMode::kOn, true);
  char small[20];
  EXPECT_EQ(format_deflate_response(a, small, sizeof small), 0u);
  char big[kMaxDeflateResponse];
  EXPECT_GT(format_deflate_response(a, big, sizeof big), 0u);
}

}  // namespace
}  // namespace ringway::ws
