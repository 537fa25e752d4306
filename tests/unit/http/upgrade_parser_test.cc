#include "http/upgrade_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringway::http {
namespace {

// Everything a caller can observe after feeding an input, flattened so that two runs compare
// with ==.
struct Outcome {
  ParseState state = ParseState::kNeedMore;
  int status = 0;
  size_t consumed = 0;
  std::string request;  // the parsed request, printed; empty unless kComplete

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{state=" << static_cast<int>(o.state) << " status=" << o.status
            << " consumed=" << o.consumed << " request=" << o.request << "}";
}

std::string print_request(const Request& r) {
  std::string s = std::string(r.method) + "|" + std::string(r.target) + "|" +
                  std::string(r.path) + "|1." + std::to_string(r.minor_version);
  for (const Header& h : r.headers) s += "|" + std::string(h.name) + "=" + std::string(h.value);
  return s;
}

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Feeds `input` cut at the given offsets (ascending), checking the memory bound on the way.
Outcome parse_cut_at(std::string_view input, const std::vector<size_t>& cuts) {
  UpgradeParser parser;
  Outcome out;
  size_t begin = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    out.consumed += parser.feed(as_bytes(input.substr(begin, end - begin)));
    if (parser.state() == ParseState::kNeedMore) {
      EXPECT_LE(parser.memory(), kMaxHeaderBytes);
    }
    begin = end;
  }
  out.state = parser.state();
  if (out.state == ParseState::kError) {
    out.status = parser.error_status();
    EXPECT_EQ(parser.memory(), 0u) << "an error frees the buffer";
  }
  if (out.state == ParseState::kComplete) out.request = print_request(parser.request());
  return out;
}

Outcome parse_whole(std::string_view input) { return parse_cut_at(input, {}); }

Outcome parse_one_byte_at_a_time(std::string_view input) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  return parse_cut_at(input, cuts);
}

// Parses whole, cut in two at every offset, and one byte at a time; all must agree.
Outcome parse_in_every_split(std::string_view input) {
  const Outcome whole = parse_whole(input);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    const Outcome split = parse_cut_at(input, {cut});
    if (split != whole) {
      ADD_FAILURE() << "cut at " << cut << ": " << split << " vs whole " << whole;
      break;
    }
  }
  EXPECT_EQ(parse_one_byte_at_a_time(input), whole) << "one byte at a time";
  return whole;
}

constexpr std::string_view kRfcSampleRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

void expect_complete(std::string_view input, std::string_view printed) {
  SCOPED_TRACE(std::string(input));
  const Outcome o = parse_in_every_split(input);
  EXPECT_EQ(o.state, ParseState::kComplete);
  EXPECT_EQ(o.consumed, input.size());
  EXPECT_EQ(o.request, printed);
}

void expect_error(std::string_view input, int status) {
  SCOPED_TRACE(std::string(input));
  const Outcome o = parse_in_every_split(input);
  EXPECT_EQ(o.state, ParseState::kError);
  EXPECT_EQ(o.status, status);
}

// A minimal valid head with the given lines between the request line and the blank line.
std::string head_with(std::string_view request_line, std::string_view header_lines) {
  return std::string(request_line) + "\r\n" + std::string(header_lines) + "\r\n";
}

TEST(UpgradeParser, ParsesRfcSampleInEverySplit) {
  expect_complete(kRfcSampleRequest,
                  "GET|/chat|/chat|1.1|Host=server.example.com|Upgrade=websocket|"
                  "Connection=Upgrade|Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==|"
                  "Origin=http://example.com|Sec-WebSocket-Protocol=chat, superchat|"
                  "Sec-WebSocket-Version=13");
}

TEST(UpgradeParser, SplitsPathFromQuery) {
  expect_complete(head_with("GET /ws?token=a?b&c=d HTTP/1.1", "Host: h\r\n"),
                  "GET|/ws?token=a?b&c=d|/ws|1.1|Host=h");
  expect_complete(head_with("GET /? HTTP/1.1", "Host: h\r\n"), "GET|/?|/|1.1|Host=h");
}

