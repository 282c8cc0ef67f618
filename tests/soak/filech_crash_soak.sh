#!/usr/bin/env bash
# filech_crash_soak.sh - the file channel's kill -9 crash loop at soak length
# (default 1000 cycles, about 5 minutes on a 2-core VM).  Same test as CI's
# 100-cycle run (tests/integration/test_file_channel.py): a client sends
# numbered lines through netcat -> file -> logger, records which were
# acknowledged, the agent is kill -9'ed at random moments under put and take
# load and restarted; at the end every acknowledged line must have reached
# the logger sink at least once (duplicates are counted and reported).
#
# usage: tests/soak/filech_crash_soak.sh [CYCLES] [path/to/flumen]
#   FLUMEN_FC_SEED=N fixes the random kill moments (reproducible run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cycles="${1:-1000}"
bin="${2:-${FLUMEN_BIN:-$here/../../build/flumen}}"
export FLUMEN_FC_CYCLES="$cycles"
exec /usr/bin/python3 "$here/../integration/test_file_channel.py" --flumen "$bin" -k kill9
