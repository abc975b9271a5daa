"""test_ingest_pprof.py - real Go runtime/pprof profiles (CPU, heap, mutex, block) pushed
through every pprof path of a real `ember server` (/ingest raw and multipart, Connect Push
in proto and JSON), then checked against `go tool pprof` on the same bytes."""
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

HOT = ["main.burnA", "main.burnB", "main.burnC"]
T0 = int(time.time())


def srv():
    return h.shared_server()


def teardown():
    h.stop_shared()


def prof(name, t_off=0):
    """A workload profile with time_nanos moved to now+t_off s (gzip bytes)."""
    with open(os.path.join(h.go_workload(), name + ".pb.gz"), "rb") as f:
        data = f.read()
    return h.pprof_with_time(data, (T0 + t_off) * 10**9)


def path(name):
    return os.path.join(h.go_workload(), name + ".pb.gz")


def types_of(service, headers=None):
    body = h.api(srv(), "profile-types", h.sel("", service_name=service).lstrip(), headers=headers)
    return sorted(t["id"] for t in body["types"])


def assert_shares_match(service, ptype, expected, points=2.0, min_share=1.0, headers=None):
    """Self shares from /api/v1/top equal `expected` ({function: value}) within `points`."""
    top = h.api(srv(), "top", h.sel(ptype, service_name=service), headers=headers)
    got = h.shares(top)
    total = sum(expected.values())
    check(total > 0, "expected profile is empty")
    check(top["total"] > 0, f"{service} {ptype}: empty top: {top}")
    for fn, v in expected.items():
        want = 100.0 * v / total
        if want < min_share or not fn:
            continue
        have = got.get(fn, 0.0)
        check(abs(have - want) <= points,
              f"{service} {ptype}: {fn} self share {have:.2f}% vs {want:.2f}% in the input (±{points})")
    return top


def ingest_raw(service, data, ctype="application/octet-stream", **params):
    p = {"name": service, "format": "pprof", "from": str(T0), "until": str(T0 + 10)}
    p.update(params)
    return srv().post("/ingest", data, p, {"Content-Type": ctype})


def test_cpu_profile_ingest_raw_matches_go_tool_pprof():
    status, body = ingest_raw("go-raw", prof("cpu"))
    check(status == 200, f"/ingest format=pprof: {status} {body}")
    types = types_of("go-raw")
    check(h.CPU_TYPE in types, f"profile types {types} lack {h.CPU_TYPE}")
    check(h.CPU_SAMPLES_TYPE in types, f"profile types {types} lack {h.CPU_SAMPLES_TYPE}")
    ref = h.pprof_flat_pct(path("cpu"), "cpu")
    top = h.api(srv(), "top", h.sel(h.CPU_TYPE, service_name="go-raw"), limit=10)
    got = h.shares(top)
    check(top["unit"] == "nanoseconds", f"unit {top['unit']}")
    for fn in HOT:
        check(abs(got.get(fn, 0) - ref[fn]) <= 2.0,
              f"{fn}: ember {got.get(fn, 0):.2f}% vs go tool pprof {ref[fn]:.2f}%")
    # the known split (60/30/10 by design; CPU scheduling on a shared machine adds noise)
    names = [f["name"] for f in top["functions"]]
    check(names[0] == HOT[0] and [n for n in names if n in HOT] == HOT,
          f"hot functions not in design order: {names[:5]}")
    check(40 <= got["main.burnA"] <= 80, f"main.burnA share {got['main.burnA']:.1f}% far from 60%")
    # total in nanoseconds is the pprof's cpu total
    check(top["total"] == h.Pprof(prof("cpu")).total("cpu"), f"total {top['total']}")


def test_cpu_profile_plain_not_gzip():
    import gzip
    status, body = ingest_raw("go-plain", gzip.decompress(prof("cpu")))
    check(status == 200, f"/ingest plain pprof: {status} {body}")
    assert_shares_match("go-plain", h.CPU_TYPE, h.Pprof(prof("cpu")).flat("cpu"))


def test_multipart_with_and_without_format():
    for svc, params in (("go-mp", {}), ("go-mp-fmt", {"format": "pprof"})):
        body, ctype = h.multipart([("profile", "profile.pprof", prof("cpu"))])
        p = {"name": svc, "from": str(T0), "until": str(T0 + 10)}
        p.update(params)
        status, resp = srv().post("/ingest", body, p, {"Content-Type": ctype})
        check(status == 200, f"multipart {params}: {status} {resp}")
        assert_shares_match(svc, h.CPU_TYPE, h.Pprof(prof("cpu")).flat("cpu"))