TEST(UpgradeParser, TrimsOptionalWhitespaceAroundValues) {
  expect_complete(head_with("GET / HTTP/1.1", "Host: \t h \t\r\nX-A:v\r\nX-Empty:\r\nX-Blank: \t \r\n"
                                              "X-Inner: a  b\tc\r\n"),
                  "GET|/|/|1.1|Host=h|X-A=v|X-Empty=|X-Blank=|X-Inner=a  b\tc");
}

TEST(UpgradeParser, AcceptsHttp10AndNonAsciiValueBytes) {
  expect_complete(head_with("GET / HTTP/1.0", "Host: h\r\nX-Name: caf\xc3\xa9\r\n"),
                  "GET|/|/|1.0|Host=h|X-Name=caf\xc3\xa9");
}

TEST(UpgradeParser, AcceptsZeroContentLengthOnGetAndABodyLengthOnPost) {
  expect_complete(head_with("GET / HTTP/1.1", "Host: h\r\nContent-Length: 00\r\n"),
                  "GET|/|/|1.1|Host=h|Content-Length=00");
  expect_complete(head_with("POST /v1/publish HTTP/1.1", "Host: h\r\nContent-Length: 12\r\n"),
                  "POST|/v1/publish|/v1/publish|1.1|Host=h|Content-Length=12");
}

TEST(UpgradeParser, LeavesPipelinedBytesUnconsumed) {
  // A masked WebSocket text frame sent right behind the request.
  const std::string frame = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  const std::string input = std::string(kRfcSampleRequest) + frame;
  const Outcome o = parse_in_every_split(input);
  EXPECT_EQ(o.state, ParseState::kComplete);
  EXPECT_EQ(o.consumed, kRfcSampleRequest.size());

  // A second request pipelined behind the first is not ours to read either.
  const std::string two = std::string(kRfcSampleRequest) + std::string(kRfcSampleRequest);
  EXPECT_EQ(parse_in_every_split(two).consumed, kRfcSampleRequest.size());
}

TEST(UpgradeParser, ConsumesNothingAfterCompletionOrError) {
  UpgradeParser parser;
  EXPECT_EQ(parser.feed({}), 0u);
  EXPECT_EQ(parser.state(), ParseState::kNeedMore);
  EXPECT_EQ(parser.feed(as_bytes(kRfcSampleRequest)), kRfcSampleRequest.size());
  EXPECT_EQ(parser.feed(as_bytes("more")), 0u);
  EXPECT_EQ(parser.state(), ParseState::kComplete);

  UpgradeParser failed;
  EXPECT_EQ(failed.feed(as_bytes("GET / HTTP/1.1\n")), 15u);
  EXPECT_EQ(failed.state(), ParseState::kError);
  EXPECT_EQ(failed.feed(as_bytes("Host: h\r\n\r\n")), 0u);
  EXPECT_EQ(failed.error_status(), 400);
}

TEST(UpgradeParser, RejectsMalformedRequestLines) {
  const char* const lines[] = {
      "GET /chat HTTP/1.1\n",      // bare LF (the helper adds the rest)
      "GET  /chat HTTP/1.1",       // two spaces
      "GET /chat  HTTP/1.1",
      "GET /chat HTTP/1.1 ",       // trailing space
      " GET /chat HTTP/1.1",       // leading space
      "GET\t/chat HTTP/1.1",       // tab is not a separator here
      "GET /chat",                 // no version
      "GET",                       // no target
      "",                          // blank first line
      "GET chat HTTP/1.1",         // not origin-form
      "GET * HTTP/1.1",
      "GET http://h/chat HTTP/1.1",
      "GET /ch\x01t HTTP/1.1",     // control in target
      "GET /caf\xc3\xa9 HTTP/1.1", // non-ASCII in target
      "GET /chat HTTP/2.0",
      "GET /chat HTTP/1.10",
      "GET /chat HTTP/1.x",
      "GET /chat http/1.1",
      "GET /chat HTTP/1.",
      "G(T /chat HTTP/1.1",        // method not a token
      "G\x80T /chat HTTP/1.1",
      "GET /chat HTTP/1.1\r",      // stray CR before CRLF
  };
  for (const char* line : lines) expect_error(head_with(line, "Host: h\r\n"), 400);
}

