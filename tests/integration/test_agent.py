"""test_agent.py - `ember agent` (root only): known CPU split through eBPF and perf_event
sampling, DWARF unwinding of code without frame pointers, kernel frames, off-CPU time."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (CPU_TYPE, EMBER, ROOT, Server, api, check, run, sel,  # noqa: E402
                     top_map)

WORKLOAD = os.path.join(ROOT, "tests", "agent", "workload.c")
TMP = tempfile.mkdtemp(prefix="ember-agent-")
_server = None
_bins = {}


def server():
    global _server
    if _server is None:
        _server = Server()
        _server.start()
    return _server


def workload(flags, name):
    if name not in _bins:
        exe = os.path.join(TMP, name)
        subprocess.run(["gcc", "-O2", "-g", *flags, "-o", exe, WORKLOAD], check=True)
        _bins[name] = exe
    return _bins[name]


def can_bpf():
    return os.geteuid() == 0


def profile_run(exe, args, agent_args, env=None, cpu_secs="8", agent_env=None, argv=None):
    """Starts the workload, profiles it with the agent until it exits; returns its pid."""
    srv = server()
    wl = subprocess.Popen(argv or [exe, cpu_secs, *args], stdout=subprocess.DEVNULL, env=env)
    agent = subprocess.run([EMBER, "agent", "--server", srv.url, "--pid", str(wl.pid),
                            "--upload-interval", "2s", "--duration", "120s", *agent_args],
                           capture_output=True, text=True, timeout=180, env=agent_env)
    wl.wait()
    check(agent.returncode == 0, f"agent failed ({agent.returncode}): {agent.stderr[-2000:]}")
    return wl.pid, agent.stderr


def totals(pid, ptype=CPU_TYPE):
    top = api(server(), "top", query=sel(ptype, pid=str(pid)), limit=0)
    check(top["total"] > 0, f"no samples for pid {pid}")
    tot = {f["name"]: 100.0 * f["total"] / top["total"] for f in top["functions"]}
    return top, tot


def check_split(pid, label):
    top, tot = totals(pid)
    for fn, want in (("func_a", 60), ("func_b", 30), ("func_c", 10)):
        got = tot.get(fn, 0.0)
        check(abs(got - want) <= 2.0, f"{label}: {fn} has {got:.1f}% of CPU, want {want}±2 "
                                      f"(totals {sorted(tot.items(), key=lambda x: -x[1])[:8]})")
    check(tot.get("main", 0) >= 99.0, f"{label}: main on {tot.get('main', 0):.1f}% of stacks")
    return top


def test_bpf_frame_pointers_split():
    if not can_bpf():
        print("skip: not root")
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    pid, log = profile_run(exe, ["spin"], ["--backend", "bpf", "--sample-rate", "499"])
    check("eBPF sampling" in log, log[-1000:])
    top = check_split(pid, "bpf")
    series = api(server(), "series", query=sel(CPU_TYPE, pid=str(pid)))["series"]
    check(len(series) == 1, f"series for pid {pid}: {series}")
    lab = series[0]["labels"]
    check(lab.get("service_name") == "wl_fp", f"labels {lab}")
    check(lab.get("host_name"), f"labels {lab}")


def test_service_name_from_environment():
    if not can_bpf():
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    env = dict(os.environ, OTEL_SERVICE_NAME="otel-checkout")
    pid, _ = profile_run(exe, ["spin"], ["--labels", "env=test"], env=env, cpu_secs="1")
    series = api(server(), "series", query=sel(CPU_TYPE, pid=str(pid)))["series"]
    check(series and series[0]["labels"].get("service_name") == "otel-checkout", f"{series}")
    check(series[0]["labels"].get("env") == "test", f"{series}")


def test_config_relabel_and_drop():
    if not can_bpf():
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    conf = os.path.join(TMP, "agent.conf")
    with open(conf, "w") as f:
        f.write("# rename the workload by its path\nmatch exe=/(wl)_(fp)$ service_name=$1-renamed-$2\n")
    pid, log = profile_run(exe, ["spin"], ["--config", conf], cpu_secs="1")
    series = api(server(), "series", query=sel(CPU_TYPE, pid=str(pid)))["series"]
    check(series and series[0]["labels"].get("service_name") == "wl-renamed-fp", f"{series}")
    with open(conf, "w") as f:
        f.write("match comm=^wl_fp$ drop\n")
    pid, log = profile_run(exe, ["spin"], ["--config", conf], cpu_secs="1")
    series = api(server(), "series", query=sel(CPU_TYPE, pid=str(pid)))["series"]
    check(not series, f"dropped process was stored: {series}")
    check("relabel_dropped=0 " not in log.splitlines()[-1], f"nothing counted as dropped: {log[-600:]}")
    bad = subprocess.run([EMBER, "agent", "--config", conf + ".missing"], capture_output=True, text=True)
    check(bad.returncode != 0 and "agent.conf.missing" in bad.stderr, bad.stderr)


def test_perf_fallback_split():
    if not can_bpf():
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    pid, log = profile_run(exe, ["spin"], ["--backend", "perf", "--sample-rate", "499"])
    check("perf_event call-chain sampling" in log, log[-1000:])
    check_split(pid, "perf")


def test_kernel_frames_present():
    if not can_bpf():
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    pid, _ = profile_run(exe, ["spin"], ["--sample-rate", "499"], cpu_secs="3")
    # the workload reads its CPU clock: the vDSO or a syscall; timer interrupts land in the kernel
    top, tot = totals(pid)
    files = {f.get("file") for f in top["functions"]}
    check(any(f and "kernel" in f for f in files) or any(n.startswith(("asm_", "__x64_", "irq"))
                                                         for n in tot), f"no kernel frames: {list(tot)[:30]}")


def test_dwarf_no_frame_pointers_reach_main():
    if not can_bpf():
        return
    exe = workload(["-fomit-frame-pointer"], "wl_nofp")
    # 499 Hz: ~2500 samples, so sampling noise stays well inside the ±5 points
    pid, log = profile_run(exe, ["qsort"], ["--backend", "bpf", "--dwarf", "--sample-rate", "499"],
                           cpu_secs="5")
    top, tot = totals(pid)
    check(tot.get("main", 0) >= 99.0, f"dwarf: only {tot.get('main', 0):.2f}% of samples reach main: "
                                      f"{sorted(tot.items(), key=lambda x: -x[1])[:10]}")
    check(tot.get("qsort_r", 0) + tot.get("qsort", 0) > 50, f"libc's qsort missing: {list(tot)[:20]}")
    for fn, want in (("func_a", 60), ("func_b", 30), ("func_c", 10)):
        check(abs(tot.get(fn, 0) - want) <= 5, f"dwarf: {fn} {tot.get(fn, 0):.1f}% (want {want}): {sorted(tot.items(), key=lambda x: -x[1])[:14]}")


def test_frame_pointers_alone_lose_libc_callers():
    """The control for the DWARF test: without --dwarf the same binary's stacks break in libc."""
    if not can_bpf():
        return
    exe = workload(["-fomit-frame-pointer"], "wl_nofp")
    pid, _ = profile_run(exe, ["qsort"], ["--backend", "bpf"], cpu_secs="2")
    top, tot = totals(pid)
    check(tot.get("main", 0) < 95.0, f"frame pointers reached main on {tot.get('main', 0):.1f}%")


