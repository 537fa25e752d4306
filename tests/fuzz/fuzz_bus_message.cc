// Fuzzes what a node reads from its Redis partition subscriptions (bus/wire.h): anyone who can
// reach Redis can publish there, and the data ends up inside subscribers' event frames. Beyond
// "no crash, no UB": a parsed message has a valid channel, a printable sender, a positive offset
// and one JSON value as data, and formatting it again parses back to the same message.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/scopes.h"
#include "bus/bus.h"
#include "bus/wire.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway::bus;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Message m;
  if (!parse_message(text, 4096, m)) return 0;
  check(m.offset > 0 && ringway::auth::valid_channel(m.channel));
  check(!m.from.empty() && m.from.size() <= kMaxFromLength && m.data.size() <= 4096);
  check(!m.epoch.empty() && m.epoch.size() <= kMaxEpochLength);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  check(p.parse(simdjson::padded_string(m.data)).get(e) == simdjson::SUCCESS);
  std::string again = m.epoch + " " + std::to_string(m.offset) + " " +
                      format_body(m.channel, m.from, m.data);
  Message m2;
  check(parse_message(again, 4096, m2));
  check(m2.epoch == m.epoch && m2.offset == m.offset && m2.channel == m.channel &&
        m2.from == m.from && m2.data == m.data);
  return 0;
}