TEST(UpgradeParser, RejectsMalformedHeaderLines) {
  const char* const header_lines[] = {
      "Host: h\n",                    // bare LF
      "Host: h\r\nX-A: b\n",          // bare LF on a later line
      "Host: h\r\nX-A\r\n",           // no colon
      "Host: h\r\nX-A : b\r\n",       // space before colon
      "Host: h\r\n: b\r\n",           // empty name
      "Host: h\r\nX A: b\r\n",        // name not a token
      "Host: h\r\nX-\xc3\xa4: b\r\n", // non-ASCII name
      "Host: h\r\nX-A: b\r\n c\r\n",  // obs-fold with SP
      "Host: h\r\nX-A: b\r\n\tc\r\n", // obs-fold with HTAB
      " Host: h\r\n",                 // whitespace before the first header
      "Host: h\r\nX-A: b\r\x0c\r\n",  // control before CRLF
      "Host: h\r\nX-A: a\rb\r\n",     // bare CR inside a value
      "Host: h\r\n\rX-A: b\r\n",      // bare CR at the start of a line
      "Host: h\r\nX-A: \x7f\r\n",     // DEL
      "Host: h\r\nX-A: a\x01z\r\n",   // control
  };
  for (const char* lines : header_lines) expect_error(head_with("GET / HTTP/1.1", lines), 400);

  // NUL needs an explicit length.
  expect_error(head_with("GET / HTTP/1.1", std::string("Host: h\r\nX-A: a\0z\r\n", 20)), 400);
  expect_error(head_with("GET / HTTP/1.1", std::string("Host: h\0\r\n", 10)), 400);
}

