#include "probe/report.h"

#include <gtest/gtest.h>

namespace ringway::probe {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(Report, FormatSeconds) {
  EXPECT_EQ(format_seconds(microseconds(0)), "0.000s");
  EXPECT_EQ(format_seconds(microseconds(499)), "0.000s");
  EXPECT_EQ(format_seconds(microseconds(500)), "0.001s");
  EXPECT_EQ(format_seconds(milliseconds(503)), "0.503s");
  EXPECT_EQ(format_seconds(milliseconds(12'000)), "12.000s");
  EXPECT_EQ(format_seconds(milliseconds(120'001)), "120.001s");
  EXPECT_EQ(format_seconds(microseconds(-5)), "0.000s");
}

TEST(Report, FormatDuration) {
  EXPECT_EQ(format_duration_ms(0), "0ms");
  EXPECT_EQ(format_duration_ms(250), "250ms");
  EXPECT_EQ(format_duration_ms(3000), "3s");
  EXPECT_EQ(format_duration_ms(120000), "120s");
  EXPECT_EQ(format_duration_ms(2500), "2.5s");
}

TEST(Report, LineHasStatusNameTimeDetailInColumns) {
  CheckResult r{"silent-tcp", true, milliseconds(502), "server closed (EOF)"};
  EXPECT_EQ(format_line(r), "PASS  silent-tcp          0.502s  server closed (EOF)");
  CheckResult f{"close-unanswered", false, milliseconds(3001), "still open"};
  EXPECT_EQ(format_line(f), "FAIL  close-unanswered    3.001s  still open");
  CheckResult e{"x", false, milliseconds(0), ""};
  EXPECT_EQ(format_line(e), "FAIL  x                   0.000s  -");
}

TEST(Report, LineColumnsLineUpForEveryNameAndTime) {
  // The status, name and time columns have fixed widths for names up to 16 characters and
  // times under 1000 s, so the detail always starts at the same column.
  for (std::string name : {"a", "never-read", "oversized-length"}) {
    for (int ms : {0, 999, 12'345, 120'000}) {
      std::string line = format_line(CheckResult{name, true, milliseconds(ms), "D"});
      EXPECT_EQ(line.find("D"), 34u) << line;
    }
  }
}

TEST(Report, JsonStringEscapes) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("l1\nl2\t\r"), "\"l1\\nl2\\t\\r\"");
  EXPECT_EQ(json_string(std::string_view("\x01\x7f", 2)), "\"\\u0001\\u007f\"");
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  // Invalid UTF-8 (lone continuation, truncated sequence, overlong, surrogate) becomes U+FFFD.
  EXPECT_EQ(json_string("\x80"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("\xc3\x28"), "\"\\ufffd(\"");
  EXPECT_EQ(json_string("\xe0\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
}

TEST(Report, JsonDocument) {
  RunInfo info{"ws://127.0.0.1:1/echo", 3000, 2000, true};
  std::vector<CheckResult> rs = {{"silent-tcp", true, microseconds(501'250), "closed"},
                                 {"never-pong", false, milliseconds(3000), "no \"ping\""}};
  EXPECT_EQ(format_json(info, rs),
            "{\"url\":\"ws://127.0.0.1:1/echo\",\"max_wait_ms\":3000,\"ping_wait_ms\":2000,"
            "\"parallel\":true,\"passed\":1,\"failed\":1,\"checks\":["
            "{\"name\":\"silent-tcp\",\"status\":\"PASS\",\"pass\":true,\"elapsed_ms\":501.250,"
            "\"detail\":\"closed\"},"
            "{\"name\":\"never-pong\",\"status\":\"FAIL\",\"pass\":false,\"elapsed_ms\":3000.000,"
            "\"detail\":\"no \\\"ping\\\"\"}]}");
  EXPECT_EQ(format_json(RunInfo{}, {}),
            "{\"url\":\"\",\"max_wait_ms\":0,\"ping_wait_ms\":0,\"parallel\":false,\"passed\":0,"
            "\"failed\":0,\"checks\":[]}");
}

}  // namespace
}  // namespace ringway::probe
