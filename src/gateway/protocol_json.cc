#include "gateway/protocol_json.h"

#include "auth/base64url.h"
#include "auth/scopes.h"
#include "gateway/json_text.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>

namespace ringway::gateway {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Parser capacity a thread starts with: every ordinary frame fits, and it costs a few tens of KiB.
constexpr size_t kInitialParseCapacity = 4096;
// The parser needs about 14 bytes per byte of capacity (tape, structural index, strings), so
// growth doubles only up to this step and then goes up in steps of it.
constexpr size_t kMaxParseGrowthStep = 256 * 1024;

// One DOM parser and one padded input buffer per thread, reused for every frame, so parsing
// allocates only when a frame is bigger than any this thread has seen.
class ThreadParser {
 public:
  // Parses `text` as one JSON document. The returned element lives until the next parse.
  simdjson::error_code parse(std::string_view text, element& root) {
    if (!buf_ || text.size() > capacity_) {  // also the first call, even for an empty frame
      if (auto err = grow(text.size())) return err;
    }
    std::memcpy(buf_.get(), text.data(), text.size());
    // simdjson may read (never use) up to SIMDJSON_PADDING bytes past the end.
    std::memset(buf_.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser_.parse(buf_.get(), text.size(), false).get(root);
  }

  // Scratch for duplicate-key detection (see collect()).
  std::vector<std::string_view>& keys() { return keys_; }

 private:
  // Grows in steps: a client sending ever so slightly larger frames must not make every frame
  // reallocate the parser's buffers, nor may the slack be large.
  simdjson::error_code grow(size_t needed) {
    size_t step = std::min(std::max(capacity_, kInitialParseCapacity), kMaxParseGrowthStep);
    size_t cap = std::max(needed, capacity_ + step);
    auto buf = std::unique_ptr<char[]>(new (std::nothrow) char[cap + simdjson::SIMDJSON_PADDING]);
    if (!buf) return simdjson::MEMALLOC;
    if (auto err = parser_.allocate(cap, kMaxJsonDepth)) return err;
    // The parser sizes its document (tape) to the first input that needs more room, and that
    // part cannot be sized directly: parse a blank document of the full capacity once.
    std::memset(buf.get(), ' ', cap);
    buf[0] = '{';
    buf[1] = '}';
    std::memset(buf.get() + cap, 0, simdjson::SIMDJSON_PADDING);
    element ignored;
    if (auto err = parser_.parse(buf.get(), cap, false).get(ignored)) return err;
    buf_ = std::move(buf);
    capacity_ = cap;
    return simdjson::SUCCESS;
  }

  simdjson::dom::parser parser_;
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  std::vector<std::string_view> keys_;
};

ThreadParser& thread_parser() {
  thread_local ThreadParser p;
  return p;
}

void set_error(ProtocolError& e, const char* code, std::string message) {
  e.code = code;
  e.message = std::move(message);
}

void invalid(ProtocolError& e, std::string_view path, std::string_view what) {
  std::string m;
  m.reserve(path.size() + 2 + what.size());
  m.append(path).append(": ").append(what);
  set_error(e, codes::kInvalidRequest, std::move(m));
}

bool parse_document(std::string_view frame, element& root, ProtocolError& e) {
  simdjson::error_code err = thread_parser().parse(frame, root);
  if (err == simdjson::SUCCESS) return true;
  if (err == simdjson::DEPTH_ERROR) {
    invalid(e, "frame", "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  } else if (err == simdjson::MEMALLOC || err == simdjson::CAPACITY) {
    invalid(e, "frame", "too large to parse");
  } else {
    invalid(e, "frame", "malformed JSON");
  }
  return false;
}

// A member the parser looks for in an object.
struct Slot {
  Slot(std::string_view k) : key(k) {}  // NOLINT: implicit, so slot lists read {{"a"}, {"b"}}
  std::string_view key;
  element value;
  bool present = false;
  size_t index = 0;  // position among the object's members, in document order
};

// Fills `slots` from `obj`. Returns false when any key appears twice: two values for one key
// would let different readers (this parser, a log, a client library) disagree on the request.
// Keys are compared unescaped, so "t\u0079pe" repeats "type".
template <size_t N>
bool collect(const object& obj, std::array<Slot, N>& slots) {
  std::vector<std::string_view>& unknown = thread_parser().keys();
  unknown.clear();
  size_t index = 0;
  for (simdjson::dom::key_value_pair kv : obj) {
    bool known = false;
    for (Slot& s : slots) {
      if (s.key == kv.key) {
        if (s.present) return false;
        s.value = kv.value;
        s.present = true;
        s.index = index;
        known = true;
        break;
      }
    }
    if (!known) unknown.push_back(kv.key);
    ++index;
  }
  // Unknown keys are ignored but still must not repeat; sorting keeps a huge object O(n log n).
  if (unknown.size() > 1) {
    std::sort(unknown.begin(), unknown.end());
    if (std::adjacent_find(unknown.begin(), unknown.end()) != unknown.end()) return false;
  }
  return true;
}

bool is_printable_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Valid UTF-8 (simdjson guarantees that for every string it returns) without control
// characters: no C0 (which includes '\n'), no DEL, no C1 (U+0080-U+009F, encoded C2 80-C2 9F).
bool is_printable_text(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xa0) return false;
  }
  return true;
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A required string member.
bool get_string(const Slot& s, std::string_view path, std::string_view& out, ProtocolError& e) {
  if (!s.present) {
    invalid(e, path, "missing");
    return false;
  }
  if (s.value.get(out) != simdjson::SUCCESS) {
    invalid(e, path, "expected string");
    return false;
  }
  return true;
}

bool get_object(const Slot& s, std::string_view path, object& out, ProtocolError& e) {
  if (!s.present) {
    invalid(e, path, "missing");
    return false;
  }
  if (s.value.get(out) != simdjson::SUCCESS) {
    invalid(e, path, "expected object");
    return false;
  }
  return true;
}

// A JSON integer >= 0 (1.0, 1e3 and negatives are refused: these fields are counts and times).
bool get_uint(const Slot& s, std::string_view path, uint64_t max, uint64_t& out, ProtocolError& e) {
  if (!s.present) {
    invalid(e, path, "missing");
    return false;
  }
  if (s.value.get(out) != simdjson::SUCCESS || out > max) {
    invalid(e, path,
            max == UINT64_MAX ? std::string("expected a non-negative integer")
                              : "expected an integer from 0 to " + std::to_string(max));
    return false;
  }
  return true;
}

// A string of min..max bytes that passes `ok`, copied into `out`.
template <typename Check>
bool get_text(const Slot& s, std::string_view path, size_t min, size_t max, Check ok,
              std::string_view kind, std::string& out, ProtocolError& e) {
  std::string_view v;
  if (!get_string(s, path, v, e)) return false;
  if (v.size() < min || v.size() > max || !ok(v)) {
    invalid(
        e, path,
        "expected " + std::to_string(min) + "-" + std::to_string(max) + " " + std::string(kind));
    return false;
  }
  out.assign(v);
  return true;
}

bool is_valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdLength && is_printable_ascii(id);
}

// Reads the id for the error response before anything else is judged, so a request that fails
// later can still be answered under its own id.
void recover_request_id(const Slot& id_slot, std::string& out) {
  std::string_view id;
  if (id_slot.present && id_slot.value.get(id) == simdjson::SUCCESS && is_valid_request_id(id)) {
    out.assign(id);
  }
}

bool check_request_id(const Slot& id_slot, std::string& out, ProtocolError& e) {
  return get_text(id_slot, "id", 1, kMaxRequestIdLength, is_printable_ascii,
                  "printable ASCII characters", out, e);
}

bool check_type(const Slot& type_slot, ProtocolError& e) {
  std::string_view type;
  if (!get_string(type_slot, "type", type, e)) return false;
  if (type != "req") {
    invalid(e, "type", "expected \"req\"");
    return false;
  }
  return true;
}

// --- Connect ---------------------------------------------------------------------------------

bool parse_client(const Slot& slot, ConnectRequest& r, ProtocolError& e) {
  object client;
  if (!get_object(slot, "params.client", client, e)) return false;
  std::array<Slot, 3> f{{{"name"}, {"version"}, {"platform"}}};
  if (!collect(client, f)) {
    invalid(e, "params.client", "duplicate key");
    return false;
  }
  constexpr std::string_view kKind = "bytes of printable UTF-8";
  if (!get_text(f[0], "params.client.name", 1, kMaxClientName, is_printable_text, kKind,
                r.client_name, e) ||
      !get_text(f[1], "params.client.version", 1, kMaxClientVersion, is_printable_text, kKind,
                r.client_version, e)) {
    return false;
  }
  r.client_platform.clear();
  return !f[2].present || get_text(f[2], "params.client.platform", 0, kMaxClientPlatform,
                                   is_printable_text, kKind, r.client_platform, e);
}

bool parse_scopes(const Slot& slot, ConnectRequest& r, ProtocolError& e) {
  if (!slot.present) {
    invalid(e, "params.scopes", "missing");
    return false;
  }
  array scopes;
  if (slot.value.get(scopes) != simdjson::SUCCESS) {
    invalid(e, "params.scopes", "expected array");
    return false;
  }
  if (scopes.size() > kMaxScopesPerRequest) {
    invalid(e, "params.scopes", "more than " + std::to_string(kMaxScopesPerRequest) + " scopes");
    return false;
  }
  r.scopes.clear();
  r.scopes.reserve(scopes.size());
  size_t i = 0;
  for (element item : scopes) {
    std::string_view scope;
    if (item.get(scope) != simdjson::SUCCESS) {
      invalid(e, "params.scopes[" + std::to_string(i) + "]", "expected string");
      return false;
    }
    if (!auth::valid_scope(scope)) {
      invalid(e, "params.scopes[" + std::to_string(i) + "]", "invalid scope");
      return false;
    }
    r.scopes.emplace_back(scope);
    ++i;
  }
  return true;
}

bool parse_device(const Slot& slot, ConnectRequest& r, ProtocolError& e) {
  object device;
  if (!get_object(slot, "params.device", device, e)) return false;
  std::array<Slot, 5> f{{{"id"}, {"publicKey"}, {"signature"}, {"signedAt"}, {"nonce"}}};
  if (!collect(device, f)) {
    invalid(e, "params.device", "duplicate key");
    return false;
  }
  std::string_view v;
  if (!get_string(f[0], "params.device.id", v, e)) return false;
  if (v.size() != kDeviceIdLength || !is_lower_hex(v)) {
    invalid(e, "params.device.id", "expected 64 lowercase hex digits");
    return false;
  }
  r.device_id.assign(v);
  if (!get_string(f[1], "params.device.publicKey", v, e)) return false;
  if (!auth::base64url_decode(v, r.public_key)) {
    invalid(e, "params.device.publicKey", "expected base64url of 32 bytes");
    return false;
  }
  if (!get_string(f[2], "params.device.signature", v, e)) return false;
  if (!auth::base64url_decode(v, r.signature)) {
    invalid(e, "params.device.signature", "expected base64url of 64 bytes");
    return false;
  }
  if (!get_uint(f[3], "params.device.signedAt", UINT64_MAX, r.signed_at_ms, e)) return false;
  // Printable ASCII keeps '\n' (the signed payload's separator) out; whether it is the
  // challenge is auth's question, so an empty or odd nonce gets NONCE_MISMATCH there.
  return get_text(f[4], "params.device.nonce", 0, kMaxNonceLength, is_printable_ascii,
                  "printable ASCII characters", r.nonce, e);
}

bool parse_auth(const Slot& slot, ConnectRequest& r, ProtocolError& e) {
  // A missing token is the protocol's TOKEN_INVALID ("missing or wrong"), decided by auth: it
  // is left empty here. A token of the wrong type or shape is a malformed request.
  if (!slot.present) return true;
  object auth;
  if (!get_object(slot, "params.auth", auth, e)) return false;
  std::array<Slot, 1> f{{{"token"}}};
  if (!collect(auth, f)) {
    invalid(e, "params.auth", "duplicate key");
    return false;
  }
  if (!f[0].present) return true;
  return get_text(f[0], "params.auth.token", 1, kMaxTokenLength, is_printable_ascii,
                  "printable ASCII characters", r.token, e);
}

bool parse_connect_params(const Slot& slot, ConnectRequest& r, ProtocolError& e) {
  object params;
  if (!get_object(slot, "params", params, e)) return false;
  std::array<Slot, 7> f{
      {{"minProtocol"}, {"maxProtocol"}, {"client"}, {"role"}, {"scopes"}, {"device"}, {"auth"}}};
  if (!collect(params, f)) {
    invalid(e, "params", "duplicate key");
    return false;
  }
  uint64_t min = 0, max = 0;
  if (!get_uint(f[0], "params.minProtocol", kMaxProtocolNumber, min, e) ||
      !get_uint(f[1], "params.maxProtocol", kMaxProtocolNumber, max, e)) {
    return false;
  }
  if (min > max) {
    invalid(e, "params.minProtocol", "greater than maxProtocol");
    return false;
  }
  r.min_protocol = static_cast<int>(min);
  r.max_protocol = static_cast<int>(max);
  // Checked before the rest of params: another version's connect request may look different,
  // and its client deserves PROTOCOL_MISMATCH rather than a complaint about some field.
  if (min > uint64_t(kProtocolVersion) || max < uint64_t(kProtocolVersion)) {
    set_error(e, codes::kProtocolMismatch,
              "server speaks protocol " + std::to_string(kProtocolVersion) + ", client offers " +
                  std::to_string(min) + "-" + std::to_string(max));
    return false;
  }
  if (!parse_client(f[2], r, e)) return false;
  std::string_view role;
  if (!get_string(f[3], "params.role", role, e)) return false;
  if (role == "device") {
    r.role = Role::kDevice;
  } else if (role == "service") {
    r.role = Role::kService;
  } else {
    invalid(e, "params.role", "expected \"device\" or \"service\"");
    return false;
  }
  if (!parse_scopes(f[4], r, e)) return false;
  // The other role's object, if sent, is ignored like any unknown key.
  return r.role == Role::kDevice ? parse_device(f[5], r, e) : parse_auth(f[6], r, e);
}

}  // namespace