def test_offcpu_in_wall_not_cpu():
    if not can_bpf():
        return
    exe = workload(["-fno-omit-frame-pointer"], "wl_fp")
    pid, log = profile_run(exe, ["sleep"], ["--backend", "bpf", "--off-cpu"], cpu_secs="4")
    types = api(server(), "profile-types", **{"from": "0", "until": str(int(time.time()) + 600)})
    wall = [t["id"] for t in types.get("types", []) if t["id"].startswith("wall:")]
    check(wall, f"no wall profile type: {types}")
    _, wtot = totals(pid, wall[0])
    _, ctot = totals(pid, CPU_TYPE)
    # 10 ms on CPU, 30 ms asleep: nanosleep ~75% of wall time, ~0% of CPU time (by frame
    # pointers the libc leaf hides func_sleep itself, so look for the kernel's sleep frames)
    sleep_fn = "do_nanosleep"
    check(60 <= wtot.get(sleep_fn, 0) <= 90, f"wall: {sleep_fn} {wtot.get(sleep_fn, 0):.1f}%: {list(wtot)[:20]}")
    check(ctot.get(sleep_fn, 0) < 3, f"cpu: {sleep_fn} {ctot.get(sleep_fn, 0):.1f}%")
    check(not any(n.startswith("bpf_trace_run") for n in wtot), f"BPF frames in wall stacks: {list(wtot)}")
    check(ctot.get("func_a", 0) > 90, f"cpu: func_a {ctot.get('func_a', 0):.1f}%")


