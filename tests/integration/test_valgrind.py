"""test_valgrind.py - the normal build (build/ember, not ASan) under valgrind memcheck for a
short ingest + query session: no memory errors, nothing definitely lost, clean exit on SIGTERM."""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())
BIN = os.environ.get("EMBER_VALGRIND_BIN") or os.path.join(h.ROOT, "build", "ember")


def test_server_session_under_valgrind():
    check(shutil.which("valgrind"), "valgrind is not installed (it is in tools/deps.sh; run make deps)")
    check(os.access(BIN, os.X_OK), f"{BIN} is not built")
    vlog = os.path.join(h.tempfile.gettempdir(), f"ember-valgrind-{os.getpid()}.log")
    wrapper = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=99",
               "--track-fds=no", "--log-file=" + vlog]
    s = h.Server(binary=BIN, wrapper=wrapper)
    try:
        s.start(timeout=120)
        st, body = s.post("/ingest", "main;work;fa 6\nmain;work;fb 3\nmain;fc 1\n",
                          {"name": "vg.cpu{env=test}", "from": str(T0)})
        check(st == 200, f"folded ingest: {st} {body}")
        with open(os.path.join(h.go_workload(), "heap2.pb.gz"), "rb") as f:
            heap = h.pprof_with_time(f.read(), T0 * 10**9)
        st, body = h.push(s, [({"__name__": "memory", "service_name": "vg-go"}, [heap, heap])])
        check(st == 200, f"push: {st} {body}")
        st, body = h.push(s, [({"__name__": "memory", "service_name": "vg-json"}, [heap])], use_json=True)
        check(st == 200, f"push json: {st} {body}")
        st, body = s.post("/ingest", b"garbage", {"name": "vg", "format": "pprof"})
        check(400 <= st < 500, f"garbage pprof: {st}")
        q = h.sel(h.CPU_TYPE, service_name="vg")
        t = h.api(s, "top", q)
        check(t["functions"][0]["name"] == "fa", f"top {t}")
        for ep, extra in (("flamegraph", {}), ("sandwich", {"function": "work"}), ("timeline", {}),
                          ("series", {}), ("labels", {}), ("profile-types", {})):
            h.api(s, ep, q, **extra)
        st, data, _ = s.get("/api/v1/export", dict(h.window(), query=q, format="pprof"), raw=True)
        check(st == 200 and data[:2] == b"\x1f\x8b", f"export: {st}")
        st, d = s.get("/api/v1/diff", dict(h.window(), query=q))
        check(st == 200, f"diff {st} {d}")
        st, _ = s.get("/api/v1/top", dict(h.window(), query="{bad"))
        check(st == 400, f"bad selector {st}")
        rc = s.stop(signal.SIGTERM, timeout=120)
        with open(vlog, errors="replace") as f:
            report = f.read()
        errs = re.search(r"ERROR SUMMARY: (\d+) errors", report)
        check(rc == 0, f"exit status {rc} under valgrind (99 = memcheck errors):\n{report[-6000:]}")
        check(errs and errs.group(1) == "0", f"valgrind errors:\n{report[-6000:]}")
        check("definitely lost: 0 bytes" in report or "no leaks are possible" in report,
              f"leaks:\n{report[-6000:]}")
    finally:
        s.stop(signal.SIGKILL)
        shutil.rmtree(s.data_dir, ignore_errors=True)
        for p in (vlog, s.log_path):
            try:
                os.unlink(p)
            except OSError:
                pass


if __name__ == "__main__":
    h.run(globals())
