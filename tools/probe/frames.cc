#include "probe/frames.h"

#include <openssl/base64.h>

#include <cctype>
#include <cstring>
#include <random>

#include "http/handshake.h"

namespace ringway::probe {

Bytes frame_header(const FrameSpec& spec, uint64_t length) {
  Bytes out;
  out.reserve(14);
  out.push_back(uint8_t((spec.fin ? 0x80 : 0) | ((spec.rsv & 7) << 4) | (spec.opcode & 0x0f)));
  const uint8_t mask_bit = spec.masked ? 0x80 : 0;
  if (length <= 125) {
    out.push_back(uint8_t(mask_bit | length));
  } else if (length <= 0xffff) {
    out.push_back(uint8_t(mask_bit | 126));
    out.push_back(uint8_t(length >> 8));
    out.push_back(uint8_t(length));
  } else {
    out.push_back(uint8_t(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(uint8_t(length >> shift));
  }
  if (spec.masked) out.insert(out.end(), spec.mask_key.begin(), spec.mask_key.end());
  return out;
}

void apply_mask(std::span<uint8_t> data, const std::array<uint8_t, 4>& key, size_t offset) {
  for (size_t i = 0; i < data.size(); ++i) data[i] ^= key[(offset + i) & 3];
}

Bytes build_frame(const FrameSpec& spec, std::span<const uint8_t> payload) {
  Bytes out = frame_header(spec, spec.declared_length.value_or(payload.size()));
  size_t start = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  if (spec.masked) apply_mask(std::span<uint8_t>(out).subspan(start), spec.mask_key);
  return out;
}

Bytes build_frame(const FrameSpec& spec, std::string_view payload) {
  return build_frame(spec, std::span<const uint8_t>(
                               reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
}

Bytes close_payload(std::optional<uint16_t> code, std::string_view reason) {
  if (!code) return {};
  Bytes out(2 + reason.size());
  out[0] = uint8_t(*code >> 8);
  out[1] = uint8_t(*code);
  if (!reason.empty()) std::memcpy(out.data() + 2, reason.data(), reason.size());
  return out;
}

std::optional<uint16_t> ServerFrame::close_code() const {
  if (opcode != opcode::kClose || payload.size() < 2) return std::nullopt;
  return uint16_t((payload[0] << 8) | payload[1]);
}

std::string ServerFrame::close_reason() const {
  if (opcode != opcode::kClose || payload.size() <= 2) return {};
  return std::string(payload.begin() + 2, payload.end());
}

void FrameReader::feed(const uint8_t* data, size_t n) {
  if (n == 0) return;
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(buf_.begin(), buf_.begin() + std::ptrdiff_t(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data, data + n);
}

FrameReader::Status FrameReader::next(ServerFrame& out) {
  if (!error_.empty()) return Status::kError;
  const size_t avail = buf_.size() - pos_;
  if (avail < 2) return Status::kNeedMore;
  const uint8_t* p = buf_.data() + pos_;
  const uint8_t b0 = p[0], b1 = p[1];
  const bool masked = (b1 & 0x80) != 0;
  uint64_t length = b1 & 0x7f;
  size_t header = 2;
  if (length == 126) {
    if (avail < 4) return Status::kNeedMore;
    length = (uint64_t(p[2]) << 8) | p[3];
    header = 4;
  } else if (length == 127) {
    if (avail < 10) return Status::kNeedMore;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
    header = 10;
    if (length >> 63) {
      error_ = "server frame declares a 64-bit length with the top bit set";
      return Status::kError;
    }
  }
  if (length > max_payload_) {
    error_ = "server frame declares " + std::to_string(length) + " bytes (over the probe's " +
             std::to_string(max_payload_) + "-byte limit)";
    return Status::kError;
  }
  if (masked) header += 4;
  if (avail < header || avail - header < length) return Status::kNeedMore;
  out.fin = (b0 & 0x80) != 0;
  out.rsv = (b0 >> 4) & 7;
  out.opcode = b0 & 0x0f;
  out.masked = masked;
  out.payload.assign(p + header, p + header + length);
  if (masked) {
    std::array<uint8_t, 4> key;
    std::memcpy(key.data(), p + header - 4, 4);
    apply_mask(out.payload, key);
  }
  pos_ += header + size_t(length);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return Status::kFrame;
}

std::string base64_encode(std::span<const uint8_t> data) {
  size_t room = 0;  // BoringSSL's encoder (padded); its length includes a trailing NUL
  if (!EVP_EncodedLength(&room, data.size())) return {};
  std::string out(room, '\0');
  size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()), data.data(), data.size());
  out.resize(n);
  return out;
}

std::string new_websocket_key() {
  std::random_device rd;
  std::array<uint8_t, 16> raw;
  for (size_t i = 0; i < raw.size(); i += 4) {
    uint32_t v = rd();
    std::memcpy(raw.data() + i, &v, 4);
  }
  return base64_encode(raw);
}

std::string expected_accept(std::string_view key) {
  char out[http::kAcceptKeyLength];
  http::compute_accept_key(key, out);
  return std::string(out, sizeof out);
}

std::string upgrade_request(std::string_view host_header, std::string_view path,
                            std::string_view key,
                            const std::vector<std::string>& extra_headers) {
  std::string r;
  r.reserve(256);
  r += "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += host_header;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  for (const std::string& h : extra_headers) {
    r += h;
    r += "\r\n";
  }
  r += "\r\n";
  return r;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// True when the comma-separated list holds `token` (case-insensitive).
bool list_has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string check_upgrade_response(std::string_view head, std::string_view key) {
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12 || status_line[8] != ' ') {
    return "not an HTTP response: '" + printable(status_line) + "'";
  }
  std::string_view code = status_line.substr(9, 3);
  if (code != "101") return "HTTP " + printable(status_line.substr(9)) + " instead of 101";
  bool upgrade = false, connection = false;
  std::string accept;
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade") && list_has_token(value, "websocket")) upgrade = true;
    if (iequals(name, "connection") && list_has_token(value, "upgrade")) connection = true;
    if (iequals(name, "sec-websocket-accept")) accept = std::string(value);
  }
  if (!upgrade) return "101 without 'Upgrade: websocket'";
  if (!connection) return "101 without 'Connection: Upgrade'";
  if (accept.empty()) return "101 without Sec-WebSocket-Accept";
  if (accept != expected_accept(key)) return "101 with a wrong Sec-WebSocket-Accept";
  return {};
}

std::string printable(std::string_view bytes, size_t max_len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace ringway::probe