def test_multipart_with_sample_type_config():
    cfg = b'{"inuse_space":{"units":"bytes","aggregation":"average"},' \
          b'"inuse_objects":{"units":"objects","aggregation":"average"},' \
          b'"alloc_space":{"units":"bytes","cumulative":false},"alloc_objects":{"units":"objects","cumulative":false}}'
    body, ctype = h.multipart([("profile", "profile.pprof", prof("heap1")), ("sample_type_config", "cfg.json", cfg)])
    status, resp = srv().post("/ingest", body, {"name": "go-mp-heap", "from": str(T0)}, {"Content-Type": ctype})
    check(status == 200, f"multipart heap with sample_type_config: {status} {resp}")
    types = types_of("go-mp-heap")
    check("memory:inuse_space:bytes:space:bytes" in types, f"types {types}")
    assert_shares_match("go-mp-heap", "memory:inuse_space:bytes:space:bytes",
                        h.Pprof(prof("heap1")).flat("inuse_space"))


def test_heap_ingest_has_four_types():
    status, body = ingest_raw("go-heap", prof("heap1"))
    check(status == 200, f"heap: {status} {body}")
    types = types_of("go-heap")
    for t in h.HEAP_TYPES:
        check(t in types, f"{t} missing from {types}")
    p = h.Pprof(prof("heap1"))
    assert_shares_match("go-heap", "memory:inuse_space:bytes:space:bytes", p.flat("inuse_space"))
    assert_shares_match("go-heap", "memory:inuse_objects:count:space:bytes", p.flat("inuse_objects"))


def push_all(prefix, use_json):
    series = [
        ({"__name__": "process_cpu", "service_name": prefix + "-cpu"}, [prof("cpu")]),
        ({"__name__": "memory", "service_name": prefix + "-heap", "__delta__": "false"}, [prof("heap2")]),
        ({"__name__": "mutex", "service_name": prefix + "-mutex"}, [prof("mutex")]),
        ({"__name__": "block", "service_name": prefix + "-block"}, [prof("block")]),
    ]
    status, body = h.push(srv(), series, use_json=use_json)
    check(status == 200, f"Push ({'json' if use_json else 'proto'}): {status} {body}")
    types = types_of(prefix + "-cpu")
    check(types == sorted([h.CPU_TYPE, h.CPU_SAMPLES_TYPE]), f"cpu types {types}")
    types = types_of(prefix + "-heap")
    check(types == sorted(h.HEAP_TYPES), f"heap types {types}")
    types = types_of(prefix + "-mutex")
    check(types == ["mutex:contentions:count:contentions:count", "mutex:delay:nanoseconds:contentions:count"],
          f"mutex types {types}")
    types = types_of(prefix + "-block")
    check(types == ["block:contentions:count:contentions:count", "block:delay:nanoseconds:contentions:count"],
          f"block types {types}")
    assert_shares_match(prefix + "-cpu", h.CPU_TYPE, h.Pprof(prof("cpu")).flat("cpu"))
    heap = h.Pprof(prof("heap2"))
    for st in ("alloc_space", "alloc_objects", "inuse_space", "inuse_objects"):
        t = [x for x in h.HEAP_TYPES if ":" + st + ":" in x][0]
        assert_shares_match(prefix + "-heap", t, heap.flat(st))
    mx = h.Pprof(prof("mutex"))
    assert_shares_match(prefix + "-mutex", "mutex:delay:nanoseconds:contentions:count", mx.flat("delay"))
    bl = h.Pprof(prof("block"))
    top = assert_shares_match(prefix + "-block", "block:delay:nanoseconds:contentions:count", bl.flat("delay"))
    check(top["total"] == bl.total("delay"), f"block delay total {top['total']} != {bl.total('delay')}")
    top = assert_shares_match(prefix + "-block", "block:contentions:count:contentions:count",
                              bl.flat("contentions"))
    check(top["total"] == bl.total("contentions"), f"block contentions total {top['total']}")


def test_push_proto_all_profile_kinds():
    push_all("push-pb", use_json=False)


def test_push_json_all_profile_kinds():
    push_all("push-json", use_json=True)


