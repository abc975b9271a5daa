"""test_ops.py - operations endpoints of a real `ember server` (/healthz, /ready, /metrics, the UI,
/pyroscope/ingest) and concurrent ingest + query from many clients at once."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())


def srv():
    return h.shared_server()


def teardown():
    h.stop_shared()


def metrics():
    st, text = srv().get("/metrics")
    check(st == 200 and isinstance(text, str), f"/metrics: {st}")
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^(\S+?)(\{[^}]*\})?\s+(\S+)$", line)
        check(m, f"/metrics line is not Prometheus text: {line!r}")
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def test_health_ready_ui():
    st, body, _ = srv().get("/healthz", raw=True)
    check(st == 200, f"/healthz {st}")
    st, body, _ = srv().get("/ready", raw=True)
    check(st == 200, f"/ready {st}")
    st, body, hdrs = srv().get("/", raw=True)
    ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
    check(st == 200 and "text/html" in ctype and b"<html" in body.lower(), f"/ UI: {st} {ctype}")
    st, body = srv().get("/api/v1/no-such-endpoint")
    check(st == 404 and isinstance(body, dict) and body.get("error"), f"unknown API route: {st} {body}")


def test_metrics_count_ingest_and_rejections():
    before = metrics()
    body = "main;m_a 5\nmain;m_b 3\n"
    st, resp = srv().post("/pyroscope/ingest", body, {"name": "ops-metrics.cpu", "from": str(T0)})
    check(st == 200, f"/pyroscope/ingest: {st} {resp}")
    with open(os.path.join(h.go_workload(), "cpu.pb.gz"), "rb") as f:
        cpu = h.pprof_with_time(f.read(), T0 * 10**9)
    st, resp = srv().post("/ingest", cpu, {"name": "ops-metrics-go", "format": "pprof", "from": str(T0)})
    check(st == 200, f"pprof: {st} {resp}")
    st, _ = srv().post("/ingest", "main;x notanumber\n", {"name": "ops-bad.cpu"})
    check(st == 400, f"bad folded: {st}")
    after = metrics()

    def d(name):
        return after.get(name, 0) - before.get(name, 0)

    p = h.Pprof(cpu)
    check(d("ember_ingest_profiles_total") == 1 + len(p.sample_types),
          f"profiles_total grew by {d('ember_ingest_profiles_total')}, want {1 + len(p.sample_types)}")
    got = d("ember_ingest_samples_total")
    most = 2 + sum(1 for _, v in p.samples for x in v if x)  # one per non-zero value
    check(2 + len(p.samples) // 2 <= got <= most, f"samples_total grew by {got}, want at most {most}")
    check(d("ember_ingest_bytes_total") == len(body) + len(cpu), f"bytes_total grew by {d('ember_ingest_bytes_total')}")
    rej = sum(v for k, v in after.items() if k.startswith("ember_ingest_rejected_total")) - \
        sum(v for k, v in before.items() if k.startswith("ember_ingest_rejected_total"))
    check(rej == 1, f"rejected_total grew by {rej}")
    reqs = sum(v for k, v in after.items() if k.startswith("ember_http_requests_total") and 'code="200"' in k) - \
        sum(v for k, v in before.items() if k.startswith("ember_http_requests_total") and 'code="200"' in k)
    check(reqs >= 2, f"http_requests_total 200 grew by {reqs}")
    check(any(k.startswith("ember_http_request_duration_seconds_bucket") for k in after), "no latency histogram")
    t = h.api(srv(), "top", h.sel(h.CPU_TYPE, service_name="ops-metrics"))
    check(h.top_map(t) == {"m_a": 5 * 10**7, "m_b": 3 * 10**7}, f"/pyroscope/ingest data: {t}")


def test_concurrent_ingest_and_queries():
    """8 clients push distinct stacks while 2 others query; every acknowledged sample is counted."""
    n_clients, per_client = 8, 25
    errors = []
    stop = threading.Event()

    def pusher(c):
        for i in range(per_client):
            st, body = srv().post("/ingest", f"main;client{c};leaf{i % 5} {i + 1}\n",
                                  {"name": f"ops-conc.cpu{{client=c{c}}}", "from": str(T0 - 300 + i)})
            if st != 200:
                errors.append(f"client {c} push {i}: {st} {body}")

    def querier():
        q = h.sel(h.CPU_TYPE, service_name="ops-conc")
        while not stop.is_set():
            for ep in ("top", "flamegraph", "series", "timeline"):
                st, body = srv().get("/api/v1/" + ep, dict(h.window(), query=q))
                if st != 200:
                    errors.append(f"{ep} during ingest: {st} {str(body)[:200]}")

    qs = [threading.Thread(target=querier) for _ in range(2)]
    ps = [threading.Thread(target=pusher, args=(c,)) for c in range(n_clients)]
    for t in qs + ps:
        t.start()
    for t in ps:
        t.join(120)
    stop.set()
    for t in qs:
        t.join(60)
    check(not errors, "\n".join(errors[:10]))
    t = h.api(srv(), "top", h.sel(h.CPU_TYPE, service_name="ops-conc"))
    want = n_clients * sum(range(1, per_client + 1)) * 10**7
    check(t["total"] == want, f"total after concurrent ingest {t['total']}, want {want}")
    series = h.api(srv(), "series", h.sel(h.CPU_TYPE, service_name="ops-conc"))["series"]
    check(len(series) == n_clients, f"{len(series)} series, want {n_clients}")
    tot = {f["name"]: f["total"] for f in t["functions"]}
    for c in range(n_clients):
        check(tot.get(f"client{c}") == sum(range(1, per_client + 1)) * 10**7, f"client{c}: {tot.get(f'client{c}')}")


if __name__ == "__main__":
    h.run(globals())
