"""test_ingest_text.py - Pyroscope's text and binary ingest formats (folded, lines, trie, tree),
`perf script` of a real C workload pushed with `ember push`, app-name suffixes, labels in the
name, and tenant isolation, against a real `ember server`."""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())
NS = 10**9 // 100  # one sample at the default sampleRate 100 Hz, in nanoseconds

STACKS = {"main;work;burn_a": 60, "main;work;burn_b": 30, "main;burn_c": 10}
FOLDED = "".join(f"{k} {v}\n" for k, v in STACKS.items())


def srv():
    return h.shared_server()


def teardown():
    h.stop_shared()


def ingest(name, body, headers=None, **params):
    p = {"name": name, "from": str(T0), "until": str(T0 + 10)}
    p.update({k: str(v) for k, v in params.items()})
    status, resp = srv().post("/ingest", body, p, headers)
    check(status == 200, f"/ingest name={name} {params}: {status} {resp}")


def top(service, ptype=h.CPU_TYPE, headers=None, **labels):
    return h.api(srv(), "top", h.sel(ptype, service_name=service, **labels), headers=headers)


def check_values(service, want, ptype=h.CPU_TYPE, scale=NS, headers=None):
    t = top(service, ptype, headers)
    got = h.top_map(t)
    for fn, v in want.items():
        check(got.get(fn) == v * scale, f"{service} {ptype}: {fn} = {got.get(fn)}, want {v * scale}")
    check(t["total"] == sum(want.values()) * scale, f"{service}: total {t['total']}")
    return t


LEAVES = {"burn_a": 60, "burn_b": 30, "burn_c": 10}


def test_folded_default_format():
    ingest("txt-default", FOLDED)  # no format: folded ("groups"); no suffix: cpu at 100 Hz
    check_values("txt-default", LEAVES)
    ids = [t["id"] for t in h.api(srv(), "profile-types", '{service_name="txt-default"}')["types"]]
    check(ids == [h.CPU_TYPE], f"types {ids}")


