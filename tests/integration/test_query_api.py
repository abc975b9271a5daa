"""test_query_api.py - every /api/v1 query endpoint of a real `ember server` over data with a
known shape: labels, label values, series, flamegraph levels, top, sandwich, timeline, diff
and folded export."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = (int(time.time()) // 10) * 10
NS = 10**7  # ns per sample at 100 Hz
LEFT = {"main;work;fa": 60, "main;work;fb": 30, "main;fc": 10}
RIGHT = {"main;work;fa": 50, "main;work;fb": 20, "main;fc": 30}  # fc grows by 20 points
NPROF = 6
LEFT_T = [T0 - 590 + 10 * i for i in range(NPROF)]
RIGHT_T = [T0 - 290 + 10 * i for i in range(NPROF)]
SVC = "qapp"
Q = h.sel(h.CPU_TYPE, service_name=SVC)
ALL = {"from": str(T0 - 600), "until": str(T0)}
LEFT_W = {"from": str(T0 - 600), "until": str(T0 - 300)}
RIGHT_W = {"from": str(T0 - 300), "until": str(T0)}


def folded(stacks):
    return "".join(f"{k} {v}\n" for k, v in stacks.items())


def srv():
    s = h.shared_server()
    if not getattr(s, "loaded", False):
        for times, stacks in ((LEFT_T, LEFT), (RIGHT_T, RIGHT)):
            for t in times:
                st, body = s.post("/ingest", folded(stacks),
                                  {"name": SVC + ".cpu{env=prod}", "from": str(t), "until": str(t + 10)})
                check(st == 200, f"ingest at {t}: {st} {body}")
        st, body = s.post("/ingest", "main;other_svc 1\n", {"name": "qother.cpu", "from": str(T0 - 100)})
        check(st == 200, f"{st} {body}")
        s.loaded = True
    return s


def teardown():
    h.stop_shared()


def total_of(stacks, leaf=None):
    return sum(v for k, v in stacks.items() if leaf is None or k.split(";")[-1] == leaf) * NPROF * NS


def decode_levels(levels):
    """Flamebearer levels -> rows of dicts {x, total, self, name} (x absolute)."""
    rows = []
    for lv in levels:
        check(len(lv) % 4 == 0, f"level length {len(lv)} not a multiple of 4")
        prev, row = 0, []
        for i in range(0, len(lv), 4):
            x = prev + lv[i]
            row.append({"x": x, "total": lv[i + 1], "self": lv[i + 2], "name": lv[i + 3]})
            prev = x + lv[i + 1]
        rows.append(row)
    return rows


def check_tree(fb, what):
    """Structural checks of a flamebearer; returns decoded rows with names resolved."""
    names, rows = fb["names"], decode_levels(fb["levels"])
    check(rows and len(rows[0]) == 1, f"{what}: level 0 must be one root node: {fb['levels'][:1]}")
    root = rows[0][0]
    check(root["total"] == fb["numTicks"], f"{what}: root total {root['total']} != numTicks {fb['numTicks']}")
    self_sum = sum(n["self"] for r in rows for n in r)
    check(self_sum == fb["numTicks"], f"{what}: sum of self {self_sum} != numTicks {fb['numTicks']}")
    check(fb["maxSelf"] == max(n["self"] for r in rows for n in r), f"{what}: maxSelf {fb['maxSelf']}")
    for d, row in enumerate(rows):
        for n in row:
            n["fn"] = names[n["name"]]
            kids = [c for c in rows[d + 1] if n["x"] <= c["x"] < n["x"] + n["total"]] if d + 1 < len(rows) else []
            ksum = sum(c["total"] for c in kids)
            check(ksum + n["self"] == n["total"],
                  f"{what}: node {n['fn']} at level {d}: children {ksum} + self {n['self']} != total {n['total']}")
            if kids:
                check(kids[0]["x"] >= n["x"] + n["self"], f"{what}: first child of {n['fn']} overlaps its self")
                check(kids[-1]["x"] + kids[-1]["total"] <= n["x"] + n["total"], f"{what}: children overflow {n['fn']}")
    return rows


def test_labels_and_values():
    names = h.api(srv(), "labels", Q, **ALL)["names"]
    for n in ("service_name", "env"):
        check(n in names, f"{n} not in labels {names}")
    check(names == sorted(names), f"labels not sorted: {names}")
    vals = h.api(srv(), "label/service_name/values", None, **ALL)
    check(vals["name"] == "service_name" and "qapp" in vals["values"] and "qother" in vals["values"], f"{vals}")
    vals = h.api(srv(), "label/service_name/values", '{env="prod"}', **ALL)["values"]
    check(vals == ["qapp"], f"service_name values for env=prod: {vals}")
    vals = h.api(srv(), "label/env/values", Q, **ALL)["values"]
    check(vals == ["prod"], f"env values {vals}")
    vals = h.api(srv(), "label/nosuchlabel/values", Q, **ALL)["values"]
    check(vals == [], f"values of a missing label {vals}")


def test_series():
    series = h.api(srv(), "series", Q, **ALL)["series"]
    check(len(series) == 1, f"series {series}")
    lab = series[0]["labels"]
    check(lab.get("service_name") == SVC and lab.get("env") == "prod", f"labels {lab}")
    series = h.api(srv(), "series", '{service_name=~"q.*"}', **ALL)["series"]
    check(sorted(s["labels"]["service_name"] for s in series) == ["qapp", "qother"], f"regex series {series}")
    series = h.api(srv(), "series", '{service_name=~"q"}', **ALL)["series"]
    check(series == [], f"regexes are anchored: {series}")


def test_flamegraph():
    fg = h.api(srv(), "flamegraph", Q, **ALL)
    fb = fg["flamebearer"]
    check(fb["names"][0] == "total", f"names[0] {fb['names'][:3]}")
    total = total_of(LEFT) + total_of(RIGHT)
    check(fb["numTicks"] == total and fg["total"] == total, f"numTicks {fb['numTicks']} total {fg.get('total')} want {total}")
    check(fg["unit"] == "nanoseconds", f"unit {fg.get('unit')}")
    check(fg.get("profiles") in (None, 2 * NPROF), f"profiles {fg.get('profiles')}")
    rows = check_tree(fb, "flamegraph")
    by = {n["fn"]: n for r in rows for n in r}
    check(by["main"]["total"] == total, f"main total {by['main']}")
    check(by["work"]["total"] == total_of(LEFT, "fa") + total_of(LEFT, "fb") + total_of(RIGHT, "fa")
          + total_of(RIGHT, "fb"), f"work {by['work']}")
    check(by["fc"]["self"] == total_of(LEFT, "fc") + total_of(RIGHT, "fc"), f"fc {by['fc']}")
    check(len(rows) == 4, f"depth {len(rows)}")
    # a narrower time range only has the left profiles
    fb = h.api(srv(), "flamegraph", Q, **LEFT_W)["flamebearer"]
    check(fb["numTicks"] == total_of(LEFT), f"left numTicks {fb['numTicks']}")


def test_flamegraph_max_nodes_other():
    fg = h.api(srv(), "flamegraph", Q, max_nodes=3, **ALL)
    fb = fg["flamebearer"]
    check("other" in fb["names"], f"max_nodes=3 gave no 'other' node: {fb['names']}")
    rows = check_tree(fb, "flamegraph max_nodes=3")
    nodes = sum(len(r) for r in rows)
    check(nodes <= 3 + 2, f"max_nodes=3 still has {nodes} nodes")
    check(fb["numTicks"] == total_of(LEFT) + total_of(RIGHT), "'other' must keep the total")


def test_top_sorting_and_limit():
    t = h.api(srv(), "top", Q, **ALL)
    self_vals = [f["self"] for f in t["functions"]]
    check(self_vals == sorted(self_vals, reverse=True), f"default sort is self desc: {self_vals}")
    check(t["functions"][0]["name"] == "fa", f"hottest {t['functions'][0]}")
    m = {f["name"]: f for f in t["functions"]}
    check(m["fa"]["self"] == total_of(LEFT, "fa") + total_of(RIGHT, "fa"), f"fa {m['fa']}")
    check(m["main"]["self"] == 0 and m["main"]["total"] == t["total"], f"main {m['main']}")
    t2 = h.api(srv(), "top", Q, sort="total", **ALL)
    tot = [f["total"] for f in t2["functions"]]
    check(tot == sorted(tot, reverse=True) and t2["functions"][0]["name"] == "main", f"sort=total {t2['functions']}")
    t3 = h.api(srv(), "top", Q, sort="self", limit=2, **ALL)
    check(len(t3["functions"]) == 2 and [f["name"] for f in t3["functions"]] == [f["name"] for f in t["functions"][:2]],
          f"limit=2 {t3['functions']}")
    check(t3["total"] == t["total"], "limit must not change the total")


def test_sandwich():
    sw = h.api(srv(), "sandwich", Q, function="work", **ALL)
    work_total = total_of(LEFT, "fa") + total_of(LEFT, "fb") + total_of(RIGHT, "fa") + total_of(RIGHT, "fb")
    check(sw["function"] == "work" and sw["function_total"] == work_total and sw["self"] == 0, f"{sw}")
    callers = check_tree(sw["callers"], "callers")
    check(callers[0][0]["fn"] in ("work", "total"), f"callers root {callers[0][0]}")
    caller_names = {n["fn"] for r in callers[1:] for n in r}
    check("main" in caller_names and "fa" not in caller_names, f"callers {caller_names}")
    callees = check_tree(sw["callees"], "callees")
    callee_names = {n["fn"] for r in callees[1:] for n in r}
    check({"fa", "fb"} <= callee_names and "main" not in callee_names and "fc" not in callee_names,
          f"callees {callee_names}")
    check(sw["callees"]["numTicks"] == work_total and sw["callers"]["numTicks"] == work_total,
          f"sandwich ticks {sw['callees']['numTicks']} {sw['callers']['numTicks']}")


def test_timeline():
    tl = h.api(srv(), "timeline", Q, step="10s", **ALL)
    check(tl["step"] == 10, f"step {tl['step']}")
    vals = [v or 0 for v in tl["values"]]
    want = total_of(LEFT) + total_of(RIGHT)
    check(sum(vals) == want, f"timeline sum {sum(vals)} != total {want}")
    nz = [i for i, v in enumerate(vals) if v]
    check(len(nz) == 2 * NPROF, f"{len(nz)} non-empty points, want {2 * NPROF}")
    t_first = tl["start"] + nz[0] * tl["step"]
    check(abs(t_first - LEFT_T[0]) < 10, f"first point at {t_first}, first profile at {LEFT_T[0]}")
    # auto step: still sums to the total
    tl = h.api(srv(), "timeline", Q, **ALL)
    check(sum(v or 0 for v in tl["values"]) == want, "auto step timeline sum")


def test_diff_right_grew():
    p = {"left_query": Q, "right_query": Q, "left_from": LEFT_W["from"], "left_until": LEFT_W["until"],
         "right_from": RIGHT_W["from"], "right_until": RIGHT_W["until"]}
    st, d = srv().get("/api/v1/diff", p)
    check(st == 200, f"diff: {st} {d}")
    check(d["leftTicks"] == total_of(LEFT) and d["rightTicks"] == total_of(RIGHT),
          f"ticks {d['leftTicks']} {d['rightTicks']}")
    f0 = d["functions"][0]
    check(f0["name"] == "fc", f"biggest change should be fc: {d['functions'][:3]}")
    check(abs(f0["diff"] - 20.0) < 0.01, f"fc diff {f0['diff']} points, want +20")
    check(f0["left_self"] == total_of(LEFT, "fc") and f0["right_self"] == total_of(RIGHT, "fc"), f"{f0}")
    fa = [f for f in d["functions"] if f["name"] == "fa"][0]
    check(abs(fa["diff"] + 10.0) < 0.01, f"fa diff {fa['diff']}, want -10")
    lv = d["flamebearer"]["levels"]
    check(all(len(r) % 7 == 0 for r in lv), "diff levels are 7-int runs")
    root = lv[0]
    check(root[1] == d["leftTicks"] and root[4] == d["rightTicks"], f"diff root {root}")
    check(d["flamebearer"]["names"][0] == "total", "diff names[0]")


def test_export_folded():
    st, data, hdrs = srv().get("/api/v1/export", dict(ALL, format="folded", query=Q), raw=True)
    check(st == 200, f"export folded: {st} {data[:200]}")
    got = {}
    for line in data.decode().splitlines():
        if line.strip():
            stack, v = line.rsplit(" ", 1)
            got[stack] = got.get(stack, 0) + int(v)
    want = {k: (LEFT[k] + RIGHT[k]) * NPROF * NS for k in LEFT}
    check(got == want, f"folded export {got} != {want}")


if __name__ == "__main__":
    h.run(globals())
