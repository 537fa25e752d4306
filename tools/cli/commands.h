#pragma once
// The commands of ringway-cli. Each returns the process exit code (options.h).
#include "cli/options.h"

namespace ringway::cli_tool {

// subscribe, publish, send, login-test: a client::Session.
int run_session_command(const Options& o);
// echo: a plain WebSocket to /echo, no gateway protocol.
int run_echo(const Options& o);

// SIGINT and SIGTERM as a descriptor (blocked for the process, read from the loop); -1 on error.
int stop_signal_fd();

}  // namespace ringway::cli_tool
