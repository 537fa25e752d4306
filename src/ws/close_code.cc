#include "ws/close_code.h"

namespace ringway::ws {

bool is_valid_received_close_code(uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  // 1012-1014 are IANA-registered after RFC 6455 (restart, try again later, bad gateway).
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace ringway::ws
