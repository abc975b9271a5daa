#!/bin/bash
# gen.sh - regenerate the real `perf script` test data from workload.c (needs root or
# perf_event_paranoid <= 1, and perf from Debian's linux-perf). Run from anywhere:
#   bash tests/data/perf/gen.sh
# Writes workload.perf.txt (perf record -g), workload.nog.perf.txt (no call chains) and
# ../folded/workload.folded (the -g data folded by awk).
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
# The folded form, computed by awk (independently of Ember's parser, which a unit test checks
# against it): frames root first without +0x offsets, one line per stack, `LC_ALL=C sort` order.
awk '
function flush(  k, i) {
    if (n) {
        k = fr[n - 1]
        for (i = n - 2; i >= 0; i--)
            k = k ";" fr[i]
        c[k]++
    }
    n = 0
}
/^\t/ { s = $2; sub(/\+0x[0-9a-f]+$/, "", s); fr[n++] = s; next }
/^$/ { flush(); next }
{ flush() }
END { flush(); for (k in c) print k " " c[k] }' "$here/workload.perf.txt" |
    LC_ALL=C sort >"$here/../folded/workload.folded"
wc -c "$here/workload.perf.txt" "$here/workload.nog.perf.txt"