def test_cumulative_alloc_becomes_delta():
    """Two cumulative heap profiles of one process for the same series: the second is stored as
    the difference for alloc_* (Pyroscope's delta handling), inuse_* as is."""
    labels = {"__name__": "memory", "service_name": "go-delta"}
    for name, off in (("heap1", -20), ("heap2", -10)):
        status, body = h.push(srv(), [(labels, [prof(name, off)])])
        check(status == 200, f"push {name}: {status} {body}")
    h1, h2 = h.Pprof(prof("heap1")), h.Pprof(prof("heap2"))
    w = {"from": str(T0 - 15), "until": str(T0 - 5)}  # covers heap2 only
    for st in ("alloc_space", "alloc_objects"):
        t = [x for x in h.HEAP_TYPES if ":" + st + ":" in x][0]
        top = h.api(srv(), "top", h.sel(t, service_name="go-delta"), **w)
        got = h.top_map(top)
        a, b = h1.flat(st), h2.flat(st)
        want = {fn: b.get(fn, 0) - a.get(fn, 0) for fn in set(a) | set(b)}
        want = {k: v for k, v in want.items() if v}
        check(top["total"] == sum(want.values()),
              f"{st}: stored total {top['total']}, want heap2-heap1 = {sum(want.values())}"
              f" (heap2 alone {h2.total(st)})")
        for fn in ("main.allocMore", "main.allocBig", "main.allocSmall"):
            check(got.get(fn, 0) == want.get(fn, 0), f"{st} {fn}: stored {got.get(fn, 0)}, delta {want.get(fn, 0)}")
        check(got.get("main.allocMore", 0) > 0, f"{st}: no main.allocMore in {got}")
    # inuse is a gauge: heap2 as is
    top = h.api(srv(), "top", h.sel("memory:inuse_space:bytes:space:bytes", service_name="go-delta"), **w)
    check(top["total"] == h2.total("inuse_space"), f"inuse_space {top['total']} != {h2.total('inuse_space')}")
    # __delta__="false" keeps cumulative values
    labels = {"__name__": "memory", "service_name": "go-nodelta", "__delta__": "false"}
    for name, off in (("heap1", -20), ("heap2", -10)):
        status, body = h.push(srv(), [(labels, [prof(name, off)])])
        check(status == 200, f"push {name}: {status} {body}")
    top = h.api(srv(), "top", h.sel("memory:alloc_space:bytes:space:bytes", service_name="go-nodelta"), **w)
    check(top["total"] == h2.total("alloc_space"), f"__delta__=false: {top['total']} != {h2.total('alloc_space')}")


def test_push_tenants_are_isolated():
    x, y = {"X-Scope-OrgID": "team-x"}, {"X-Scope-OrgID": "team-y"}
    st, body = h.push(srv(), [({"__name__": "process_cpu", "service_name": "go-tenant"}, [prof("cpu")])], headers=x)
    check(st == 200, f"push as team-x: {st} {body}")
    assert_shares_match("go-tenant", h.CPU_TYPE, h.Pprof(prof("cpu")).flat("cpu"), headers=x)
    for hd in (y, None):
        t = h.api(srv(), "top", h.sel(h.CPU_TYPE, service_name="go-tenant"), headers=hd)
        check(t["total"] == 0 and not t["functions"], f"{hd} sees team-x's profile: {t['functions'][:2]}")
        check("go-tenant" not in h.api(srv(), "label/service_name/values", None, headers=hd)["values"],
              f"{hd} sees team-x's service name")
        st, data, _ = srv().get("/api/v1/export", dict(h.window(), format="folded",
                                                       query=h.sel(h.CPU_TYPE, service_name="go-tenant")),
                                headers=hd, raw=True)
        check(st == 200 and b"burnA" not in data, f"{hd} export shows team-x data: {st} {data[:200]}")


def check_types_match_pprof(svc, p, what):
    """Every stored type of svc whose sample type is in pprof p has p's shares (alloc_* skipped:
    cumulative handling is tested on its own)."""
    types = types_of(svc)
    check(types, f"{what}: nothing stored")
    checked = 0
    for t in types:
        st = t.split(":")[1]
        if st.startswith("alloc_") or st not in [x for x, _ in p.sample_types]:
            continue
        try:
            top = assert_shares_match(svc, t, p.flat(st))
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}")
        check(top["total"] == p.total(st), f"{what} {t}: total {top['total']} != {p.total(st)}")
        checked += 1
    check(checked, f"{what}: no stored type matches the pprof sample types {p.sample_types}: {types}")