TEST(UpgradeParser, RejectsBadMessageFraming) {
  const char* const header_lines[] = {
      "Upgrade: websocket\r\n",                            // no Host
      "Host: a\r\nHost: b\r\n",                            // two Hosts
      "Host: h\r\nTransfer-Encoding: chunked\r\n",         // body framing on GET
      "Host: h\r\nContent-Length: 1\r\n",                  // nonzero length on GET
      "Host: h\r\nContent-Length: 0010\r\n",
      "Host: h\r\nContent-Length: abc\r\n",
      "Host: h\r\nContent-Length: -1\r\n",
      "Host: h\r\nContent-Length:\r\n",
      "Host: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n",
  };
  for (const char* lines : header_lines) expect_error(head_with("GET / HTTP/1.1", lines), 400);
  // Conflicting framing is refused on any method.
  expect_error(head_with("POST / HTTP/1.1", "Host: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n"),
               400);
  expect_error(head_with("POST / HTTP/1.1",
                         "Host: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
               400);
  expect_error(head_with("POST / HTTP/1.1", "Host: h\r\nContent-Length: 1 2\r\n"), 400);
}

TEST(UpgradeParser, ReportsLineErrorsBeforeTheHeadEnds) {
  UpgradeParser parser;
  parser.feed(as_bytes("GET /chat HTTP/9.9\r\n"));
  EXPECT_EQ(parser.state(), ParseState::kError);
  EXPECT_EQ(parser.error_status(), 400);
}

// A head of exactly `total` bytes: one padding header grows it to size.
std::string head_of_size(size_t total) {
  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(total - start.size() - end.size(), 'p') + end;
}

TEST(UpgradeParser, HeadOfExactlyMaxHeaderBytesPasses) {
  const std::string head = head_of_size(kMaxHeaderBytes);
  ASSERT_EQ(head.size(), kMaxHeaderBytes);
  const Outcome o = parse_in_every_split(head);
  EXPECT_EQ(o.state, ParseState::kComplete);
  EXPECT_EQ(o.consumed, kMaxHeaderBytes);
}

TEST(UpgradeParser, HeadOneByteOverMaxHeaderBytesIs431) {
  const std::string head = head_of_size(kMaxHeaderBytes + 1);
  expect_error(head, 431);
  EXPECT_LE(parse_whole(head).consumed, kMaxHeaderBytes);
}

TEST(UpgradeParser, Reports431AsSoonAsTheHeadCannotFit) {
  // The padding ends 4 bytes ("\r\n\r\n") before the end of the head; once the last padding
  // byte is in, the head is certain to be over the limit, with no need to wait for more.
  const std::string head = head_of_size(kMaxHeaderBytes + 1);
  const std::string_view known_too_large = std::string_view(head).substr(0, head.size() - 4);
  UpgradeParser parser;
  EXPECT_EQ(parser.feed(as_bytes(known_too_large.substr(0, known_too_large.size() - 1))),
            known_too_large.size() - 1);
  EXPECT_EQ(parser.state(), ParseState::kNeedMore);
  EXPECT_EQ(parser.feed(as_bytes(known_too_large.substr(known_too_large.size() - 1))), 1u);
  EXPECT_EQ(parser.state(), ParseState::kError);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(UpgradeParser, SingleHugeHeaderIs431WithoutItsEnd) {
  const std::string input = "GET / HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(20000, 'c');
  const Outcome o = parse_in_every_split(input);
  EXPECT_EQ(o.state, ParseState::kError);
  EXPECT_EQ(o.status, 431);
  EXPECT_LE(o.consumed, kMaxHeaderBytes);
}

TEST(UpgradeParser, HugeRequestLineIs431) {
  expect_error(head_with("GET /" + std::string(kMaxHeaderBytes, 'a') + " HTTP/1.1", "Host: h\r\n"),
               431);
}

std::string headers(size_t count) {
  std::string lines = "Host: h\r\n";
  for (size_t i = 1; i < count; ++i) lines += "X-" + std::to_string(i) + ": v\r\n";
  return lines;
}

TEST(UpgradeParser, ExactlyMaxHeaderCountPasses) {
  const Outcome o = parse_in_every_split(head_with("GET / HTTP/1.1", headers(kMaxHeaderCount)));
  EXPECT_EQ(o.state, ParseState::kComplete);

  UpgradeParser parser;
  parser.feed(as_bytes(head_with("GET / HTTP/1.1", headers(kMaxHeaderCount))));
  EXPECT_EQ(parser.request().headers.size(), kMaxHeaderCount);
}

TEST(UpgradeParser, OneHeaderOverMaxHeaderCountIs431) {
  expect_error(head_with("GET / HTTP/1.1", headers(kMaxHeaderCount + 1)), 431);
  expect_error(head_with("GET / HTTP/1.1", headers(kMaxHeaderCount * 4)), 431);
}

TEST(UpgradeParser, Reports431OnTheFirstByteOfOneHeaderTooMany) {
  const std::string prefix = "GET / HTTP/1.1\r\n" + headers(kMaxHeaderCount);
  UpgradeParser parser;
  EXPECT_EQ(parser.feed(as_bytes(prefix)), prefix.size());
  EXPECT_EQ(parser.state(), ParseState::kNeedMore);
  EXPECT_EQ(parser.feed(as_bytes("X")), 0u);
  EXPECT_EQ(parser.state(), ParseState::kError);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(UpgradeParser, BothLimitsAtOncePass) {
  std::string lines = headers(kMaxHeaderCount - 1);
  const std::string start = "GET / HTTP/1.1\r\n" + lines + "X-Pad: ";
  const std::string pad(kMaxHeaderBytes - start.size() - 4, 'p');
  const std::string head = start + pad + "\r\n\r\n";
  ASSERT_EQ(head.size(), kMaxHeaderBytes);
  UpgradeParser parser;
  EXPECT_EQ(parser.feed(as_bytes(head)), head.size());
  ASSERT_EQ(parser.state(), ParseState::kComplete);
  EXPECT_EQ(parser.request().headers.size(), kMaxHeaderCount);
  EXPECT_LE(parser.memory(), kMaxHeaderBytes + kMaxHeaderCount * sizeof(Header));
}

TEST(UpgradeParser, IdleParserOwnsNoMemory) {
  UpgradeParser parser;
  EXPECT_EQ(parser.memory(), 0u);
  parser.feed(as_bytes("G"));
  EXPECT_EQ(parser.memory(), kInitialHeaderBufferBytes);
  parser.feed(as_bytes(kRfcSampleRequest.substr(1)));
  ASSERT_EQ(parser.state(), ParseState::kComplete);
  EXPECT_GT(parser.memory(), 0u);
  parser.reset();
  EXPECT_EQ(parser.memory(), 0u);
  EXPECT_EQ(parser.state(), ParseState::kNeedMore);
  EXPECT_EQ(parser.error_status(), 0);
}

TEST(UpgradeParser, MemoryNeverExceedsMaxHeaderBytesWhileParsing) {
  // parse_cut_at checks the bound after every feed; a head at the limit fed one byte at a
  // time goes through every buffer size.
  parse_one_byte_at_a_time(head_of_size(kMaxHeaderBytes));
  parse_one_byte_at_a_time(head_of_size(kMaxHeaderBytes + 100));
  UpgradeParser parser;
  const std::string head = head_of_size(kMaxHeaderBytes);
  parser.feed(as_bytes(std::string_view(head).substr(0, head.size() - 1)));
  EXPECT_EQ(parser.memory(), kMaxHeaderBytes);
}

TEST(UpgradeParser, ResetAllowsANewRequest) {
  UpgradeParser parser;
  parser.feed(as_bytes("GET /x HTTP/1.1\r\nHost"));
  parser.reset();
  parser.feed(as_bytes(kRfcSampleRequest));
  ASSERT_EQ(parser.state(), ParseState::kComplete);
  EXPECT_EQ(parser.request().path, "/chat");

  parser.reset();
  parser.feed(as_bytes("BAD\r\n"));
  EXPECT_EQ(parser.state(), ParseState::kError);
  EXPECT_EQ(parser.memory(), 0u);
  parser.reset();
  parser.feed(as_bytes(kRfcSampleRequest));
  EXPECT_EQ(parser.state(), ParseState::kComplete);
}

TEST(UpgradeParser, MoveKeepsTheRequestValid) {
  UpgradeParser parser;
  parser.feed(as_bytes(kRfcSampleRequest));
  UpgradeParser moved(std::move(parser));
  EXPECT_EQ(parser.memory(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  ASSERT_EQ(moved.state(), ParseState::kComplete);
  EXPECT_EQ(moved.request().header("host"), "server.example.com");

  UpgradeParser assigned;
  assigned.feed(as_bytes("GET"));
  assigned = std::move(moved);
  EXPECT_EQ(assigned.request().path, "/chat");
}

TEST(Request, HeaderLookupIsCaseInsensitiveFirstMatch) {
  UpgradeParser parser;
  parser.feed(as_bytes(head_with("GET / HTTP/1.1", "Host: h\r\nX-Dup: one\r\nx-dup: two\r\n")));
  ASSERT_EQ(parser.state(), ParseState::kComplete);
  const Request& r = parser.request();
  EXPECT_EQ(r.header("HOST"), "h");
  EXPECT_EQ(r.header("x-DUP"), "one");
  EXPECT_EQ(r.header("X-Missing"), "");
  EXPECT_EQ(r.header("Hos"), "");
}

TEST(EqualIgnoringAsciiCase, ComparesAsciiLettersOnly) {
  EXPECT_TRUE(equal_ignoring_ascii_case("WebSocket", "websocket"));
  EXPECT_TRUE(equal_ignoring_ascii_case("", ""));
  EXPECT_FALSE(equal_ignoring_ascii_case("websocket", "websockets"));
  EXPECT_FALSE(equal_ignoring_ascii_case("[", "{"));  // 0x5b vs 0x7b: not letters
  EXPECT_FALSE(equal_ignoring_ascii_case("\xc3\x84", "\xc3\xa4"));
}

}  // namespace
}  // namespace ringway::http
