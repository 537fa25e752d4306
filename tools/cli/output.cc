// Output formats of ringway-cli (output.h).
#include "cli/output.h"

#include <cstdio>

#include "client/protocol.h"
#include "gateway/json_writer.h"

namespace ringway::cli_tool {

using gateway::append_json_string;
using gateway::append_json_uint;

std::string message_line(std::string_view channel, std::string_view from, uint64_t offset,
                         std::string_view data_json, std::string_view epoch) {
  std::string s = "{\"channel\":";
  append_json_string(s, channel);
  s += ",\"from\":";
  append_json_string(s, from);
  s += ",\"offset\":";
  append_json_uint(s, offset);
  s += ",\"epoch\":";
  append_json_string(s, epoch);
  s += ",\"data\":";
  client::append_compact_json(s, data_json);
  s += '}';
  return s;
}

std::string hello_line(const client::Hello& h) {
  std::string s = "{\"connId\":";
  append_json_string(s, h.conn_id);
  s += ",\"role\":";
  append_json_string(s, h.role);
  if (!h.device_id.empty()) {
    s += ",\"deviceId\":";
    append_json_string(s, h.device_id);
  }
  s += ",\"scopes\":[";
  for (size_t i = 0; i < h.scopes.size(); ++i) {
    if (i) s += ',';
    append_json_string(s, h.scopes[i]);
  }
  s += "],\"policy\":{\"maxPayload\":";
  append_json_uint(s, h.max_payload);
  s += ",\"maxBufferedBytes\":";
  append_json_uint(s, h.max_buffered);
  s += ",\"pingIntervalMs\":";
  append_json_uint(s, h.ping_interval_ms);
  s += ",\"idleTimeoutMs\":";
  append_json_uint(s, h.idle_timeout_ms);
  s += "}}";
  return s;
}

std::string gap_line(const client::Gap& g) {
  std::string range = std::to_string(g.first) + ".." + std::to_string(g.last);
  if (g.kind == client::Gap::Kind::kOffsets)
    return g.channel + ": missed offsets " + range + " (epoch " + g.new_epoch + ")";
  std::string s = g.channel + ": epoch changed from " + g.old_epoch + " to " + g.new_epoch +
                  " (the server lost the channel's history)";
  if (g.last >= g.first) s += "; missed offsets " + range + " of the new epoch";
  return s;
}

void note(std::string_view text) {
  std::fprintf(stderr, "ringway-cli: %.*s\n", int(text.size()), text.data());
  std::fflush(stderr);
}

}  // namespace ringway::cli_tool
