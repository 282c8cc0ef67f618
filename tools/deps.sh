#!/usr/bin/env bash
# Installs the Debian packages flumen needs to build, test and benchmark.
# Idempotent; uses sudo when not root.  Only refreshes the package lists when
# an install fails (a fresh image may have stale lists).
set -euo pipefail
PKGS=(cmake ninja-build gcc clang pkg-config make
      libuv1-dev libcmocka-dev libjansson-dev libssl-dev zlib1g-dev libmimalloc-dev
      libavro-dev libsnappy-dev liblz4-dev libzstd-dev libbz2-dev libpcre2-dev libcurl4-openssl-dev
      python3-avro python3-thrift thrift-compiler python3-snappy python3-lz4 python3-zstandard
      netcat-openbsd curl python3 procps bsdutils openssl)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
  }
fi
