#!/usr/bin/env bash
# flask_bench.sh - flask-calc requests/s with and without the ember agent (100 Hz, all profiles),
# interleaved in the same run, plus the agent's own CPU (its native threads) and memory.
# Usage: bench/flask_bench.sh [seconds per round, default 15] [rounds, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
ROUNDS=${2:-2}
PY=/usr/bin/python3
[[ -f build/python/ember/__init__.py ]] || { echo "build/python/ember missing: run make" >&2; exit 1; }
[[ -x build/ember ]] || { echo "build/ember missing: run make" >&2; exit 1; }
port() { $PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
TMP=$(mktemp -d)
SRV_PORT=$(port)
build/ember server --http-addr 127.0.0.1:$SRV_PORT --data-dir "$TMP/data" --no-self-profile >"$TMP/server.log" 2>&1 &
SRV=$!
APP=
cleanup() { [[ -n $APP ]] && kill "$APP" 2>/dev/null; kill $SRV 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# run MODE: starts the app (agent on or off), drives load, writes "rps cpu_s rss_kb agent_thread_cpu_s" to $TMP/result
run() {
    local mode=$1 p
    p=$(port)
    local env=(PORT=$p PYTHONPATH=build/python EMBER_SERVER_ADDRESS=http://127.0.0.1:$SRV_PORT
               EMBER_APPLICATION_NAME=flask-bench CALC_MS=2)
    # without the agent: the same app with ember replaced by a module whose configure() does nothing
    if [[ $mode == off ]]; then
        mkdir -p "$TMP/off/ember"
        printf 'def configure(*a, **k):\n    pass\n' >"$TMP/off/ember/__init__.py"
        printf 'def init_app(app, label="endpoint"):\n    return app\n' >"$TMP/off/ember/flask.py"
        env+=(PYTHONPATH=$TMP/off)
    fi
    env "${env[@]}" $PY examples/flask-calc/app.py >"$TMP/app-$mode.log" 2>&1 &
    APP=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/health" >/dev/null 2>&1 && break; sleep 0.1; done
    local out
    out=$($PY examples/flask-calc/loadgen.py --url "http://127.0.0.1:$p" --duration "$SECS" --workers 4 \
          --paths /calc,/calc,/calc,/health)
    # whole-process CPU, and that of ember's own native threads (named ember-*)
    local stat rss own=0 t
    stat=$(awk '{print ($14+$15)/100}' /proc/$APP/stat)
    for t in /proc/$APP/task/*; do
        if grep -q '^ember-' "$t/comm" 2>/dev/null; then
            own=$(awk -v o="$own" '{print o + ($14+$15)/100}' "$t/stat")
        fi
    done
    rss=$(awk '/VmRSS/{print $2}' /proc/$APP/status)
    kill -TERM $APP; wait $APP 2>/dev/null || true
    APP=
    echo "$(tail -1 <<<"$out" | sed -E 's/.* ([0-9.]+) req\/s/\1/') $stat $rss $own" >"$TMP/result"
}

echo "flask-calc: ${SECS}s per round, $ROUNDS rounds, 4 client threads, CALC_MS=2"
declare -a on off
for r in $(seq "$ROUNDS"); do
    run off; read -r a b c d <"$TMP/result"; off+=("$a")
    echo "round $r  without agent: $a req/s  process CPU ${b}s  RSS ${c} KiB"
    run on; read -r a b c d <"$TMP/result"; on+=("$a")
    echo "round $r  with agent:    $a req/s  process CPU ${b}s  RSS ${c} KiB  (agent threads ${d}s CPU)"
done
$PY - "${off[*]}" "${on[*]}" <<'PYEOF'
import sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
a, b = sum(off) / len(off), sum(on) / len(on)
print(f"mean: without {a:.1f} req/s, with {b:.1f} req/s, change {100 * (b - a) / a:+.2f}% (target: >= -2%)")
PYEOF