std::string_view role_name(Role r) { return r == Role::kDevice ? "device" : "service"; }

ConnectParse parse_connect(std::string_view frame) {
  ConnectParse out;
  ProtocolError& e = out.error;
  if (frame.size() > kMaxPreAuthFrame) {
    invalid(e, "frame", "larger than " + std::to_string(kMaxPreAuthFrame) + " bytes");
    return out;
  }
  element root;
  if (!parse_document(frame, root, e)) return out;
  object top;
  if (root.get(top) != simdjson::SUCCESS) {
    invalid(e, "frame", "expected a JSON object");
    return out;
  }
  std::array<Slot, 4> f{{{"type"}, {"id"}, {"method"}, {"params"}}};
  if (!collect(top, f)) {
    invalid(e, "frame", "duplicate key");
    return out;
  }
  recover_request_id(f[1], out.request_id);
  if (!check_type(f[0], e) || !check_request_id(f[1], out.request.id, e)) return out;
  std::string_view method;
  if (!f[2].present || f[2].value.get(method) != simdjson::SUCCESS || method != "connect") {
    set_error(e, codes::kInvalidRequest, "first request must be connect");
    return out;
  }
  if (!parse_connect_params(f[3], out.request, e)) return out;
  out.ok = true;
  return out;
}

namespace {

// channel, to (strings) and data (any JSON value, kept as its raw text) from a params object
// whose text is `text`.
bool parse_route_members(const object& obj, std::string_view text, std::string_view path,
                         RouteParams& p, ProtocolError& e) {
  std::array<Slot, 3> f{{{"channel"}, {"to"}, {"data"}}};
  if (!collect(obj, f)) {
    invalid(e, path, "duplicate key");
    return false;
  }
  std::string_view v;
  if (f[0].present) {
    if (!get_string(f[0], std::string(path) + ".channel", v, e)) return false;
    p.channel.assign(v);
    p.has_channel = true;
  }
  if (f[1].present) {
    if (!get_string(f[1], std::string(path) + ".to", v, e)) return false;
    p.to.assign(v);
    p.has_to = true;
  }
  if (f[2].present) {
    if (!member_text(text, f[2].index, p.data_json) || p.data_json.empty()) {
      invalid(e, std::string(path) + ".data", "unreadable");  // not for input simdjson accepted
      return false;
    }
    p.has_data = true;
  }
  return true;
}

}  // namespace

