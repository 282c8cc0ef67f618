#!/usr/bin/env bash
# Quick start 2: install deps, build, and run the whole test suite (unit,
# fuzz seeds, integration).  Extra cmake options may be passed through
# FLM_CMAKE_ARGS, a build dir through FLM_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
B=${FLM_BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${FLM_CMAKE_ARGS:-} >/dev/null
ninja -C "$B"
ctest --test-dir "$B" --output-on-failure -j "$(nproc)" --timeout 600
