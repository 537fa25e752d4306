#pragma once
// Redis Cluster's key-to-slot function: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of
// the key, or of its hash tag (the part between the first '{' and the next '}', when non-empty),
// modulo 16384. Written out here because Debian's hiredis 0.14 has no cluster support and the
// function is small; the test vector is the one the cluster specification gives.
#include <cstdint>
#include <string_view>

namespace ringway::bus {

inline constexpr unsigned kClusterSlots = 16384;

constexpr uint16_t crc16(std::string_view s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc = uint16_t(crc ^ (uint16_t(c) << 8));
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? uint16_t((crc << 1) ^ 0x1021) : uint16_t(crc << 1);
  }
  return crc;
}
static_assert(crc16("123456789") == 0x31C3);

constexpr unsigned key_slot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) % kClusterSlots;
}

}  // namespace ringway::bus
