#!/usr/bin/env bash
# Installs, on top of what tools/setup.sh installs, the Debian 12 packages that only the
# side-by-side benchmarks and profiling use (bench/compare_all.sh, docs/profiling.md).
#
#   libboost-dev                          Boost.Beast + Asio headers for bench/peers/beast_echo.cc
#   golang-go                             Go toolchain for bench/peers/gorilla_echo.go
#   golang-github-gorilla-websocket-dev   gorilla/websocket sources under /usr/share/gocode (offline)
#   node-ws                               the ws module for bench/peers/ws_echo.js
#   nodejs                                only when no node is on PATH (another node may be there)
#   linux-perf                            perf record/report (docs/profiling.md)
set -euo pipefail
extra=(libboost-dev golang-go golang-github-gorilla-websocket-dev node-ws linux-perf)
command -v node >/dev/null || extra+=(nodejs)
exec bash "$(dirname "$0")/setup.sh" "${extra[@]}"
