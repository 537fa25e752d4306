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

// Parses argv into cfg (or keygen): the --config file first, then the flags over it.
// config_path receives the file's path ("" if none). Prints help, `check-config`'s report, or a
// clear error itself.
CliResult parse_command_line(int argc, char** argv, Config& cfg, KeygenOptions& keygen,
                             std::string& config_path);

// `ringway keygen`: writes a new private key file (mode 0600) and prints its registry line.
int run_keygen(const KeygenOptions& opts);

}  // namespace ringway::app
