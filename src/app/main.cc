// ringway: parses the command line (and the configuration file), then runs the server until
// SIGINT/SIGTERM; `keygen`, `check-config` and `config-reference` are subcommands.
#include "app/cli.h"
#include "app/server.h"

int main(int argc, char** argv) {
  using namespace ringway;
  Config cfg;
  app::KeygenOptions keygen;
  std::string config_path;
  switch (app::parse_command_line(argc, argv, cfg, keygen, config_path)) {
    case app::CliResult::kKeygen: return app::run_keygen(keygen);
    case app::CliResult::kRun: break;
    case app::CliResult::kExitOk: return 0;
    case app::CliResult::kExitError: return 2;
  }
  app::Server server(cfg, config_path, argc, argv);
  return server.run();
}
