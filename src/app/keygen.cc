#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.h"
#include "auth/keys.h"
#include "auth/scopes.h"

namespace ringway::app {

int run_keygen(const KeygenOptions& opts) {
  std::vector<std::string> scopes;
  size_t start = 0;
  while (start < opts.scopes.size()) {
    size_t comma = opts.scopes.find(',', start);
    if (comma == std::string::npos) comma = opts.scopes.size();
    std::string scope = opts.scopes.substr(start, comma - start);
    if (!auth::valid_scope(scope)) {
      std::fprintf(stderr, "ringway keygen: --scopes: '%s' is not a valid scope\n", scope.c_str());
      return 2;
    }
    scopes.push_back(std::move(scope));
    start = comma + 1;
  }
  auth::KeyPair key = auth::generate_keypair();
  std::string err;
  if (!auth::write_private_key_file(opts.out, key, err)) {
    std::fprintf(stderr, "ringway keygen: %s\n", err.c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s (device id %s); add this line to the device registry:\n",
               opts.out.c_str(), auth::device_id_hex(key.public_key).c_str());
  std::printf("%s\n", auth::registry_line(key, scopes).c_str());
  return 0;
}

}  // namespace ringway::app