bool parse_route_body(std::string_view body, RouteParams& out, ProtocolError& e) {
  element root;
  if (!parse_document(body, root, e)) return false;
  object top;
  if (root.get(top) != simdjson::SUCCESS) {
    invalid(e, "body", "expected a JSON object");
    return false;
  }
  return parse_route_members(top, body, "body", out, e);
}

RequestParse parse_request(std::string_view frame) {
  RequestParse out;
  ProtocolError& e = out.error;
  element root;
  if (!parse_document(frame, root, e)) return out;
  object top;
  if (root.get(top) != simdjson::SUCCESS) {
    invalid(e, "frame", "expected a JSON object");
    return out;
  }
  std::array<Slot, 4> f{{{"type"}, {"id"}, {"method"}, {"params"}}};
  if (!collect(top, f)) {
    invalid(e, "frame", "duplicate key");
    return out;
  }
  recover_request_id(f[1], out.request_id);
  if (!check_type(f[0], e) || !check_request_id(f[1], out.request.id, e) ||
      !get_text(f[2], "method", 1, kMaxMethodLength, is_printable_ascii,
                "printable ASCII characters", out.request.method, e)) {
    return out;
  }
  if (f[3].present) {
    object params;
    if (!get_object(f[3], "params", params, e)) return out;
    std::string_view raw;
    if (!member_text(frame, f[3].index, raw) || raw.empty() || raw.front() != '{') {
      // Cannot happen for input simdjson accepted; refuse rather than hand on wrong text.
      invalid(e, "params", "unreadable");
      return out;
    }
    if (!parse_route_members(params, raw, "params", out.request.params, e)) return out;
  }
  out.ok = true;
  return out;
}


}  // namespace ringway::gateway
