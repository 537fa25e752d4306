// Requests and server messages after the hello (protocol.h).
#include "client/protocol.h"

#include <array>
#include <cstring>

#include "auth/keys.h"
#include "auth/scopes.h"
#include "gateway/json_text.h"
#include "gateway/json_writer.h"

namespace ringway::client {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

template <class T>
bool read(simdjson::simdjson_result<element> field, T& out) {
  return field.get(out) == simdjson::SUCCESS;
}

}  // namespace

bool is_channel_name(std::string_view s) { return auth::valid_channel(s); }

bool is_device_id(std::string_view s) {
  std::array<uint8_t, 32> id;
  return auth::parse_device_id_hex(s, id);
}

void append_request(std::string& out, std::string_view id, std::string_view method,
                    std::string_view params_json) {
  out += "{\"type\":\"req\",\"id\":";
  gateway::append_json_string(out, id);
  out += ",\"method\":";
  gateway::append_json_string(out, method);
  out += ",\"params\":";
  out += params_json.empty() ? std::string_view("{}") : params_json;
  out += '}';
}

std::string channel_params(std::string_view channel) {
  std::string p = "{\"channel\":";
  gateway::append_json_string(p, channel);
  p += '}';
  return p;
}

std::string publish_params(std::string_view channel, std::string_view data_json) {
  std::string p = "{\"channel\":";
  gateway::append_json_string(p, channel);
  p += ",\"data\":";
  p += data_json;
  p += '}';
  return p;
}

std::string send_params(std::string_view to, std::string_view data_json) {
  std::string p = "{\"to\":";
  gateway::append_json_string(p, to);
  p += ",\"data\":";
  p += data_json;
  p += '}';
  return p;
}

std::optional<std::string_view> member_text(std::string_view s, std::string_view key) {
  return gateway::member_text(s, key);
}

bool MessageParser::load(std::string_view text, element& root) {
  padded_.resize(text.size() + simdjson::SIMDJSON_PADDING);
  if (!text.empty()) std::memcpy(padded_.data(), text.data(), text.size());
  std::memset(padded_.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  return parser_.parse(padded_.data(), text.size(), false).get(root) == simdjson::SUCCESS;
}

bool MessageParser::is_json(std::string_view text) {
  element root;
  return load(text, root);
}

ServerMessage MessageParser::parse(std::string_view text) {
  ServerMessage m;
  element root;
  if (!load(text, root)) {
    m.why = "not JSON";
    return m;
  }
  std::string_view type;
  if (!read(root["type"], type)) {
    m.why = "no type";
    return m;
  }
  if (type == "res") {
    std::string_view id;
    if (!read(root["id"], id) || !read(root["ok"], m.ok)) {
      m.why = "response without id or ok";
      return m;
    }
    m.id = id;
    if (m.ok) {
      auto payload = member_text(text, "payload");
      if (!payload) {
        m.why = "response without payload";
        return m;
      }
      m.payload_json = *payload;
    } else {
      element e;
      if (root["error"].get(e) != simdjson::SUCCESS) {
        m.why = "error response without error";
        return m;
      }
      std::string_view code, message;
      if (read(e["code"], code)) m.code = code;
      if (read(e["message"], message)) m.message = message;
      read(e["retryable"], m.retryable);
      read(e["retryAfterMs"], m.retry_after_ms);
    }
    m.kind = ServerMessage::Kind::kResponse;
    return m;
  }
  if (type != "event") {
    m.why = "unknown type";
    return m;
  }
  std::string_view event;
  if (!read(root["event"], event)) {
    m.why = "event without a name";
    return m;
  }
  m.event = event;
  if (event != "message") {
    auto payload = member_text(text, "payload");
    if (payload) m.payload_json = *payload;
    m.kind = ServerMessage::Kind::kEvent;
    return m;
  }
  element p;
  std::string_view channel, from;
  if (root["payload"].get(p) != simdjson::SUCCESS || !read(p["channel"], channel) ||
      !read(p["from"], from) || !read(p["offset"], m.offset)) {
    m.why = "message event without channel, from or offset";
    return m;
  }
  auto payload = member_text(text, "payload");
  auto data = payload ? member_text(*payload, "data") : std::nullopt;
  if (!data) {
    m.why = "message event without data";
    return m;
  }
  m.channel = channel;
  m.from = from;
  m.data_json = *data;
  m.kind = ServerMessage::Kind::kDelivery;
  return m;
}

void append_compact_json(std::string& out, std::string_view json) {
  for (size_t i = 0; i < json.size();) {
    if (json[i] == '"') {
      size_t end = gateway::json_skip_string(json, i);
      if (end == std::string_view::npos) end = json.size();
      out.append(json.substr(i, end - i));
      i = end;
    } else {
      if (!gateway::is_json_space(json[i])) out += json[i];
      ++i;
    }
  }
}

bool parse_subscribe_result(std::string_view payload_json, std::string& epoch, uint64_t& offset) {
  simdjson::dom::parser parser;
  element root;
  simdjson::padded_string text(payload_json);
  if (parser.parse(text).get(root) != simdjson::SUCCESS) return false;
  std::string_view e;
  if (!read(root["epoch"], e) || !read(root["offset"], offset)) return false;
  epoch = e;
  return true;
}

}  // namespace ringway::client