def test_every_kind_through_every_path():
    """CPU, heap, mutex and block profiles, each through /ingest raw, multipart with and without
    format=pprof, and Push (proto and JSON)."""
    names = {"cpu": "process_cpu", "heap1": "memory", "mutex": "mutex", "block": "block"}
    for kind, metric in names.items():
        data = prof(kind)
        p = h.Pprof(data)
        svc = f"every-{kind}-raw"
        st, body = ingest_raw(svc, data)
        check(st == 200, f"{svc}: {st} {body}")
        check_types_match_pprof(svc, p, svc)
        for fmt in ("", "pprof"):
            svc = f"every-{kind}-mp{fmt}"
            mp, ctype = h.multipart([("profile", "profile.pprof", data)])
            params = {"name": svc, "from": str(T0)}
            if fmt:
                params["format"] = fmt
            st, body = srv().post("/ingest", mp, params, {"Content-Type": ctype})
            check(st == 200, f"{svc}: {st} {body}")
            check_types_match_pprof(svc, p, svc)
        for js in (False, True):
            svc = f"every-{kind}-push{'json' if js else 'pb'}"
            st, body = h.push(srv(), [({"__name__": metric, "service_name": svc}, [data])], use_json=js)
            check(st == 200, f"{svc}: {st} {body}")
            check_types_match_pprof(svc, p, svc)


def export_agrees(service, ptype, src, sample_index):
    status, data, hdrs = srv().get("/api/v1/export", dict(h.window(), format="pprof",
                                                        query=h.sel(ptype, service_name=service)), raw=True)
    check(status == 200, f"export {service}: {status} {data[:300]}")
    with tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False) as f:
        f.write(data)
        out = f.name
    try:
        ours = h.pprof_top(out)
        ref = h.pprof_top(src, sample_index)
    finally:
        os.unlink(out)
    top_ref = [r for r in ref["rows"] if r["flat_pct"] >= 1.0]
    ours_map = {r["name"]: r for r in ours["rows"]}
    check(top_ref, "reference has no rows")
    for r in top_ref:
        o = ours_map.get(r["name"])
        check(o is not None, f"{r['name']} missing in go tool pprof -top of our export:\n{ours['text'][:2000]}")
        check(abs(o["flat_pct"] - r["flat_pct"]) <= 1.0,
              f"{r['name']}: flat {o['flat_pct']}% on export vs {r['flat_pct']}% on input")
    n = min(3, len(top_ref))
    check([r["name"] for r in ours["rows"][:n]] == [r["name"] for r in ref["rows"][:n]],
          f"top {n} differ:\n{ours['text'][:1500]}\nvs\n{ref['text'][:1500]}")
    check(abs(ours["total"] - ref["total"]) <= 0.01 * ref["total"], f"totals {ours['total']} vs {ref['total']}")


def test_export_pprof_agrees_with_go_tool_pprof():
    status, body = ingest_raw("go-export", prof("cpu"))
    check(status == 200, f"{status} {body}")
    export_agrees("go-export", h.CPU_TYPE, path("cpu"), "cpu")
    status, body = ingest_raw("go-export-heap", prof("heap2"))
    check(status == 200, f"{status} {body}")
    export_agrees("go-export-heap", "memory:inuse_space:bytes:space:bytes", path("heap2"), "inuse_space")
    status, body = h.push(srv(), [({"__name__": "block", "service_name": "go-export-block"}, [prof("block")])])
    check(status == 200, f"{status} {body}")
    export_agrees("go-export-block", "block:delay:nanoseconds:contentions:count", path("block"), "delay")


def test_committed_go_profiles():
    """Every real Go profile committed under tests/data/go/ ingests, and each of its
    non-cumulative sample types comes out with the input's shares."""
    files = sorted(glob.glob(os.path.join(h.DATA, "go", "*.pb.gz")) + glob.glob(os.path.join(h.DATA, "go", "*.pprof")))
    if not files:
        print("  (no tests/data/go/*.pb.gz yet; nothing to check)")
        return
    for i, fpath in enumerate(files):
        with open(fpath, "rb") as f:
            raw = f.read()
        p = h.Pprof(raw)
        if not p.samples:
            continue
        svc = f"committed-{i}"
        status, body = ingest_raw(svc, h.pprof_with_time(raw, T0 * 10**9))
        check(status == 200, f"{fpath}: {status} {body}")
        check_types_match_pprof(svc, p, os.path.basename(fpath))


if __name__ == "__main__":
    h.run(globals())
