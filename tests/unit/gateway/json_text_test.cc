// The raw-text walk over validated JSON that the request parser and the client library share.
#include "gateway/json_text.h"

#include <gtest/gtest.h>

namespace ringway::gateway {
namespace {

TEST(JsonText, MembersByIndexAndByNameExactlyAsWritten) {
  constexpr std::string_view doc =
      R"( { "a" : 1 , "data" : { "k" : [ 1 , "]}\"" ] } ,"s":"x\\","z":true } )";
  std::string_view v;
  ASSERT_TRUE(member_text(doc, 0, v));
  EXPECT_EQ(v, "1");
  ASSERT_TRUE(member_text(doc, 1, v));
  EXPECT_EQ(v, R"({ "k" : [ 1 , "]}\"" ] })");
  ASSERT_TRUE(member_text(doc, 2, v));
  EXPECT_EQ(v, R"("x\\")");
  EXPECT_FALSE(member_text(doc, 4, v));
  EXPECT_EQ(member_text(doc, "z"), "true");
  EXPECT_FALSE(member_text(doc, "missing"));
}

TEST(JsonText, NotAnObjectOrMalformedFindsNothing) {
  std::string_view v;
  for (std::string_view bad : {"", "[1]", "{}", "{", R"({"a")", R"({"a":)", R"({"a":"open)",
                               R"({"a":{"b":1})", R"({"a" 1})", R"({"a":1 "b":2})"}) {
    EXPECT_FALSE(member_text(bad, "b")) << bad;
    EXPECT_FALSE(member_text(bad, 1, v)) << bad;
  }
}

TEST(JsonText, SkipsValuesOfEveryKind) {
  EXPECT_EQ(json_skip_value(R"("a\"b" ,)", 0), 6u);
  EXPECT_EQ(json_skip_value("-12.5e3,", 0), 7u);
  EXPECT_EQ(json_skip_value("[[[]],{}] ", 0), 9u);
  EXPECT_EQ(json_skip_value("[[", 0), std::string_view::npos);
  EXPECT_EQ(json_skip_space(" \t\r\nx", 0), 4u);
}

}  // namespace
}  // namespace ringway::gateway
