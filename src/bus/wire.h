#pragma once
// A message as it travels through Redis: "<epoch> <offset> <channel>\n<from>\n<data>". The
// publish script writes the epoch and offset in front of the body this node formats; every node
// parses what its partition subscriptions bring.
//
// What comes from Redis is checked as strictly as what comes from a client: anyone who can
// reach the Redis server can publish on a partition's channel, and the data is spliced as it is
// into the event frames of this node's subscribers. So the channel must be a valid name, the
// sender printable, the offset a positive number, and the data one valid JSON value (UTF-8
// included) within this node's own publish limit; anything else is dropped and counted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringway::bus {

struct Message;

// The part this node formats ("<channel>\n<from>\n<data>").
std::string format_body(std::string_view channel, std::string_view from, std::string_view data);

// False (and m untouched in meaning) when the text is not a well-formed message.
bool parse_message(std::string_view text, size_t max_data, Message& m);

inline constexpr size_t kMaxEpochLength = 64, kMaxFromLength = 128;

}  // namespace ringway::bus