def test_folded_cpu_suffix_and_sample_rate():
    ingest("txt-rate.cpu", FOLDED, format="folded", sampleRate=250)
    check_values("txt-rate", LEAVES, scale=10**9 // 250)
    # the last space splits: frames may contain spaces
    ingest("txt-spaces.cpu", "main;std::vector<int> push back 7\nmain;other 3\n\n", format="folded")
    check_values("txt-spaces", {"std::vector<int> push back": 7, "other": 3})


def test_lines_format():
    body = "main;work;burn_a\n" * 6 + "main;work;burn_b\n" * 3 + "main;burn_c\n"
    ingest("txt-lines.cpu", body, format="lines")
    check_values("txt-lines", {"burn_a": 6, "burn_b": 3, "burn_c": 1})


def node(name, value, children):
    b = name.encode()
    out = h.pb_varint(len(b)) + b + h.pb_varint(value) + h.pb_varint(len(children))
    for c in children:
        out += c
    return out


def test_trie_format():
    # radix trie over the full "a;b;c" keys; a node's value > 0 ends a stack
    body = node("", 0, [node("main;", 0, [
        node("work;burn_", 0, [node("a", 60, []), node("b", 30, [])]),
        node("burn_c", 10, [])])])
    ingest("txt-trie.cpu", body, {"Content-Type": "binary/octet-stream+trie"}, format="trie")
    check_values("txt-trie", LEAVES)
    # chosen by Content-Type alone
    ingest("txt-trie-ct.cpu", body, {"Content-Type": "binary/octet-stream+trie"})
    check_values("txt-trie-ct", LEAVES)


def test_tree_format():
    # one frame per node, value = self; root name empty
    body = node("", 0, [node("main", 0, [
        node("work", 0, [node("burn_a", 60, []), node("burn_b", 30, [])]),
        node("burn_c", 10, [])])])
    ingest("txt-tree.cpu", body, {"Content-Type": "binary/octet-stream+tree"}, format="tree")
    t = check_values("txt-tree", LEAVES)
    tot = {f["name"]: f["total"] for f in t["functions"]}
    check(tot.get("work") == 90 * NS and tot.get("main") == 100 * NS, f"totals {tot}")


def test_suffixes_pick_types():
    cases = {
        "wall": ("wall:wall:nanoseconds:cpu:nanoseconds", NS),
        "alloc_objects": ("memory:alloc_objects:count:space:bytes", 1),
        "alloc_space": ("memory:alloc_space:bytes:space:bytes", 1),
        "inuse_objects": ("memory:inuse_objects:count:space:bytes", 1),
        "inuse_space": ("memory:inuse_space:bytes:space:bytes", 1),
    }
    for suffix, (ptype, scale) in cases.items():
        svc = "txt-sfx-" + suffix.replace("_", "-")
        ingest(f"{svc}.{suffix}", FOLDED)
        ids = [t["id"] for t in h.api(srv(), "profile-types", f'{{service_name="{svc}"}}')["types"]]
        check(ids == [ptype], f".{suffix}: types {ids}, want [{ptype}]")
        check_values(svc, LEAVES, ptype, scale)


def test_labels_in_name():
    ingest("txt-labels.cpu{env=prod,region=eu-west}", FOLDED)
    ingest("txt-labels.cpu{env=stage,region=eu-west}", "main;stage_only 5\n")
    t = top("txt-labels", env="prod")
    check(h.top_map(t) == {k: v * NS for k, v in LEAVES.items()}, f"env=prod: {t}")
    t = top("txt-labels", env="stage")
    check(h.top_map(t) == {"stage_only": 5 * NS}, f"env=stage: {t}")
    t = top("txt-labels", region="eu-west")
    check(t["total"] == 105 * NS, f"region=eu-west total {t['total']}")
    vals = h.api(srv(), "label/env/values", '{service_name="txt-labels"}')
    check(sorted(vals["values"]) == ["prod", "stage"], f"env values {vals}")
    names = h.api(srv(), "labels", '{service_name="txt-labels"}')["names"]
    for n in ("env", "region", "service_name"):
        check(n in names, f"label {n} missing from {names}")
    series = h.api(srv(), "series", h.sel(h.CPU_TYPE, service_name="txt-labels", env="prod"))["series"]
    check(len(series) == 1 and series[0]["labels"].get("region") == "eu-west", f"series {series}")


def test_tenants_are_isolated():
    a = {"X-Scope-OrgID": "tenant-a"}
    b = {"X-Scope-OrgID": "tenant-b"}
    ingest("txt-tenant.cpu", FOLDED, a)
    ingest("txt-tenant.cpu", "main;b_only 7\n", b)
    check_values("txt-tenant", LEAVES, headers=a)
    check_values("txt-tenant", {"b_only": 7}, headers=b)
    t = top("txt-tenant")  # anonymous
    check(t["total"] == 0 and not t["functions"], f"anonymous sees other tenants: {t}")
    for hd, other in ((a, "b_only"), (b, "burn_a")):
        for ep in ("labels", "series", "profile-types", "label/service_name/values"):
            body = h.api(srv(), ep, None, headers=hd)
            check(other not in str(body), f"{hd}: {ep} shows {other}")
        vals = h.api(srv(), "label/service_name/values", None, headers=hd)["values"]
        check(vals == ["txt-tenant"], f"{hd} service names {vals}")
        fg = h.api(srv(), "flamegraph", h.sel(h.CPU_TYPE, service_name="txt-tenant"), headers=hd)
        check(other not in fg["flamebearer"]["names"], f"{hd}: flamegraph shows {other}")
    anon = h.api(srv(), "label/service_name/values", None)["values"]
    check("txt-tenant" not in anon, f"anonymous sees tenant services: {anon}")


def perf_available():
    return shutil.which("perf") and shutil.which("gcc")


PERF_HEADER = re.compile(r"^\s*(.+?)\s+(\d+)(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:\s+(?:\d+\s+)?[\w:.-]+:\s*(.*)$")


def perf_sym(frame):
    """'1139 burn_a+0x11 (/path/exe)' -> 'burn_a'."""
    parts = frame.strip().split(None, 1)
    sym = parts[1].rsplit(" (", 1)[0] if len(parts) > 1 else "[unknown]"
    return re.sub(r"\+0x[0-9a-f]+$", "", sym)


def perf_expected(text):
    """{leaf symbol: events} from perf script text, with (-g) or without call chains."""
    out, want_frame = {}, False
    for line in text.splitlines():
        if not line.strip():
            want_frame = False
            continue
        m = PERF_HEADER.match(line)
        if m and not line.startswith("\t"):
            if m.group(3).strip():
                sym = perf_sym(m.group(3))
                out[sym] = out.get(sym, 0) + 1
                want_frame = False
            else:
                want_frame = True
            continue
        if want_frame:
            sym = perf_sym(line)
            out[sym] = out.get(sym, 0) + 1
            want_frame = False
    return out


def check_perf_shares(service, want, points=2.0):
    types = [t["id"] for t in h.api(srv(), "profile-types", f'{{service_name="{service}"}}')["types"]]
    check(types, f"{service}: no profile types after pushing perf script")
    ptype = next((t for t in types if t.startswith("process_cpu:")), types[0])
    t = top(service, ptype)
    got = h.shares(t)
    total = sum(want.values())
    hot = sorted(want, key=want.get, reverse=True)[:3]
    for fn in hot:
        w = 100.0 * want[fn] / total
        check(abs(got.get(fn, 0) - w) <= points, f"{service} {fn}: {got.get(fn, 0):.2f}% vs {w:.2f}% in perf script")
    check(t["functions"][0]["name"] == hot[0], f"{service}: hottest {t['functions'][:3]}, want {hot[0]}")
    return t


def test_perf_script_of_c_workload():
    check(perf_available(), "perf (linux-perf) and gcc are needed (tools/deps.sh)")
    tmp = tempfile.mkdtemp(prefix="ember-perf-")
    try:
        exe = os.path.join(tmp, "workload")
        r = h.run_cmd(["gcc", "-O1", "-fno-omit-frame-pointer", "-fno-inline", "-o", exe,
                       os.path.join(h.INTEG, "workload.c")])
        check(r.returncode == 0, f"gcc: {r.stderr}")
        data = os.path.join(tmp, "perf.data")
        r = h.run_cmd(["perf", "record", "-F", "499", "-g", "-e", "cpu-clock", "-o", data, exe, "1.5"])
        check(r.returncode == 0, f"perf record: {r.stderr[-2000:]}")
        r = h.run_cmd(["perf", "script", "-i", data])
        check(r.returncode == 0 and "cpu-clock" in r.stdout, f"perf script: {r.stderr[-2000:]}")
        txt = os.path.join(tmp, "perf.script.txt")
        with open(txt, "w") as f:
            f.write(r.stdout)
        want = perf_expected(r.stdout)
        check(sum(want.values()) > 100, f"too few perf samples: {want}")
        r = h.run_cmd([h.EMBER, "push", "--server", srv().url, "--service", "c-perf", txt])
        check(r.returncode == 0, f"ember push perf script: {r.returncode} {r.stdout} {r.stderr}")
        t = check_perf_shares("c-perf", want)
        check(t["functions"][0]["name"] == "burn_a", f"hottest {t['functions'][:3]}")
        # callers survive: main is an ancestor of burn_a
        tot = {f["name"]: f["total"] for f in t["functions"]}
        check(tot.get("main", 0) >= tot.get("burn_a", 1), f"main total {tot.get('main')} < burn_a")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_committed_perf_scripts():
    """Real perf script files committed under tests/data/perf/ push and keep their leaf shares."""
    d = os.path.join(h.DATA, "perf")
    files = sorted(os.path.join(d, f) for f in os.listdir(d)) if os.path.isdir(d) else []
    files = [f for f in files if os.path.isfile(f) and not f.endswith((".md", ".sh", ".c", ".go", ".py"))]
    if not files:
        print("  (no tests/data/perf files yet)")
        return
    for i, f in enumerate(files):
        with open(f, errors="replace") as fh:
            text = fh.read()
        if "cpu-clock" not in text and "cycles" not in text and "task-clock" not in text:
            continue
        svc = f"perf-file-{i}"
        r = h.run_cmd([h.EMBER, "push", "--server", srv().url, "--service", svc, f])
        check(r.returncode == 0, f"ember push {f}: {r.stdout} {r.stderr}")
        check_perf_shares(svc, perf_expected(text))


if __name__ == "__main__":
    h.run(globals())
