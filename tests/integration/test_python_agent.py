"""test_python_agent.py - the Flask walkthrough end to end with the ember Python agent.

A real `ember server`, examples/flask-calc/app.py under Debian's /usr/bin/python3 with
PYTHONPATH=build/python, load from loadgen.py, then the HTTP API: calc3 tops process_cpu by
Self, calc1/2/3 shares match the app's 10/20/70 CPU split within 3 points, the endpoint label
exists, wall sees the /sleep endpoint that process_cpu does not, allocation profiles put
build_records first. A second test keeps the server down for a while.

The split is the truth by construction: each calc step loops on its own thread CPU clock
(time.thread_time) until its share of CALC_MS is spent, so it holds however loaded the machine
is. The test samples at 250 Hz and drives load until the calc steps hold at least MIN_SAMPLES
samples (a slow, shared CI machine gets more time, up to MAX_LOAD_S), so the +-3 points are
several standard deviations of the sampling noise, and a sampler bias of 2 points still fails.
With perf_event_open refused (the app's log says so), or EMBER_CPU_SAMPLER=timer, the agent uses to thread CPU timers,
which the kernel checks only on its tick: that known bias is allowed +-5 points, and said.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

PY = "/usr/bin/python3"
APP = os.path.join(h.ROOT, "examples", "flask-calc", "app.py")
LOADGEN = os.path.join(h.ROOT, "examples", "flask-calc", "loadgen.py")
PYPATH = os.path.join(h.ROOT, "build", "python")
CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
WALL = "wall:wall:nanoseconds:cpu:nanoseconds"
RATE = 250
MIN_SAMPLES = 2000
MAX_LOAD_S = 60
FALLBACK_MSG = "CPU sampling uses thread-cpu-timer"


class App:
    def __init__(self, server_url, name, extra_env=None):
        self.port = h.free_port()
        env = dict(os.environ, PYTHONPATH=PYPATH, PORT=str(self.port), EMBER_SERVER_ADDRESS=server_url,
                   EMBER_APPLICATION_NAME=name, EMBER_UPLOAD_INTERVAL="2", EMBER_SAMPLE_RATE=str(RATE), CALC_MS="50",
                   **(extra_env or {}))
        self.log_path = f"/tmp/ember-flask-{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([PY, APP], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            h.check(self.proc.poll() is None, f"app exited: {self.read_log()}")
            try:
                if h.get(self.url + "/health", raw=True)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("app not up: " + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def load(self, seconds, paths, workers=3):
        out = subprocess.run([sys.executable, LOADGEN, "--url", self.url, "--duration", str(seconds),
                              "--workers", str(workers), "--paths", paths],
                             capture_output=True, text=True, timeout=seconds + 60)
        h.check(out.returncode == 0, f"loadgen failed: {out.stderr}")
        return out.stdout

    def stop(self):
        # SIGINT: KeyboardInterrupt, so atexit runs ember.shutdown() and the last interval is sent
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def top(server, ptype, **labels):
    return h.api(server, "top", h.sel(ptype, **labels), limit=200)


def self_of(top_json, name):
    return sum(f["self"] for f in top_json["functions"] if f["name"] == name)


def test_flask_walkthrough():
    h.check(os.path.exists(os.path.join(PYPATH, "ember", "__init__.py")), "build/python/ember missing: run make")
    with h.Server() as srv:
        app = App(srv.url, "flask-calc")
        alloc_reqs = 0
        try:
            loaded = 0
            while True:
                secs = 20 if not loaded else 10
                stats = app.load(secs, "/calc,/calc,/sleep,/alloc")
                loaded += secs
                h.check(" 0 errors" in stats.splitlines()[-1], f"requests failed: {stats}")
                alloc_reqs += int([ln for ln in stats.splitlines() if ln.startswith("/alloc:")][0].split()[1])
                time.sleep(2.5)  # one upload interval
                so_far = top(srv, CPU, service_name="flask-calc")
                n = sum(self_of(so_far, "app." + c) for c in ("calc1", "calc2", "calc3")) * RATE / 1e9
                if n >= MIN_SAMPLES or loaded >= MAX_LOAD_S:
                    break
                print(f"   {n:.0f} calc samples after {loaded} s of load: loading more", flush=True)
        finally:
            rc = app.stop()
        h.check(rc in (0, 1, -signal.SIGINT, 130), f"app exit status {rc}: {app.read_log()}")
        h.check("Traceback" not in app.read_log(), "app raised: " + app.read_log())

        cpu = top(srv, CPU, service_name="flask-calc")
        h.check(cpu["functions"], f"no process_cpu data: {cpu}")
        first = max(cpu["functions"], key=lambda f: f["self"])
        h.check(first["name"] == "app.calc3", f"top by self is {first['name']}, not app.calc3: {cpu['functions'][:5]}")
        calc = {n: self_of(cpu, "app." + n) for n in ("calc1", "calc2", "calc3")}
        total = sum(calc.values())
        samples = total * RATE / 1e9
        h.check(samples >= MIN_SAMPLES / 2, f"only {samples:.0f} calc samples after {loaded} s of load")
        shares = {n: 100.0 * v / total for n, v in calc.items()}
        with open(app.log_path, "rb") as f:
            fallback = FALLBACK_MSG.encode() in f.read()
        tol = 5 if fallback else 3
        print(f"   cpu shares {', '.join(f'{n} {v:.1f}%' for n, v in shares.items())}; "
              f"{samples:.0f} samples, calc CPU {total / 1e9:.2f} s in {loaded} s of load; sampler "
              f"{'thread CPU timers (fallback, +-5)' if fallback else 'perf task-clock'}",
              flush=True)
        for n, want in (("calc1", 10), ("calc2", 20), ("calc3", 70)):
            h.check(abs(shares[n] - want) <= tol, f"{n} share {shares[n]:.1f}% (want {want} +- {tol}): {shares}")

        values = h.api(srv, "label/endpoint/values")
        vals = values.get("values", values) if isinstance(values, dict) else values
        for ep in ("/calc", "/sleep", "/alloc"):
            h.check(ep in vals, f"endpoint {ep} missing from {values}")
        calc_only = top(srv, CPU, service_name="flask-calc", endpoint="/calc")
        h.check(self_of(calc_only, "app.calc3") == calc["calc3"], "calc3 samples outside endpoint=/calc")

        wall = top(srv, WALL, service_name="flask-calc", endpoint="/sleep")
        waited = self_of(wall, "app.wait_for_backend")
        h.check(waited > 0.5 * wall["total"], f"wall /sleep: wait_for_backend {waited} of {wall['total']}")
        cpu_sleep = top(srv, CPU, service_name="flask-calc", endpoint="/sleep")
        cpu_wait = self_of(cpu_sleep, "app.wait_for_backend")
        # Sleeping costs ~70 us of CPU per 50 ms sleep (the syscall path, counted: exclude_kernel=0),
        # and a period that ends in the kernel is delivered on return into wait_for_backend; on a
        # loaded CI machine that reached 2.1% of the wall time. Counting the sleep itself would be
        # ~100%, so 5% still tells the two apart.
        h.check(cpu_wait < 0.05 * waited, f"process_cpu counts sleeping: {cpu_wait} vs wall {waited}")

        # calc* allocate many small floats (the CPU clock reads), so objects are checked per endpoint
        for t, ep in (("memory:alloc_space:bytes:space:bytes", None), ("memory:inuse_space:bytes:space:bytes", None),
                      ("memory:alloc_objects:count:space:bytes", "/alloc"),
                      ("memory:inuse_objects:count:space:bytes", "/alloc")):
            mem = top(srv, t, service_name="flask-calc", **({"endpoint": ep} if ep else {}))
            h.check(mem["functions"], f"no {t} data")
            first = max(mem["functions"], key=lambda f: f["self"])
            h.check(first["name"] == "app.build_records", f"{t}: top is {first['name']}: {mem['functions'][:4]}")
        # /alloc allocates ~2000 x 1 KiB per request: the unbiased estimate should be close
        alloc = top(srv, "memory:alloc_space:bytes:space:bytes", service_name="flask-calc", endpoint="/alloc")
        est = self_of(alloc, "app.build_records")
        want = alloc_reqs * 2000 * (33 + 1024 + 4)  # one bytes object of 1024..1031 bytes per record
        h.check(0.75 * want < est < 1.3 * want, f"alloc_space estimate {est} vs about {want}")


def test_server_down():
    srv = h.Server()  # port chosen, not started yet
    app = App(srv.url, "flask-down")
    try:
        # /alloc is left out: its 2 MB results make the app's own RSS swing by more than the
        # agent's bound (8 MiB of queued uploads); after a warm-up, memory must stay flat
        stats = app.load(5, "/calc,/sleep", workers=2)
        rss0 = app.rss_kb()
        stats = app.load(10, "/calc,/sleep", workers=2)
        h.check(" 0 errors" in stats.splitlines()[-1], f"requests failed while the server was down: {stats}")
        rss1 = app.rss_kb()
        h.check(rss1 - rss0 < 10 * 1024, f"RSS grew {rss1 - rss0} KiB while the server was down")
        print(f"   RSS {rss0} -> {rss1} KiB over 10 s with the server down", flush=True)
        t_down_end = time.time()
        srv.start()
        try:
            app.load(8, "/calc", workers=2)
            deadline = time.time() + 20
            got = None
            while time.time() < deadline:
                got = top(srv, CPU, service_name="flask-down")
                if got["functions"] and self_of(got, "app.calc3") > 0:
                    break
                time.sleep(1)
            h.check(got and self_of(got, "app.calc3") > 0, f"no profile after the server came back: {got}")
            tl = h.api(srv, "timeline", h.sel(CPU, service_name="flask-down"),
                       **{"from": str(int(t_down_end) - 30), "until": str(int(time.time()) + 5), "step": "1"})
            before = sum(v or 0 for i, v in enumerate(tl["values"]) if tl["start"] + i * tl["step"] < t_down_end - 1)
            h.check(before > 0, f"nothing buffered from the downtime was delivered: {tl}")
        finally:
            app.stop()
            srv.cleanup()
    finally:
        if app.proc.poll() is None:
            app.stop()


if __name__ == "__main__":
    h.run(globals())
