#!/usr/bin/env bash
# run.sh - `make bench`: builds Ember (normal build) and the benchmark drivers, then runs
# bench.py, which prints each figure beside its anchor measured in the same run:
#   ingest of real Go pprof files (profiles/s, samples/s, one server core) vs zlib inflate-only,
#   top/flamegraph latency over 8,640 ten-second profiles vs `go tool pprof -top` on the same files.
# Options through the environment: BENCH_INGEST_SECONDS (default 10), BENCH_PROFILES (8640),
# BENCH_REPEAT (5), BENCH_PARALLEL (8 requests in flight). Results also go to build/bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/bench
mkdir -p "$OUT"
echo "== build"
make --no-print-directory -j2 build/ember
CURL_FLAGS=$(pkg-config --cflags --libs libcurl)
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$OUT/ingest" bench/ingest.c $CURL_FLAGS
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$OUT/inflate" bench/inflate.c -lz
# the embedded store alone (bench/store_bench.c): ingest vs inflate, bytes/sample, 1h/1d/7d queries, disk vs gzip
make --no-print-directory -j2 build/libcore.a && gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Isrc -o "$OUT/store_bench" bench/store_bench.c build/libcore.a $(pkg-config --cflags --libs libzstd zlib libxxhash jansson libpcre2-8 libmicrohttpd libcurl) -lpthread -lm -ldl && rm -rf "$OUT/store" && mkdir -p "$OUT/store" && "$OUT/store_bench" "$OUT/store" "${BENCH_STORE_DAYS:-7}" tests/data/go/cpu.pb.gz $(ls "$OUT"/goprof/cpu-*.pb.gz 2>/dev/null) | tee "$OUT/store_bench.txt"
exec python3 bench/bench.py "$OUT"
