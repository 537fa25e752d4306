// Feeds the input to UpgradeParser in chunks whose sizes come from the first bytes, and checks
// that the outcome is the same as feeding it whole. On completion runs the upgrade check and
// writes the response the gateway would send.
//
// Input layout: byte 0 % 8 = how many chunk-size bytes follow (each size is value + 1, used in
// turn); the rest is the stream the client sent.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "http/handshake.h"
#include "http/responses.h"
#include "http/upgrade_parser.h"

namespace {

using ringway::http::Header;
using ringway::http::ParseState;
using ringway::http::Request;
using ringway::http::UpgradeParser;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_request(const Request& a, const Request& b) {
  if (a.method != b.method || a.target != b.target || a.path != b.path ||
      a.minor_version != b.minor_version || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

void answer(const UpgradeParser& parser) {
  char out[ringway::http::kMaxResponseBytes];
  if (parser.state() == ParseState::kError) {
    require(ringway::http::write_response(parser.error_status(), out, sizeof out) > 0);
    return;
  }
  const Request& request = parser.request();
  (void)request.header("host");
  const ringway::http::UpgradeCheck check = ringway::http::check_upgrade(request);
  if (check.status == 0) {
    require(check.key.size() == ringway::http::kWebSocketKeyLength);
    require(ringway::http::write_switching_protocols(check.key, out, sizeof out) > 0);
  } else {
    require(check.status == 400 || check.status == 405 || check.status == 426);
    require(ringway::http::write_response(check.status, out, sizeof out) > 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t size_count = std::min<size_t>(data[0] % 8, size - 1);
  const std::span<const uint8_t> chunk_sizes(data + 1, size_count);
  const std::span<const uint8_t> stream(data + 1 + size_count, size - 1 - size_count);

  UpgradeParser chunked;
  size_t consumed = 0, offset = 0;
  for (size_t i = 0; offset < stream.size(); ++i) {
    const size_t chunk = chunk_sizes.empty() ? stream.size() : chunk_sizes[i % size_count] + 1u;
    const size_t take = std::min(chunk, stream.size() - offset);
    consumed += chunked.feed(stream.subspan(offset, take));
    offset += take;
    if (chunked.state() == ParseState::kNeedMore) {
      require(chunked.memory() <= ringway::http::kMaxHeaderBytes);
    }
  }

  UpgradeParser whole;
  require(whole.feed(stream) == consumed);
  require(whole.state() == chunked.state());
  require(consumed <= stream.size());
  if (chunked.state() == ParseState::kError) {
    require(whole.error_status() == chunked.error_status());
    require(chunked.memory() == 0);
  }
  if (chunked.state() == ParseState::kComplete) {
    require(same_request(whole.request(), chunked.request()));
    require(consumed <= ringway::http::kMaxHeaderBytes);
  }
  if (chunked.state() != ParseState::kNeedMore) answer(chunked);

  chunked.reset();
  require(chunked.memory() == 0);
  return 0;
}
