// ringway-cli: a command-line client for the Ringway gateway. `ringway-cli --help`;
// docs/clients.md is the manual.
#include "cli/commands.h"
#include "cli/options.h"

int main(int argc, char** argv) {
  using namespace ringway::cli_tool;
  Options o;
  switch (parse_options(argc, argv, o)) {
    case Parse::kRun: break;
    case Parse::kExitOk: return kExitOk;
    case Parse::kExitUsage: return kExitUsage;
  }
  if (o.command == Command::kEcho) return run_echo(o);
  return run_session_command(o);
}
