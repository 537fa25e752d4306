#include "load/fanout_messages.h"

#include <simdjson.h>

#include "gateway/json_writer.h"

namespace ringway::load {

namespace {

constexpr std::string_view kMessageEvent = R"({"type":"event","event":"message",)";
constexpr std::string_view kEvent = R"({"type":"event",)";
constexpr std::string_view kResponse = R"({"type":"res",)";

// Pads the string `"p":"` ... `"}` so that out grows by `size` bytes since `start`.
void close_padded(std::string& out, size_t start, size_t size) {
  out.append(R"("p":")");
  size_t used = out.size() - start + 2;  // with the closing "}
  if (used < size) out.append(size - used, 'x');
  out.append("\"}");
}

// The unsigned decimal right after `key` (searched from `from`), or false. Sets `end` past it.
bool number_after(std::string_view text, std::string_view key, size_t from, uint64_t& value,
                  size_t& end) {
  size_t k = text.find(key, from);
  if (k == std::string_view::npos) return false;
  size_t i = k + key.size();
  uint64_t v = 0;
  size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (++digits > 19) return false;  // beyond what fits; never written by us
    v = v * 10 + uint64_t(text[i] - '0');
    ++i;
  }
  if (digits == 0) return false;
  value = v;
  end = i;
  return true;
}

}  // namespace

void append_fanout_data(std::string& out, uint64_t t_ns, size_t size) {
  size_t start = out.size();
  out.append(R"({"t":)");
  gateway::append_json_uint(out, t_ns);
  out += ',';
  close_padded(out, start, size);
}

void append_publish_request(std::string& out, uint64_t id, std::string_view channel,
                            uint64_t t_ns, size_t data_size) {
  out.append(R"({"type":"req","id":")");
  gateway::append_json_uint(out, id);
  out.append(R"(","method":"publish","params":{"channel":)");
  gateway::append_json_string(out, channel);
  out.append(R"(,"data":)");
  append_fanout_data(out, t_ns, data_size);
  out.append("}}");
}

void append_subscribe_request(std::string& out, std::string_view id, std::string_view channel) {
  out.append(R"({"type":"req","id":)");
  gateway::append_json_string(out, id);
  out.append(R"(,"method":"subscribe","params":{"channel":)");
  gateway::append_json_string(out, channel);
  out.append("}}");
}

void append_peer_message(std::string& out, uint64_t t_ns, uint64_t seq, uint32_t pub,
                         size_t size) {
  size_t start = out.size();
  out.append(R"({"t":)");
  gateway::append_json_uint(out, t_ns);
  out.append(R"(,"seq":)");
  gateway::append_json_uint(out, seq);
  out.append(R"(,"pub":)");
  gateway::append_json_uint(out, pub);
  out += ',';
  close_padded(out, start, size);
}

Incoming classify(std::string_view text) {
  if (text.starts_with(kMessageEvent)) return Incoming::kMessageEvent;
  if (text.starts_with(kEvent)) return Incoming::kOtherEvent;
  if (text.starts_with(kResponse)) return Incoming::kResponse;
  return Incoming::kUnknown;
}

bool parse_delivery(std::string_view text, uint64_t& offset, uint64_t& t_ns) {
  // "channel" and "from" come first but cannot hold a quote (channel names and device ids or
  // service names are [A-Za-z0-9._:-]), so the first "offset": is the payload's.
  size_t end = 0;
  if (!number_after(text, R"("offset":)", kMessageEvent.size(), offset, end)) return false;
  size_t data = text.find(R"("data":)", end);
  if (data == std::string_view::npos) return false;
  return number_after(text, R"("t":)", data, t_ns, end);
}

bool parse_peer_message(std::string_view text, uint64_t& t_ns, uint64_t& seq, uint32_t& pub) {
  size_t end = 0;
  uint64_t p = 0;
  if (!number_after(text, R"("t":)", 0, t_ns, end)) return false;
  if (!number_after(text, R"("seq":)", end, seq, end)) return false;
  if (!number_after(text, R"("pub":)", end, p, end) || p > UINT32_MAX) return false;
  pub = uint32_t(p);
  return true;
}

FanoutResponse parse_fanout_response(std::string_view text) {
  FanoutResponse r;
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element doc;
  std::string_view type, id;
  if (parser.parse(padded).get(doc) || doc["type"].get(type) || type != "res" ||
      doc["id"].get(id) || doc["ok"].get(r.ok))
    return r;
  r.id = id;
  if (r.ok) {
    simdjson::dom::element p;
    if (doc["payload"].get(p)) return r;
    uint64_t v = 0;
    std::string_view epoch;
    if (!p["offset"].get(v)) r.offset = v;
    if (!p["delivered"].get(v)) r.delivered = v;
    if (!p["epoch"].get(epoch)) r.epoch = epoch;
  } else {
    simdjson::dom::element e;
    std::string_view code;
    if (doc["error"].get(e) || e["code"].get(code)) return r;
    r.code = code;
    uint64_t v = 0;
    if (!e["retryAfterMs"].get(v)) r.retry_after_ms = v;
  }
  r.parsed = true;
  return r;
}

SeqTracker::Step SeqTracker::on(uint64_t seq) {
  Step s;
  if (!known_) {
    known_ = true;
    next_ = seq + 1;
    return s;
  }
  if (seq < next_) {
    s.backwards = true;
    return s;
  }
  s.lost = seq - next_;
  next_ = seq + 1;
  return s;
}

}  // namespace ringway::load
