#pragma once
// Command-line flags onto ringway::Config.
#include <string>

#include "ringway/config.h"

namespace ringway::app {

enum class CliResult { kRun, kExitOk, kExitError };

// Parses argv into cfg. Prints help or a clear error itself.
CliResult parse_command_line(int argc, char** argv, Config& cfg);

}  // namespace ringway::app
