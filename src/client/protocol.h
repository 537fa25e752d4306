#pragma once
// The gateway protocol after the hello, from the client's side (PROTOCOL.md "After the hello"):
// request frames out, and what the server sends classified with the fields a client needs.
// The challenge and the hello are read by ringway/client.h. No I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace ringway::client {

// [A-Za-z0-9._:-]{1,128} and 64 lowercase hex digits (the auth layer's checks).
bool is_channel_name(std::string_view s);
bool is_device_id(std::string_view s);

// {"type":"req","id":<id>,"method":<method>,"params":<params_json>}
void append_request(std::string& out, std::string_view id, std::string_view method,
                    std::string_view params_json);
// params: {"channel":C}, {"channel":C,"data":D}, {"to":T,"data":D}. D is inserted as it is.
std::string channel_params(std::string_view channel);
std::string publish_params(std::string_view channel, std::string_view data_json);
std::string send_params(std::string_view to, std::string_view data_json);

struct ServerMessage {
  enum class Kind : uint8_t { kInvalid, kResponse, kDelivery, kEvent };
  Kind kind = Kind::kInvalid;
  std::string_view why;  // kInvalid: what is wrong

  // kResponse
  std::string id;
  bool ok = false;
  std::string_view payload_json;  // ok: the payload's text, a view into the message
  std::string code, message;      // !ok
  bool retryable = false;
  uint64_t retry_after_ms = 0;

  // kDelivery (event "message")
  std::string channel, from;
  uint64_t offset = 0;
  std::string_view data_json;  // the data exactly as it arrived, a view into the message

  // kEvent (any other event)
  std::string event;
};

// Reads server messages with one reusable parser (views point into the text passed in).
class MessageParser {
 public:
  ServerMessage parse(std::string_view text);
  // Whether text is one JSON value (what publish and send accept as data).
  bool is_json(std::string_view text);

 private:
  bool load(std::string_view text, simdjson::dom::element& root);
  simdjson::dom::parser parser_;
  std::string padded_;
};

// The text of member `key` of the JSON object `object_text` (which must be valid JSON, e.g.
// already accepted by simdjson), exactly as written. nullopt when absent or not an object.
std::optional<std::string_view> member_text(std::string_view object_text, std::string_view key);

// Appends valid JSON text without the whitespace between tokens (strings untouched), so a value
// fits on one line.
void append_compact_json(std::string& out, std::string_view json);

// The subscribe answer's {"epoch":E,"offset":N}.
bool parse_subscribe_result(std::string_view payload_json, std::string& epoch, uint64_t& offset);

}  // namespace ringway::client
