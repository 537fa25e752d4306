#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and starts ringway on its embedded defaults
# (127.0.0.1:8080). Extra arguments go to ringway (see: build/release/src/app/ringway --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh Release
exec build/release/src/app/ringway "$@"