def test_python3_interpreter_frames_under_main():
    """Debian's own /usr/bin/python3 (no frame pointers): the eval loop under main, complete."""
    if not can_bpf():
        return
    script = os.path.join(TMP, "busy.py")
    with open(script, "w") as f:
        f.write("import time\n"
                "def busy(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n"
                "t = time.time()\nwhile time.time() - t < 3:\n    busy(100000)\n")
    pid, _ = profile_run(None, [], ["--backend", "bpf", "--dwarf"],
                         argv=["/usr/bin/python3", script])
    top, tot = totals(pid)
    check(tot.get("_PyEval_EvalFrameDefault", 0) > 80,
          f"python3: _PyEval_EvalFrameDefault on {tot.get('_PyEval_EvalFrameDefault', 0):.1f}%: "
          f"{sorted(tot.items(), key=lambda x: -x[1])[:10]}")
    # Debian's python3 main is "jmp Py_BytesMain" (a tail call, no frame of its own): complete
    # stacks run _start -> __libc_start_main -> ... -> Py_BytesMain -> ... -> the eval loop
    for fn in ("_start", "Py_BytesMain"):
        check(tot.get(fn, 0) >= 99.0, f"python3: only {tot.get(fn, 0):.2f}% of stacks reach {fn}: "
                                      f"{sorted(tot.items(), key=lambda x: -x[1])[:12]}")


