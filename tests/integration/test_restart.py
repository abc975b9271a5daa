"""test_restart.py - data in a real `ember server` survives a clean restart (SIGTERM) and a
kill -9 after acknowledged pushes, on the same data directory."""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())
NS = 10**7


def snapshot(s, services):
    out = {"state": h.state(s)}
    for svc in services:
        for t in (h.CPU_TYPE, "memory:inuse_space:bytes:space:bytes"):
            top = h.api(s, "top", h.sel(t, service_name=svc))
            out[(svc, t)] = (top["total"], sorted(h.top_map(top).items()))
    return out


def push_some(s, tag, n):
    for i in range(n):
        st, body = s.post("/ingest", f"main;{tag}_{i % 3};leaf{i} {i + 1}\n",
                          {"name": f"r-{tag}.cpu{{i=x{i % 2}}}", "from": str(T0 - 100 + i), "until": str(T0 - 99 + i)})
        check(st == 200, f"ingest {tag} {i}: {st} {body}")


def test_clean_restart_keeps_data():
    d = tempfile.mkdtemp(prefix="ember-restart-")
    try:
        s = h.Server(data_dir=d).start()
        push_some(s, "clean", 20)
        with open(os.path.join(h.go_workload(), "heap2.pb.gz"), "rb") as f:
            heap = h.pprof_with_time(f.read(), T0 * 10**9)
        st, body = h.push(s, [({"__name__": "memory", "service_name": "r-clean", "__delta__": "false"}, [heap])])
        check(st == 200, f"push heap: {st} {body}")
        before = snapshot(s, ["r-clean"])
        check(before[("r-clean", h.CPU_TYPE)][0] == sum(range(1, 21)) * NS, f"before restart {before}")
        rc = s.stop(signal.SIGTERM)
        check(rc == 0, f"SIGTERM: exit status {rc}: {s.read_log()[-3000:]}")
        s2 = h.Server(data_dir=d).start()
        try:
            after = snapshot(s2, ["r-clean"])
            check(after == before, f"data changed across a clean restart:\nbefore {before}\nafter  {after}")
            # and the restarted server takes new data next to the old
            push_some(s2, "clean2", 3)
            t = h.api(s2, "top", h.sel(h.CPU_TYPE, service_name="r-clean2"))
            check(t["total"] == 6 * NS, f"new data after restart: {t['total']}")
        finally:
            rc = s2.stop()
            check(rc == 0, f"second server exit status {rc}: {s2.read_log()[-3000:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
        try:
            os.unlink(d + ".log")
        except OSError:
            pass


def test_kill9_keeps_acknowledged_data():
    d = tempfile.mkdtemp(prefix="ember-kill9-")
    try:
        s = h.Server(data_dir=d).start()
        push_some(s, "k9", 30)
        with open(os.path.join(h.go_workload(), "cpu.pb.gz"), "rb") as f:
            cpu = h.pprof_with_time(f.read(), T0 * 10**9)
        st, body = h.push(s, [({"__name__": "process_cpu", "service_name": "r-k9-go"}, [cpu])])
        check(st == 200, f"push: {st} {body}")
        want = snapshot(s, ["r-k9", "r-k9-go"])
        s.kill9()
        s2 = h.Server(data_dir=d).start()
        try:
            got = snapshot(s2, ["r-k9", "r-k9-go"])
            check(got == want, f"acknowledged data lost after kill -9:\nwant {want}\ngot  {got}")
        finally:
            rc = s2.stop()
            check(rc == 0, f"exit status after recovery {rc}: {s2.read_log()[-3000:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
        try:
            os.unlink(d + ".log")
        except OSError:
            pass


def test_kill9_during_concurrent_pushes():
    """kill -9 while 4 clients push: every push that got its 200 is there after restart."""
    import threading
    d = tempfile.mkdtemp(prefix="ember-kill9c-")
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    try:
        s = h.Server(data_dir=d).start()

        def pusher(c):
            i = 0
            while not stop.is_set():
                try:
                    st, _ = s.post("/ingest", f"main;c{c};p{i} {i + 1}\n",
                                   {"name": "r-k9c.cpu", "from": str(T0 - 200 + i % 100)})
                except OSError:
                    return  # the server is gone
                if st == 200:
                    with lock:
                        acked[f"main;c{c};p{i}"] = i + 1
                i += 1

        threads = [threading.Thread(target=pusher, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        s.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        check(len(acked) >= 10, f"only {len(acked)} pushes acknowledged before the kill")
        s2 = h.Server(data_dir=d).start()
        try:
            st, data, _ = s2.get("/api/v1/export", dict(h.window(), format="folded",
                                                       query=h.sel(h.CPU_TYPE, service_name="r-k9c")), raw=True)
            check(st == 200, f"export after recovery: {st}")
            got = {}
            for line in data.decode().splitlines():
                if line.strip():
                    k, v = line.rsplit(" ", 1)
                    got[k] = got.get(k, 0) + int(v)
            lost = [k for k, v in acked.items() if got.get(k) != v * NS]
            check(not lost, f"{len(lost)} of {len(acked)} acknowledged pushes lost or changed, e.g. {lost[:5]}")
        finally:
            rc = s2.stop()
            check(rc == 0, f"exit status after recovery {rc}: {s2.read_log()[-3000:]}")
    finally:
        stop.set()
        shutil.rmtree(d, ignore_errors=True)
        try:
            os.unlink(d + ".log")
        except OSError:
            pass


if __name__ == "__main__":
    h.run(globals())
