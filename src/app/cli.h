#pragma once
// Command-line flags onto ringway::Config.
#include <string>

#include "ringway/config.h"

namespace ringway::app {

enum class CliResult { kRun, kKeygen, kExitOk, kExitError };

struct KeygenOptions {
  std::string out = "device.key";
  std::string scopes;  // comma-separated, for the printed registry line
};

// Parses argv into cfg (or keygen). Prints help or a clear error itself.
CliResult parse_command_line(int argc, char** argv, Config& cfg, KeygenOptions& keygen);

// `ringway keygen`: writes a new private key file (mode 0600) and prints its registry line.
int run_keygen(const KeygenOptions& opts);

}  // namespace ringway::app
