#!/usr/bin/env bash
# deps.sh - install every Debian package Ember needs (idempotent), and the npm
# packages of the browser tests. Runs as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential pkg-config git python3 python3-dev python3-setuptools python3-flask
  libmicrohttpd-dev zlib1g-dev libzstd-dev libjansson-dev libpcre2-dev libxxhash-dev
  libcurl4-openssl-dev libelf-dev libdw-dev libunwind-dev
  libbpf-dev bpftool clang llvm libclang-rt-14-dev
  golang-go linux-perf valgrind chromium nodejs npm curl
  google-perftools libgoogle-perftools-dev libjemalloc-dev bpfcc-tools
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# node/npm may come from elsewhere on a developer's machine
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then
    echo "deps: not root; run 'sudo make deps' or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -q
  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi

# Browser tests: playwright-core drives Debian's chromium (no browser download).
if [[ -f tests/e2e/package.json && ! -d tests/e2e/node_modules/playwright-core ]]; then
  echo "deps: npm install in tests/e2e"
  (cd tests/e2e && npm install --no-audit --no-fund --loglevel=error)
fi
