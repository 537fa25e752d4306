#pragma once
// What ringway-cli prints: one JSON line per delivered message and per hello, and the
// informational lines on stderr.
#include <cstdint>
#include <string>
#include <string_view>

#include "ringway/session.h"

namespace ringway::cli_tool {

// {"channel":C,"from":F,"offset":N,"epoch":E,"data":D} (data as received, whitespace removed).
std::string message_line(std::string_view channel, std::string_view from, uint64_t offset,
                         std::string_view data_json, std::string_view epoch);
// {"connId":..,"role":..,"deviceId":..,"scopes":[..],"policy":{...}}
std::string hello_line(const client::Hello& h);
std::string gap_line(const client::Gap& g);
// "ringway-cli: <text>" on stderr.
void note(std::string_view text);

}  // namespace ringway::cli_tool
