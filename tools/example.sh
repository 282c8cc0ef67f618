#!/usr/bin/env bash
# Quick start 1: install deps, build, and run the agent on the bundled example
# (Flume's own quick start: netcat on localhost:44444 -> memory -> logger).
# Then, from another terminal:  printf 'Hello world!\n' | nc localhost 44444
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build flumen
exec ./build/flumen agent --conf conf --conf-file conf/example.conf --name a1 \
    -Dflume.root.logger=INFO,console "$@"
