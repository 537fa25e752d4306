// Fuzzes ws::negotiate_deflate. The input is Sec-WebSocket-Extensions values separated by '\n';
// in every mode the answer must fit kMaxDeflateResponse, name client_max_window_bits only in
// takeover mode and server_max_window_bits only when some offer named it, windows within 8..15.
#include <cstdint>
#include <string_view>
#include <vector>

#include "ws/deflate_negotiation.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> values;
  while (values.size() < 8) {
    size_t nl = in.find('\n');
    values.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  std::string_view all(reinterpret_cast<const char*>(data), size);
  bool offered_bits = all.find("server_max_window_bits") != std::string_view::npos;
  bool offered_client_bits = all.find("client_max_window_bits") != std::string_view::npos;
  using ringway::ws::DeflateMode;
  for (DeflateMode mode : {DeflateMode::kOff, DeflateMode::kOn, DeflateMode::kTakeover}) {
    for (bool room : {false, true}) {
      ringway::ws::DeflateAgreement a = ringway::ws::negotiate_deflate(values, mode, room);
      check(mode != DeflateMode::kOff || !a.accepted);
      check(a.server_window_bits >= ringway::ws::kMinServerWindowBits &&
            a.server_window_bits <= ringway::ws::kMaxWindowBits);
      char out[ringway::ws::kMaxDeflateResponse];
      size_t n = ringway::ws::format_deflate_response(a, out, sizeof out);
      check(a.accepted == (n != 0));
      std::string_view answer(out, n);
      bool client_bits = answer.find("client_max_window_bits") != std::string_view::npos;
      check(!client_bits || (offered_client_bits && mode == DeflateMode::kTakeover && room));
      check(a.client_window_bits >= 8 && a.client_window_bits <= ringway::ws::kMaxWindowBits);
      check(offered_bits || answer.find("server_max_window_bits") == std::string_view::npos);
      if (mode == DeflateMode::kOn) {
        check(!a.accepted || (a.server_no_context_takeover && a.client_no_context_takeover));
      }
    }
  }
  return 0;
}