def stripped_workload(name, debuglink):
    """workload.c built with a build id, its debug info split off and the binary stripped of
    every symbol table; returns (exe, debug file, build id hex)."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "wl")
    subprocess.run(["gcc", "-O2", "-g", "-fno-omit-frame-pointer", "-Wl,--build-id=sha1",
                    "-o", exe, WORKLOAD], check=True)
    dbg = exe + ".debug"
    subprocess.run(["objcopy", "--only-keep-debug", exe, dbg], check=True)
    strip = ["objcopy", "--strip-all"] + ([f"--add-gnu-debuglink={dbg}"] if debuglink else [])
    subprocess.run(strip + [exe], check=True)
    out = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True, check=True).stdout
    bid = [ln.split()[-1] for ln in out.splitlines() if "Build ID" in ln][0]
    syms = subprocess.run(["readelf", "-s", exe], capture_output=True, text=True).stdout
    check("func_a" not in syms, "strip left func_a in the binary")
    return exe, dbg, bid


def check_split_names(pid, label):
    top, tot = totals(pid)
    check(tot.get("func_a", 0) > 40 and tot.get("func_b", 0) > 15,
          f"{label}: {sorted(tot.items(), key=lambda x: -x[1])[:8]}")
    files = {f["name"]: f.get("file") for f in top["functions"]}
    check((files.get("func_a") or "").endswith("workload.c"), f"{label}: file of func_a {files.get('func_a')}")


def test_separate_debuginfo_debuglink():
    if not can_bpf():
        return
    exe, dbg, _ = stripped_workload("dl", True)
    os.makedirs(os.path.join(os.path.dirname(exe), ".debug"))
    os.rename(dbg, os.path.join(os.path.dirname(exe), ".debug", "wl.debug"))
    pid, _ = profile_run(exe, ["spin"], ["--backend", "bpf"], cpu_secs="2")
    check_split_names(pid, "debuglink (<dir>/.debug/)")


def test_separate_debuginfo_build_id():
    if not can_bpf():
        return
    exe, dbg, bid = stripped_workload("bid", False)
    root = os.path.join(TMP, "debugroot", "usr", "lib", "debug")
    os.makedirs(os.path.join(root, ".build-id", bid[:2]))
    os.rename(dbg, os.path.join(root, ".build-id", bid[:2], bid[2:] + ".debug"))
    # control: without the lookup root the stripped binary has no names
    pid, _ = profile_run(exe, ["spin"], ["--backend", "bpf"], cpu_secs="1")
    _, tot = totals(pid)
    check("func_a" not in tot, f"func_a named without debug info: {list(tot)[:10]}")
    # ... but main is, from _start's "lea main(%rip),%rdi" and main's .eh_frame extent
    # (a 1 s run: a few samples fall in the loader and libc start-up, before main)
    check(tot.get("main", 0) >= 95.0, f"main of a stripped binary: {sorted(tot.items())[:12]}")
    env = dict(os.environ, EMBER_DEBUGINFO_PATH=":.debug:" + root)
    pid, _ = profile_run(exe, ["spin"], ["--backend", "bpf"], cpu_secs="2", agent_env=env)
    check_split_names(pid, "build-id (.build-id/xx/yyyy.debug)")


CXX_SRC = r"""
#include <chrono>
namespace shop {
struct Cart {
    __attribute__((noinline)) static unsigned long total(int n);
};
unsigned long Cart::total(int n) {
    unsigned long x = 1;
    for (int i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}
}
volatile unsigned long sink;
int main() {
    auto t = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t < std::chrono::seconds(2)) sink += shop::Cart::total(1000000);
}
"""


def test_cxx_names_demangled():
    if not can_bpf():
        return
    src, exe = os.path.join(TMP, "cart.cc"), os.path.join(TMP, "cart")
    with open(src, "w") as f:
        f.write(CXX_SRC)
    subprocess.run(["g++", "-O2", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    pid, _ = profile_run(None, [], ["--backend", "bpf"], argv=[exe])
    _, tot = totals(pid)
    check(tot.get("shop::Cart::total(int)", 0) > 80, f"C++ names: {sorted(tot.items(), key=lambda x: -x[1])[:8]}")


def test_scrape_go_pprof():
    """Pull mode: a stdlib-only Go program's /debug/pprof/ endpoints, its burner on top."""
    go = shutil.which("go")
    check(go is not None, "go not installed (apt-get install golang-go)")
    exe = os.path.join(TMP, "goburn")
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOFLAGS="",
               GOCACHE=os.path.join(TMP, "gocache"), GOPATH=os.path.join(TMP, "gopath"))
    subprocess.run([go, "build", "-o", exe, os.path.join(ROOT, "tests", "agent", "goburn.go")],
                   check=True, env=env, timeout=300)
    svc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
    try:
        port = int(svc.stdout.readline())
        agent = subprocess.run([EMBER, "agent", "--server", server().url, "--scrape",
                                f"http://127.0.0.1:{port}/debug/pprof/", "--service", "goburn",
                                "--labels", "env=scrape", "--upload-interval", "3s",
                                "--duration", "3s"], capture_output=True, text=True, timeout=60)
        check(agent.returncode == 0, f"agent failed ({agent.returncode}): {agent.stderr[-2000:]}")
        check("errors=0" in agent.stderr, f"scrape errors: {agent.stderr[-2000:]}")
    finally:
        svc.kill()
        svc.wait()
    q = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="goburn",env="scrape"}'
    top = api(server(), "top", query=q, limit=5)
    fns = [f["name"] for f in top["functions"]]
    check(fns and fns[0] == "main.burnEmberCPU", f"top of the scraped CPU profile: {top}")
    for ptype in ("memory:inuse_space:bytes:space:bytes", "goroutines:goroutine:count:goroutine:count"):
        t = api(server(), "top", query=ptype + '{service_name="goburn"}', limit=5)
        check(t["total"] > 0, f"no {ptype} from the scrape: {t}")


def teardown():
    if _server is not None:
        _server.stop()
        _server.cleanup()


if __name__ == "__main__":
    run(globals())
