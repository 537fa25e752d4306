// ringway-load: the load generator. `ringway-load MODE [options]`; see docs/load.md.
#include "load/options.h"
#include "load/runner.h"

int main(int argc, char** argv) {
  using namespace ringway::load;
  Options opt;
  switch (parse_options(argc, argv, opt)) {
    case ParseResult::kRun: break;
    case ParseResult::kExitOk: return 0;
    case ParseResult::kExitError: return 2;
  }
  if (opt.mode == Mode::kKeys) return run_keys(opt);
  return run(opt);
}
