"""bench.py - Ember's benchmarks, each figure printed beside an anchor measured in the same run.

  python3 bench/bench.py OUTDIR        (bench/run.sh builds build/ember and the C drivers first)

1. Ingest: real Go pprof files (bench/goapp, runtime/pprof at 500 Hz, plus tests/data/go) posted
   as gzip to POST /ingest?format=pprof by bench/ingest.c (libcurl, keep-alive, 8 in flight),
   the server pinned to one core -> profiles/s, samples/s; anchor: bench/inflate.c, zlib
   inflate-only over the same bytes on the same core.
2. Query: 8,640 ten-second CPU profiles of one service (24 h), made from the real goapp
   profiles with shifted time_nanos and varied values, pushed with from= timestamps ->
   latency of /api/v1/top and /api/v1/flamegraph over the whole day; anchor:
   `go tool pprof -top` over the same 8,640 files (it merges them).
"""
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as h  # noqa: E402

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench"))
INGEST_SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "10"))
NPROF = int(os.environ.get("BENCH_PROFILES", "8640"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
PARALLEL = os.environ.get("BENCH_PARALLEL", "8")
EMBER = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
results = {}


def log(msg):
    print(msg, flush=True)


def taskset(cpu):
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def go_profiles():
    """Real Go profiles from bench/goapp (built with golang-go, stdlib only), cached in OUT."""
    d = os.path.join(OUT, "goprof")
    if not os.path.exists(os.path.join(d, "heap.pb.gz")):
        os.makedirs(d, exist_ok=True)
        exe = os.path.join(OUT, "goapp")
        subprocess.run(["go", "build", "-o", exe, os.path.join(ROOT, "bench", "goapp", "main.go")],
                       check=True, env=h.go_env())
        log("== generating Go profiles (goapp: 4 x 1 s CPU at 500 Hz + heap)")
        subprocess.run([exe, "-out", d, "-n", "4", "-d", "1s"], check=True, env=h.go_env(),
                       stderr=subprocess.DEVNULL)
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pb.gz"))
    gd = os.path.join(ROOT, "tests", "data", "go")
    if os.path.isdir(gd):
        files += sorted(os.path.join(gd, f) for f in os.listdir(gd) if f.endswith(".pb.gz"))
    return files


def start_server(cpu=None):
    s = h.Server(binary=EMBER, wrapper=taskset(cpu) if cpu is not None else [])
    return s.start(timeout=60)


def stop_server(s):
    rc = s.stop()
    shutil.rmtree(s.data_dir, ignore_errors=True)
    try:
        os.unlink(s.log_path)
    except OSError:
        pass
    return rc


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_kv(line):
    parts = line.split()
    return {parts[i]: float(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}


def bench_ingest(files):
    samples = {}
    for f in files:
        with open(f, "rb") as fh:
            p = h.Pprof(fh.read())
        samples[f] = (len(p.samples), len(p.samples) * max(1, len(p.sample_types)))
    log(f"== ingest: {len(files)} real Go pprof files, {sum(os.path.getsize(f) for f in files)} bytes gzip")
    s = start_server(cpu=0)
    try:
        t_from = int(time.time()) - 86400
        cpu0 = cpu_seconds(s.proc.pid)
        r = subprocess.run(taskset(1) + [os.path.join(OUT, "ingest"), s.url, str(INGEST_SECONDS), PARALLEL,
                                         str(t_from), "1", "bench-ingest"] + files,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"ingest driver failed: {r.stdout}\n{r.stderr}\n{s.read_log()[-2000:]}")
        server_cpu = cpu_seconds(s.proc.pid) - cpu0
        lines = r.stdout.splitlines()
        res = parse_kv(lines[0])
        counts = {int(ln.split()[1]): int(ln.split()[2]) for ln in lines[1:] if ln.startswith("file ")}
        nsamples = sum(counts[i] * samples[f][0] for i, f in enumerate(files))
        nvalues = sum(counts[i] * samples[f][1] for i, f in enumerate(files))
    finally:
        rc = stop_server(s)
    if rc not in (0, -15):
        log(f"!! server exit status {rc}")
    a = subprocess.run(taskset(0) + [os.path.join(OUT, "inflate"), str(min(INGEST_SECONDS, 5))] + files,
                       capture_output=True, text=True, check=True)
    anc = parse_kv(a.stdout)
    pps = res["ok"] / res["seconds"]
    sps = nsamples / res["seconds"]
    vps = nvalues / res["seconds"]
    mbs = res["bytes"] / res["seconds"] / 1e6
    a_pps = anc["files"] / anc["seconds"]
    a_mbs = anc["in_bytes"] / anc["seconds"] / 1e6
    busy = server_cpu / res["seconds"]
    per_cpu_s = res["ok"] / server_cpu if server_cpu > 0 else float("nan")
    results["ingest"] = {"server_cpu_busy": busy, "profiles_per_cpu_s": per_cpu_s, "profiles_per_s": pps, "samples_per_s": sps, "values_per_s": vps, "mb_per_s": mbs,
                         "inflate_profiles_per_s": a_pps, "inflate_mb_per_s": a_mbs,
                         "ratio": pps / a_pps, "requests": res["requests"], "seconds": res["seconds"]}
    log(f"   ember ingest (1 server core): {pps:10.0f} profiles/s  {sps:12.0f} samples/s  {mbs:7.1f} MB/s gzip")
    log(f"   ({vps:.0f} sample values/s: one per pprof sample and sample type, as stored)")
    log(f"   anchor zlib inflate only:     {a_pps:10.0f} profiles/s  {'':12s}            {a_mbs:7.1f} MB/s gzip")
    log(f"   server CPU busy {busy * 100:.0f}% of its core: {per_cpu_s:.0f} profiles per server CPU-second"
        f" (ratio to inflate {per_cpu_s / a_pps:.3f})")
    log(f"   ratio ember/inflate: {pps / a_pps:.3f} ({a_pps / pps:.1f}x slower than inflating alone)")


def split_profile(raw):
    """Top-level fields of a plain pprof: (bytes of every non-sample, non-time field, samples as
    (location ids, values, raw label fields))."""
    keep, samples = b"", []
    for f, wt, v in h._pb_fields(raw):
        if f == 2:
            ids, vals, labels = [], [], b""
            for ff, wt2, vv in h._pb_fields(v):
                if ff == 1:
                    ids += h._pb_packed(wt2, vv)
                elif ff == 2:
                    vals += [h._s64(x) for x in h._pb_packed(wt2, vv)]
                elif ff == 3:
                    labels += h.pb_bytes(3, vv)
            samples.append((ids, vals, labels))
        elif f in (9, 10):
            continue
        elif wt == 0:
            keep += h.pb_uint(f, v)
        elif wt == 2:
            keep += h.pb_bytes(f, v)
        else:
            raise ValueError(f"unexpected wire type {wt} for field {f}")
    return keep, samples


def packed(field, xs):
    return h.pb_bytes(field, b"".join(h.pb_varint(x) for x in xs))


def make_query_set(bases, t_start):
    """NPROF ten-second profiles at t_start + 10 s * i, values scaled by a varying factor."""
    d = os.path.join(OUT, f"q{NPROF}")
    stamp = os.path.join(d, "t_start")
    if os.path.exists(stamp):
        with open(stamp) as f:
            old = int(f.read())
        if abs(old - t_start) < 86400 and len(os.listdir(d)) == NPROF + 1:
            return d, old
        shutil.rmtree(d)
    os.makedirs(d, exist_ok=True)
    log(f"== generating {NPROF} ten-second profiles from {len(bases)} real Go CPU profiles")
    parts = []
    for b in bases:
        with open(b, "rb") as f:
            parts.append(split_profile(gzip.decompress(f.read())))
    rnd = random.Random(42)
    for i in range(NPROF):
        keep, samples = parts[i % len(parts)]
        k = 0.5 + rnd.random()  # 0.5 .. 1.5
        body = bytearray(keep)
        for ids, vals, labels in samples:
            nv = [max(1, int(v * k)) if v > 0 else v for v in vals]
            body += h.pb_bytes(2, packed(1, ids) + packed(2, [x & ((1 << 64) - 1) for x in nv]) + labels)
        body += h.pb_uint(9, (t_start + 10 * i) * 10**9) + h.pb_uint(10, 10 * 10**9)
        with open(os.path.join(d, f"p{i:05d}.pb.gz"), "wb") as f:
            f.write(gzip.compress(bytes(body), 6))
    with open(stamp, "w") as f:
        f.write(str(t_start))
    return d, t_start


def timed_get(s, path, params):
    url = s.url + path + "?" + urllib.parse.urlencode(params)
    t = time.perf_counter()
    status, body = h.get(url)
    dt = time.perf_counter() - t
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {str(body)[:500]}")
    return dt, body


def bench_query(cpu_files):
    t_start = (int(time.time()) // 10) * 10 - 10 * NPROF
    d, t_start = make_query_set(cpu_files, t_start)
    files = sorted(f for f in os.listdir(d) if f.endswith(".pb.gz"))
    s = start_server()
    try:
        log(f"== pushing {len(files)} profiles (one service, 10 s apart, {NPROF * 10 / 3600:.0f} h)")
        t = time.perf_counter()
        r = subprocess.run([os.path.join(OUT, "ingest"), s.url, "0", "8", str(t_start), "10", "bench-query"]
                           + [os.path.join(d, f) for f in files], capture_output=True, text=True)
        push_s = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(f"push failed: {r.stdout} {r.stderr}")
        log(f"   pushed in {push_s:.1f} s ({len(files) / push_s:.0f} profiles/s, 8 in flight, no pinning)")
        q = {"query": h.sel(h.CPU_TYPE, service_name="bench-query"),
             "from": str(t_start - 10), "until": str(t_start + 10 * NPROF + 10)}
        lat = {}
        for ep, extra in (("top", {}), ("flamegraph", {"max_nodes": "8192"})):
            times = []
            for _ in range(REPEAT):
                dt, body = timed_get(s, "/api/v1/" + ep, dict(q, **extra))
                times.append(dt)
            lat[ep] = times
            if ep == "top":
                top_body = body
        dt, fg = timed_get(s, "/api/v1/flamegraph", q)
        profiles = fg.get("profiles")
    finally:
        stop_server(s)
    log(f"== anchor: go tool pprof -top over the same {len(files)} files")
    t = time.perf_counter()
    ref = h.pprof_top([os.path.join(d, f) for f in files], "cpu", nodecount=20)
    go_s = time.perf_counter() - t
    ours_first = top_body["functions"][0]["name"] if top_body["functions"] else None
    ref_first = ref["rows"][0]["name"] if ref["rows"] else None
    res = {"profiles": NPROF, "profiles_seen": profiles, "go_tool_pprof_top_s": go_s,
           "same_hottest_function": ours_first == ref_first, "hottest": ours_first}
    log(f"   profiles in the flamegraph: {profiles}; hottest function: ember {ours_first!r}, pprof {ref_first!r}")
    for ep, times in lat.items():
        med = statistics.median(times)
        res[ep + "_median_s"] = med
        res[ep + "_first_s"] = times[0]
        res[ep + "_ratio"] = med / go_s
        log(f"   ember /api/v1/{ep:10s} median {med * 1000:9.1f} ms (first {times[0] * 1000:.1f} ms, {REPEAT} runs)"
            f"   anchor go tool pprof -top {go_s * 1000:9.1f} ms   ratio {med / go_s:.4f} ({go_s / med:.0f}x faster)")
    results["query"] = res


def main():
    os.makedirs(OUT, exist_ok=True)
    if not os.access(EMBER, os.X_OK):
        raise SystemExit(f"{EMBER} is not built (run make)")
    files = go_profiles()
    bench_ingest(files)
    cpu = [f for f in files if os.path.basename(f).startswith("cpu-")]
    bench_query(cpu)
    results["machine"] = {"cpus": os.cpu_count(), "uname": " ".join(os.uname())}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    log(f"results in {os.path.join(OUT, 'results.json')}")


if __name__ == "__main__":
    main()
