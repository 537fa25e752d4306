#pragma once
// Runs one mode end to end: starts a loop thread per --threads, moves the run through its
// phases (ramp, warmup, measure, stop), prints progress and the report. Returns the exit code.
#include "load/options.h"

namespace ringway::load {

int run(const Options& opt);
int run_keys(const Options& opt);

}  // namespace ringway::load
