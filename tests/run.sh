#!/usr/bin/env bash
# run.sh - `make test`: builds (normal with -Werror, and ASan+UBSan) and runs every suite:
# unit (both builds), integration against a real server, fuzz smoke runs, end-to-end in Chromium.
# Each suite prints "N passed, N failed"; the totals close the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export EMBER_ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
failed_suites=()
LOG_DIR=build/test-logs
mkdir -p "$LOG_DIR"

# count SUITE LOGFILE STATUS: adds the last "N passed, N failed" line of the log
count() {
    local suite=$1 log=$2 status=$3 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [[ -z $line ]]; then
        echo "!! $suite: no result line (exit $status)"
        total_fail=$((total_fail + 1))
        failed_suites+=("$suite")
        return
    fi
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
    if [[ $status != 0 && $f == 0 ]]; then
        f=1
        echo "!! $suite: exit status $status"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    ((f > 0)) && failed_suites+=("$suite")
    echo "== $suite: $p passed, $f failed"
}

# suite NAME CMD...: runs CMD with output to the terminal and a log, then counts
suite() {
    local name=$1
    shift
    local log="$LOG_DIR/${name//\//_}.log"
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    count "$name" "$log" "$status"
}

build() {
    echo "== build (gcc -Werror)"
    make --no-print-directory -j"$JOBS" DEVELOPER=1 all || return 1
    echo "== build (ASan+UBSan)"
    make --no-print-directory -j"$JOBS" DEVELOPER=1 SANITIZER=address,undefined all || return 1
}

if ! build; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

suite unit build/unit-tests
suite unit-asan build/san/unit-tests

# Integration: each tests/integration/test_*.py starts its own server(s) on free ports.
# They run against the sanitizer build (EMBER_BIN) unless told otherwise.
for t in tests/integration/test_*.py; do
    [[ -e $t ]] || continue
    name=integration/$(basename "$t" .py)
    EMBER_BIN=${EMBER_BIN:-$PWD/build/san/ember} suite "$name" /usr/bin/python3 "$t"
done

# The Python agent's extension under python3 -X dev (the .so is built into build/python by make)
if [[ -f tests/python/test_extension.py ]]; then
    PYTHONPATH=$PWD/build/python suite python/extension /usr/bin/python3 -X dev tests/python/test_extension.py
fi

# Fuzz smoke runs (short; longer runs by hand: make fuzz FUZZ_SECONDS=600)
if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    suite fuzz bash tests/fuzz/run.sh "${FUZZ_SECONDS:-15}"
fi

# End-to-end in headless Chromium
if [[ -f tests/e2e/run.mjs ]]; then
    suite e2e node tests/e2e/run.mjs
fi

echo
if ((${#failed_suites[@]})); then
    echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
