#!/bin/bash
# gen.sh - regenerate the real `perf script` test data from workload.c (needs root or
# perf_event_paranoid <= 1, and perf from Debian's linux-perf). Run from anywhere:
#   bash tests/data/perf/gen.sh
# Writes workload.perf.txt (perf record -g) and workload.nog.perf.txt (no call chains).
# clang is used because gcc 12 omits the frame pointer of leaf functions even with
# -mno-omit-leaf-frame-pointer, which hides the caller of the leaf from the unwinder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=/tmp/ember-perf
mkdir -p "$work"
cc=${CC_WORKLOAD:-clang}
$cc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline \
    -o "$work/workload" "$here/workload.c"
# 100 rounds of 10 units of 300000 iterations: about 0.45 s of CPU, ~450 samples at 999 Hz.
args=(100 300000)
perf record -q -F 999 -g -e cpu-clock -o "$work/g.data" -- "$work/workload" "${args[@]}" >/dev/null
perf script -i "$work/g.data" >"$here/workload.perf.txt"
perf record -q -F 999 -e cpu-clock -o "$work/nog.data" -- "$work/workload" "${args[@]}" >/dev/null
perf script -i "$work/nog.data" >"$here/workload.nog.perf.txt"
rm -f "$work/g.data" "$work/nog.data"
wc -c "$here/workload.perf.txt" "$here/workload.nog.perf.txt"
