"""test_cli.py - the `ember` command line against a real server: --help, --version, `ember push`
of pprof, folded and perf script files, `ember query top` and `ember diff`."""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())
TMP = tempfile.mkdtemp(prefix="ember-cli-")


def srv():
    return h.shared_server()


def teardown():
    import shutil
    shutil.rmtree(TMP, ignore_errors=True)
    h.stop_shared()


def ember(*args, ok=True, timeout=120):
    r = h.run_cmd([h.EMBER] + [str(a) for a in args], timeout=timeout)
    if ok:
        check(r.returncode == 0, f"ember {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def write(name, data):
    p = os.path.join(TMP, name)
    with open(p, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return p


def test_help_and_version():
    r = ember("--help")
    for cmd in ("server", "push", "query", "diff"):
        check(cmd in r.stdout, f"`ember --help` does not mention {cmd}:\n{r.stdout}")
    for cmd in ("server", "push", "query", "diff"):
        r = ember(cmd, "--help")
        check(len(r.stdout) > 40 and "--" in r.stdout, f"`ember {cmd} --help` says too little:\n{r.stdout}")
    r = ember("push", "--help")
    for opt in ("--service", "--labels", "--server"):
        check(opt in r.stdout, f"`ember push --help` lacks {opt}")
    r = ember("--version")
    check(re.search(r"\d+\.\d+\.\d+", r.stdout), f"--version: {r.stdout!r}")
    r = ember("no-such-command", ok=False)
    check(r.returncode != 0 and r.stderr.strip(), "an unknown command must fail with a message")


def test_push_pprof_folded_perf():
    with open(os.path.join(h.go_workload(), "cpu.pb.gz"), "rb") as f:
        cpu = write("cpu.pb.gz", h.pprof_with_time(f.read(), T0 * 10**9))
    ember("push", "--server", srv().url, "--service", "cli-go", "--labels", "env=test,team=a", cpu)
    t = h.api(srv(), "top", h.sel(h.CPU_TYPE, service_name="cli-go", env="test", team="a"))
    check(t["functions"] and t["functions"][0]["name"] == "main.burnA", f"pprof pushed by the CLI: {t['functions'][:3]}")
    fold = write("app.folded", "main;work;hot 70\nmain;work;warm 20\nmain;cold 10\n")
    ember("push", "--server", srv().url, "--service", "cli-folded", fold)
    types = [x["id"] for x in h.api(srv(), "profile-types", '{service_name="cli-folded"}')["types"]]
    check(types, "folded push stored nothing")
    t = h.api(srv(), "top", h.sel(types[0], service_name="cli-folded"))
    check(h.shares(t).get("hot") == 70.0, f"folded shares {h.shares(t)}")
    perf_dir = os.path.join(h.DATA, "perf")
    perf_files = [os.path.join(perf_dir, f) for f in sorted(os.listdir(perf_dir))] if os.path.isdir(perf_dir) else []
    perf_files = [p for p in perf_files if os.path.isfile(p) and not p.endswith((".md", ".sh", ".c"))]
    check(perf_files, "no perf script files under tests/data/perf")
    ember("push", "--server", srv().url, "--service", "cli-perf", perf_files[0])
    types = [x["id"] for x in h.api(srv(), "profile-types", '{service_name="cli-perf"}')["types"]]
    check(types, f"perf script push of {perf_files[0]} stored nothing")
    # a missing file fails clearly
    r = ember("push", "--server", srv().url, "--service", "x", os.path.join(TMP, "nope.pb.gz"), ok=False)
    check(r.returncode != 0 and "nope.pb.gz" in r.stderr, f"missing file: {r.returncode} {r.stderr!r}")


def test_query_top_table():
    fold = write("top.folded", "main;work;cli_hot 80\nmain;cli_cold 20\n")
    ember("push", "--server", srv().url, "--service", "cli-top", fold)
    q = h.sel(h.CPU_TYPE, service_name="cli-top")
    types = [x["id"] for x in h.api(srv(), "profile-types", '{service_name="cli-top"}')["types"]]
    check(types, "nothing stored")
    q = h.sel(types[0], service_name="cli-top")
    r = ember("query", "top", "--server", srv().url, "--from", T0 - 3600, "--until", T0 + 600, "--query", q)
    lines = [ln for ln in r.stdout.splitlines() if "cli_hot" in ln or "cli_cold" in ln]
    check(len(lines) == 2 and "cli_hot" in lines[0], f"`ember query top` output:\n{r.stdout}")
    check(re.search(r"80(\.0+)?\s*%", lines[0]), f"share of cli_hot not shown as 80%:\n{r.stdout}")


def test_diff_prints_biggest_change():
    before = write("before.folded", "main;steady 50\nmain;regress 10\nmain;shrink 40\n")
    after = write("after.folded", "main;steady 50\nmain;regress 40\nmain;shrink 10\n")
    # two pushes at different times through the HTTP API (from=), then compare ranges with the CLI
    for path, t in ((before, T0 - 1200), (after, T0 - 300)):
        with open(path) as f:
            st, body = srv().post("/ingest", f.read(), {"name": "cli-diff.cpu", "from": str(t), "until": str(t + 10)})
        check(st == 200, f"{st} {body}")
    q = h.sel(h.CPU_TYPE, service_name="cli-diff")
    r = ember("diff", "--server", srv().url, "--query", q,
              "--left-from", T0 - 1500, "--left-until", T0 - 900,
              "--right-from", T0 - 600, "--right-until", T0)
    fn_lines = [ln for ln in r.stdout.splitlines() if re.search(r"\b(regress|shrink|steady)\b", ln)]
    check(fn_lines, f"`ember diff` printed no functions:\n{r.stdout}")
    check(re.search(r"\bregress\b|\bshrink\b", fn_lines[0]), f"biggest change not first:\n{r.stdout}")
    reg = [ln for ln in fn_lines if re.search(r"\bregress\b", ln)][0]
    check(re.search(r"\+\s*30(\.0+)?", reg), f"regress should show +30 points:\n{r.stdout}")


if __name__ == "__main__":
    h.run(globals())
