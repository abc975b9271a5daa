#!/usr/bin/env bash
# run.sh - builds every tests/fuzz/fuzz_*.c as a libFuzzer binary (ASan+UBSan) and runs each for
# N seconds (argument 1, default 15) over a temporary copy of tests/fuzz/corpus/<name>/.
#   bash tests/fuzz/run.sh [SECONDS] [NAME...]      e.g. bash tests/fuzz/run.sh 600 fuzz_pprof
# Prints "ok NAME" or "FAIL NAME" per target and a final "N passed, N failed" line. A crash, leak,
# sanitizer report or timeout makes libFuzzer exit non-zero: that target fails, and the input
# is kept in build/fuzz/artifacts/. Library code (src/base, src/profile, src/query, src/store)
# is compiled once into build/fuzz/obj/ and rebuilt incrementally.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-15}
shift || true
CC=${FUZZ_CC:-clang}
PKGS="libmicrohttpd zlib libzstd jansson libpcre2-8 libxxhash libcurl"
OUT=build/fuzz
mkdir -p "$OUT/artifacts"

targets=()
if (($#)); then
    for n in "$@"; do targets+=("tests/fuzz/${n%.c}.c"); done
else
    for t in tests/fuzz/fuzz_*.c; do [[ -e $t ]] && targets+=("$t"); done
fi
if ((${#targets[@]} == 0)); then
    echo "no fuzz targets"
    echo "0 passed, 0 failed"
    exit 0
fi
if ! command -v "$CC" >/dev/null; then
    echo "FAIL build: $CC not found"
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -pthread -Isrc $(pkg-config --cflags $PKGS 2>/dev/null)"
SAN="address,undefined -fno-sanitize-recover=all"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null) -lpthread -lm -ldl"
names=()
for t in "${targets[@]}"; do names+=("$OUT/$(basename "$t" .c)"); done

# A throwaway makefile: incremental objects with header dependencies (-MMD), one archive.
build_log=$OUT/build.log
make --no-print-directory -j"${FUZZ_JOBS:-2}" -f - "${names[@]}" >"$build_log" 2>&1 <<MAKE
SRCS := \$(sort \$(wildcard src/base/*.c src/profile/*.c src/query/*.c src/store/*.c))
OBJS := \$(SRCS:%.c=$OUT/obj/%.o)
$OUT/obj/%.o: %.c
	@mkdir -p \$(dir \$@)
	$CC $CFLAGS -fsanitize=fuzzer-no-link,$SAN -MMD -MP -c \$< -o \$@
$OUT/libfuzzlib.a: \$(OBJS)
	rm -f \$@ && ar rcs \$@ \$^
$OUT/fuzz_%: tests/fuzz/fuzz_%.c $OUT/libfuzzlib.a
	$CC $CFLAGS -fsanitize=fuzzer,$SAN \$< $OUT/libfuzzlib.a $LIBS -o \$@
-include \$(OBJS:.o=.d)
MAKE
build_status=$?

pass=0
fail=0
for t in "${targets[@]}"; do
    name=$(basename "$t" .c)
    bin=$OUT/$name
    if [[ $build_status != 0 || ! -x $bin ]]; then
        echo "FAIL $name (build failed; see $build_log)"
        grep -E 'error|undefined reference' "$build_log" | head -n 20 | sed 's/^/    /'
        fail=$((fail + 1))
        continue
    fi
    corpus=$(mktemp -d)
    seed=tests/fuzz/corpus/${name#fuzz_}
    [[ -d $seed ]] && cp -r "$seed"/. "$corpus"/
    log=$OUT/$name.log
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
        "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$name-" "$corpus" >"$log" 2>&1
    status=$?
    rm -rf "$corpus"
    if [[ $status == 0 ]]; then
        echo "ok $name ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?') runs)"
        pass=$((pass + 1))
    else
        echo "FAIL $name (exit $status; log $log)"
        grep -E 'ERROR|SUMMARY|runtime error|fuzz_|Test unit written' "$log" | head -n 15 | sed 's/^/    /'
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
((fail == 0))
