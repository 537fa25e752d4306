#include "probe/frames.h"

#include <openssl/base64.h>

#include <cctype>
#include <cstring>
#include <random>

#include "client/handshake.h"
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

std::string check_upgrade_response(std::string_view head, std::string_view key,
                                   bool offered_deflate, ws::DeflateAgreement* agreed) {
  client::UpgradeAnswer a = client::check_upgrade_response(head, key, offered_deflate);
  if (agreed) *agreed = a.deflate;
  if (a.ok) return {};
  if (a.status == 0) {
    return a.error + ": '" + printable(head.substr(0, head.find("\r\n"))) + "'";
  }
  if (a.status != 101) return printable(a.error) + " instead of 101";
  return a.error;
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
