"""test_crash.py - kill -9 a real `ember server` while several clients push, restart it on the same
data directory, and check that every acknowledged profile is there with its exact values.

Each push carries a function name and a value of its own, so every acknowledged push can be
checked in /api/v1/top. Profile times spread over several hours so the store cuts its head into
blocks (and deletes checkpointed WAL segments) while the clients push: kills land in those too.
`make test` runs a few cycles; by hand: python3 tests/integration/test_crash.py --cycles 300."""
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

CYCLES = 4
CLIENTS = 4
T0 = int(time.time()) - 12 * 3600  # profiles from 12 h ago: several 1-hour head spans
UNIT = 10**7  # a folded-text sample of a .cpu profile weighs 10 ms in nanoseconds


def pusher(srv, client, start, acked, stop):
    i = start
    while not stop.is_set():
        name = f"c{client}_p{i}"
        value = client * 1000003 + i * 7 + 1
        # 30 s apart: a client crosses an hour of data time every 120 pushes
        when = T0 + (i * CLIENTS + client) * 30 // CLIENTS
        try:
            st, _ = srv.post("/ingest", f"main;{name} {value}\n",
                             {"name": f"crash.cpu{{client=c{client}}}", "from": str(when), "until": str(when + 1)})
        except OSError:
            return  # the server was killed
        if st == 200:
            acked.append((name, value))
        i += 1


def verify(srv, acked):
    top = h.api(srv, "top", h.sel(h.CPU_TYPE, service_name="crash"),
                **{"from": str(T0 - 3600), "until": str(T0 + 365 * 86400)})
    got = h.top_map(top)
    missing = [(n, v) for n, v in acked if got.get(n) != v * UNIT]
    check(not missing, f"{len(missing)} of {len(acked)} acknowledged pushes lost or wrong, e.g. "
          f"{[(n, v * UNIT, got.get(n)) for n, v in missing[:5]]}")
    # nothing partial or foreign: every function is a pushed one with its own value
    for name, v in got.items():
        if name == "main":
            continue
        c, p = name[1:].split("_p")
        check(v == (int(c) * 1000003 + int(p) * 7 + 1) * UNIT, f"{name} has value {v}")
    return len(got)


def run_cycles(cycles, seed=None):
    rnd = random.Random(seed)
    d = tempfile.mkdtemp(prefix="ember-crash-")
    acked = []
    next_i = 0
    try:
        for cycle in range(cycles):
            srv = h.Server(data_dir=d).start()
            if cycle:
                verify(srv, acked)
            stop = threading.Event()
            per = [[] for _ in range(CLIENTS)]
            threads = [threading.Thread(target=pusher, args=(srv, c, next_i, per[c], stop)) for c in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.2, 1.5))
            srv.kill9()
            stop.set()
            for t in threads:
                t.join()
            for p in per:
                acked.extend(p)
            next_i += max(len(p) for p in per) + 1 if any(per) else 1
        srv = h.Server(data_dir=d).start()
        n = verify(srv, acked)
        blocks = os.listdir(os.path.join(d, "blocks"))
        srv.stop()
        return len(acked), n, len([b for b in blocks if b.endswith(".blk")])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_kill9_during_concurrent_pushes_keeps_acknowledged():
    acked, stored, blocks = run_cycles(CYCLES, seed=1)
    check(acked > 50, f"only {acked} pushes acknowledged: the test did not exercise much")
    print(f"     {acked} acknowledged pushes checked over {CYCLES} kill -9 cycles, {stored} stored, "
          f"{blocks} block files", flush=True)


if __name__ == "__main__":
    if "--cycles" in sys.argv:
        n = int(sys.argv[sys.argv.index("--cycles") + 1])
        t0 = time.time()
        acked, stored, blocks = run_cycles(n, seed=None)
        print(f"{n} cycles: {acked} acknowledged pushes all present with exact values "
              f"({stored} stored, {blocks} block files) in {time.time() - t0:.0f} s")
        sys.exit(0)
    h.run(globals())
