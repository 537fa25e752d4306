#pragma once
// The browser files (web/: the status page and ringway.js), compiled into the binary by
// cmake/EmbedWeb.cmake, so the gateway serves them with no files beside it.
#include <cstdint>
#include <span>
#include <string_view>

namespace ringway::gateway {

struct WebAsset {
  const char* path;          // "/" for index.html, else "/<file name>"
  const char* content_type;
  std::span<const unsigned char> bytes;
};

// Every embedded file; empty in builds without them (the fuzz build).
std::span<const WebAsset> web_assets();
const WebAsset* find_web_asset(std::string_view path);

}  // namespace ringway::gateway
