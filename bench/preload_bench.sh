#!/usr/bin/env bash
# preload_bench.sh - slowdown of libember.so on a malloc-heavy and a mutex-heavy workload, beside
# jemalloc's sampling heap profiler (prof:true,lg_prof_sample:19) and gperftools' heap profiler
# (HEAPPROFILE with libtcmalloc), each against its own allocator without profiling, same run.
# Usage: bench/preload_bench.sh [runs=5] [iterations=4000000]; prints medians in seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
ITERS=${2:-4000000}
LIB=$ROOT/build/libember.so
[ -f "$LIB" ] || { echo "preload_bench: $LIB missing (run make)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$TMP/work" "$ROOT/tests/preload/bench_work.c"
LIBDIR=/usr/lib/x86_64-linux-gnu
JE=$LIBDIR/libjemalloc.so.2
TC=$LIBDIR/libtcmalloc.so.4

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run NAME MODE env... : median elapsed of RUNS runs
run() {
    local mode=$1; shift
    for _ in $(seq "$RUNS"); do
        env "$@" "$TMP/work" "$mode" "$ITERS"
    done | median
}

printf '%-7s %-34s %9s %9s\n' workload configuration seconds slowdown
for mode in malloc mutex; do
    base=$(run $mode X=1)
    ember=$(run $mode LD_PRELOAD="$LIB" EMBER_SERVER_ADDRESS=off EMBER_LOG_LEVEL=0)
    printf '%-7s %-34s %9.4f %9s\n' $mode "glibc" "$base" "-"
    printf '%-7s %-34s %9.4f %8.1f%%\n' $mode "glibc + libember.so (cpu,alloc,lock)" "$ember" \
        "$(echo "($ember/$base-1)*100" | bc -l)"
    if [ -f "$JE" ]; then
        je=$(run $mode LD_PRELOAD="$JE")
        jep=$(run $mode LD_PRELOAD="$JE" MALLOC_CONF=prof:true,lg_prof_sample:19,prof_prefix:"$TMP/je")
        printf '%-7s %-34s %9.4f %9s\n' $mode "jemalloc" "$je" "-"
        printf '%-7s %-34s %9.4f %8.1f%%\n' $mode "jemalloc prof (lg_prof_sample:19)" "$jep" \
            "$(echo "($jep/$je-1)*100" | bc -l)"
    fi
    if [ -f "$TC" ]; then
        tc=$(run $mode LD_PRELOAD="$TC")
        tcp=$(run $mode LD_PRELOAD="$TC" HEAPPROFILE="$TMP/tc" HEAP_PROFILE_ALLOCATION_INTERVAL=1073741824)
        printf '%-7s %-34s %9.4f %9s\n' $mode "tcmalloc" "$tc" "-"
        printf '%-7s %-34s %9.4f %8.1f%%\n' $mode "tcmalloc HEAPPROFILE" "$tcp" \
            "$(echo "($tcp/$tc-1)*100" | bc -l)"
    fi
done
