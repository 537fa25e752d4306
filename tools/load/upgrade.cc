#include "load/upgrade.h"

#include <array>
#include <cstring>
#include <utility>

#include "client/handshake.h"

namespace ringway::load {

namespace {

uint64_t mix(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::string websocket_key(uint64_t seed) {
  // The nonce comes from the seed (a connection keeps no 16 bytes for it); the encoding is the
  // client library's.
  std::array<uint8_t, 16> raw;
  uint64_t a = mix(seed + 0x9e3779b97f4a7c15ull), b = mix(seed + 2 * 0x9e3779b97f4a7c15ull);
  std::memcpy(raw.data(), &a, 8);
  std::memcpy(raw.data() + 8, &b, 8);
  return client::websocket_key(raw);
}

bool append_upgrade_request(ByteBuffer& out, std::string_view host, std::string_view path,
                            std::string_view key, bool deflate) {
  std::string r;
  r.reserve(220 + host.size() + path.size());
  r += "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += host;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  if (deflate) {
    r += "Sec-WebSocket-Extensions: ";
    r += client::kDeflateOffer;
    r += "\r\n";
  }
  r += "\r\n";
  return out.append(r.data(), r.size());
}

size_t ResponseHeadReader::feed(std::span<const uint8_t> in) {
  if (state_ != State::kNeedMore) return 0;
  size_t old = buf_.size();
  size_t limit = old + in.size();
  if (limit > kMaxResponseHead) limit = kMaxResponseHead;
  auto at = [&](size_t i) { return i < old ? buf_.data()[i] : in[i - old]; };
  // CRLFCRLF may straddle the previous call's bytes: start 3 bytes back.
  size_t end = 0;
  for (size_t i = old >= 3 ? old - 3 : 0; i + 4 <= limit; ++i) {
    if (at(i) == '\r' && at(i + 1) == '\n' && at(i + 2) == '\r' && at(i + 3) == '\n') {
      end = i + 4;
      break;
    }
  }
  size_t use = (end ? end : limit) - old;
  if (!buf_.append(in.first(use))) {
    state_ = State::kError;
    return 0;
  }
  if (end) state_ = State::kComplete;
  else if (buf_.size() >= kMaxResponseHead) state_ = State::kError;
  return use;
}

bool check_upgrade_response(std::string_view head, std::string_view key, int& status,
                            std::string& err, bool offered_deflate, ws::DeflateAgreement* agreed) {
  client::UpgradeAnswer a = client::check_upgrade_response(head, key, offered_deflate);
  status = a.status;
  if (agreed) *agreed = a.deflate;
  if (!a.ok) err = std::move(a.error);
  return a.ok;
}

}  // namespace ringway::load
