#include "bus/wire.h"

#include <simdjson.h>

#include <charconv>

#include "auth/scopes.h"
#include "bus/bus.h"

namespace ringway::bus {

namespace {

bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

bool one_json_value(std::string_view data) {
  // One parser per bus thread (the only caller); it keeps its buffers between messages.
  static thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(data);
  simdjson::dom::element e;
  return parser.parse(padded).get(e) == simdjson::SUCCESS;
}

}  // namespace

std::string format_body(std::string_view channel, std::string_view from, std::string_view data) {
  std::string body;
  body.reserve(channel.size() + from.size() + data.size() + 2);
  body.append(channel).push_back('\n');
  body.append(from).push_back('\n');
  body.append(data);
  return body;
}

bool parse_message(std::string_view text, size_t max_data, Message& m) {
  size_t sp1 = text.find(' ');
  if (sp1 == 0 || sp1 == text.npos || sp1 > kMaxEpochLength) return false;
  size_t sp2 = text.find(' ', sp1 + 1);
  if (sp2 == text.npos) return false;
  size_t nl1 = text.find('\n', sp2 + 1);
  if (nl1 == text.npos) return false;
  size_t nl2 = text.find('\n', nl1 + 1);
  if (nl2 == text.npos) return false;
  std::string_view epoch = text.substr(0, sp1);
  std::string_view offset = text.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view channel = text.substr(sp2 + 1, nl1 - sp2 - 1);
  std::string_view from = text.substr(nl1 + 1, nl2 - nl1 - 1);
  std::string_view data = text.substr(nl2 + 1);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(offset.data(), offset.data() + offset.size(), n);
  if (ec != std::errc() || end != offset.data() + offset.size() || n == 0) return false;
  if (!printable(epoch) || !auth::valid_channel(channel)) return false;
  if (from.empty() || from.size() > kMaxFromLength || !printable(from)) return false;
  if (data.size() > max_data || !one_json_value(data)) return false;
  m.epoch.assign(epoch);
  m.offset = n;
  m.channel.assign(channel);
  m.from.assign(from);
  m.data.assign(data);
  return true;
}

}  // namespace ringway::bus
