#!/usr/bin/env bash
# agent_bench.sh - CPU (% of one core) and peak RSS of `ember agent` at 99 Hz with both cores busy,
# beside `perf record -F 99 -g` and bcc's profile on the same workload in the same run (root only).
# usage: bench/agent_bench.sh [SECONDS]   (default 30 per profiler; EMBER_BIN overrides build/ember)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
EMBER=${EMBER_BIN:-build/ember}
[ "$(id -u)" = 0 ] || { echo "agent_bench: needs root (BPF and perf events)"; exit 1; }
TMP=$(mktemp -d /tmp/ember-agent-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

gcc -O2 -g -fno-omit-frame-pointer -o "$TMP/wl" tests/agent/workload.c
NCPU=$(nproc)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$EMBER" server --http-addr 127.0.0.1:$PORT --data-dir "$TMP/data" --no-self-profile >"$TMP/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break; sleep 0.1; done

# one busy workload per core for the whole run
for _ in $(seq "$NCPU"); do "$TMP/wl" 100000 spin >/dev/null & PIDS+=($!); done

ticks=$(getconf CLK_TCK)
# cpu_ticks PID -> utime+stime of PID and its waited-for children
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# measure NAME CMD... (perf's cost is mostly in the kernel, charged to the sampled tasks; its
# own process only writes the ring buffers out): runs CMD for SECS (it must exit by itself or on SIGINT), samples its CPU and RSS
measure() {
  local name=$1; shift
  "$@" >"$TMP/$name.out" 2>&1 &
  local pid=$! t0 c0 c1 t1 hwm=0
  sleep 2 # skip start-up (BPF load, symbol tables): steady state only
  if ! kill -0 $pid 2>/dev/null; then
    printf '%-28s failed to start: %s\n' "$name" "$(tail -1 "$TMP/$name.out")"
    return 0
  fi
  t0=$(date +%s.%N); c0=$(cpu_ticks $pid)
  sleep "$SECS"
  c1=$(cpu_ticks $pid); t1=$(date +%s.%N); hwm=$(hwm_kb $pid)
  kill -INT $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  python3 - "$name" "$c0" "$c1" "$t0" "$t1" "$ticks" "$hwm" <<'PY'
import sys
name, c0, c1, t0, t1, tk, hwm = sys.argv[1], *map(float, sys.argv[2:])
pct = 100.0 * (c1 - c0) / tk / (t1 - t0)
print(f"{name:<28} cpu {pct:6.2f}% of a core   peak RSS {hwm / 1024:7.1f} MiB")
PY
}

echo "agent_bench: ${SECS}s per profiler at 99 Hz, $NCPU busy workloads on $NCPU CPUs"
measure "ember agent (fp)" "$EMBER" agent --server "http://127.0.0.1:$PORT" --all --sample-rate 99
measure "ember agent (--dwarf)" "$EMBER" agent --server "http://127.0.0.1:$PORT" --all --sample-rate 99 --dwarf
measure "ember agent (--off-cpu)" "$EMBER" agent --server "http://127.0.0.1:$PORT" --all --sample-rate 99 --off-cpu
measure "perf record -F 99 -g" perf record -F 99 -g -a -o "$TMP/perf.data"
measure "perf record --call-graph dwarf" perf record -F 99 --call-graph dwarf -a -o "$TMP/perf-dwarf.data"
if command -v profile-bpfcc >/dev/null; then
  measure "bcc profile -F 99" profile-bpfcc -F 99 -af $((SECS + 30))
else
  echo "bcc profile: not installed (apt-get install bpfcc-tools)"
fi
