#include "gateway/web_assets.h"

namespace ringway::gateway {

const WebAsset* find_web_asset(std::string_view path) {
  for (const WebAsset& a : web_assets())
    if (path == a.path) return &a;
  return nullptr;
}

}  // namespace ringway::gateway
