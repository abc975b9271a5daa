"""test_bad_input.py - hostile and broken input against a real `ember server`: each request gets
a 4xx with a JSON {"error": ...} that says what was wrong, nothing is stored, and the server
stays up."""
import gzip
import http.client
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

T0 = int(time.time())


def srv():
    s = h.shared_server()
    if not getattr(s, "seeded", False):
        # some good data first, so "nothing stored" is checked against a non-empty store
        status, body = s.post("/ingest", "main;good 5\n", {"name": "good.cpu", "from": str(T0)})
        check(status == 200, f"seed ingest failed: {status} {body}")
        s.seeded = True
    return s


def teardown():
    h.stop_shared()


def cpu_pprof():
    with open(os.path.join(h.go_workload(), "cpu.pb.gz"), "rb") as f:
        return h.pprof_with_time(f.read(), T0 * 10**9)


def error_of(status, body, what, codes=range(400, 500)):
    check(status in codes, f"{what}: status {status}, want 4xx: {str(body)[:300]}")
    check(isinstance(body, dict), f"{what}: body is not JSON: {str(body)[:300]}")
    msg = body.get("error") or body.get("message")
    check(isinstance(msg, str) and len(msg) > 5, f"{what}: no error message in {body}")
    return msg


def rejected(what, send, codes=range(400, 500), match=None):
    """Runs send() -> (status, body) and checks: 4xx, JSON error, store unchanged, server up."""
    s = srv()
    before = h.state(s)
    status, body = send()
    msg = error_of(status, body, what, codes)
    if match:
        check(re.search(match, msg, re.I), f"{what}: error {msg!r} does not match /{match}/")
    after = h.state(s)
    check(before == after, f"{what}: the store changed:\nbefore {before}\nafter  {after}")
    st, hb = s.get("/healthz", raw=True)[:2]
    check(st == 200, f"{what}: /healthz {st} after the request")
    return msg


def ingest(body, ctype="application/octet-stream", **params):
    p = {"name": "bad", "from": str(T0)}
    p.update(params)
    return lambda: srv().post("/ingest", body, p, {"Content-Type": ctype})


def test_truncated_pprof():
    raw = gzip.decompress(cpu_pprof())
    rejected("truncated plain pprof", ingest(raw[: len(raw) // 2], format="pprof"))
    rejected("truncated plain pprof (1 byte short)", ingest(raw[:-1], format="pprof"))
    gz = cpu_pprof()
    rejected("truncated gzip pprof", ingest(gz[: len(gz) - 20], format="pprof"))


def test_garbage_pprof():
    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(3000))
    msg = rejected("garbage pprof", ingest(junk, format="pprof"))
    check(re.search(r"\d", msg), f"error names no position: {msg!r}")
    rejected("garbage gzip pprof", ingest(b"\x1f\x8b\x08\x00" + junk, format="pprof"))
    rejected("empty pprof", ingest(b"", format="pprof"))
    # a valid protobuf whose sample refers to a location that does not exist
    bad = h.pb_bytes(6, b"") + h.pb_bytes(6, b"cpu") + h.pb_bytes(6, b"nanoseconds") + \
        h.pb_bytes(1, h.pb_uint(1, 1) + h.pb_uint(2, 2)) + h.pb_bytes(2, h.pb_uint(1, 99) + h.pb_uint(2, 5))
    rejected("pprof with a dangling location id", ingest(bad, format="pprof"))


def test_gzip_bomb():
    bomb = gzip.compress(b"\0" * (32 << 20), 9)  # 32 MiB of zeros in ~32 KiB: ratio ~1000
    check(len(bomb) < (1 << 20), "bomb too big to test the ratio cap")
    rejected("gzip bomb", ingest(bomb, format="pprof"), match=r"ratio|decompress|too large|limit|size")
    rejected("gzip bomb via Push", lambda: h.push(srv(), [({"__name__": "process_cpu", "service_name": "bomb"},
                                                           [bomb])]))


def raw_post(path, body, headers):
    """POST with http.client; tolerates the server closing the connection before the body is
    sent (allowed for 413) as long as it answered."""
    c = http.client.HTTPConnection("127.0.0.1", srv().port, timeout=60)
    try:
        c.putrequest("POST", path)
        for k, v in headers.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        try:
            for i in range(0, len(body), 65536):
                c.send(body[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode("utf-8", "replace")
    finally:
        c.close()


def test_oversized_body():
    big = os.urandom(5 << 20)
    rejected("5 MiB pprof body", lambda: raw_post(f"/ingest?name=big&format=pprof&from={T0}", big,
                                                  {"Content-Type": "application/octet-stream"}), codes=[413])
    rejected("5 MiB folded body", lambda: raw_post(f"/ingest?name=big.cpu&from={T0}", b"a;b 1\n" * (900 << 10),
                                                   {"Content-Type": "text/plain"}), codes=[413])
    # a well-formed PushRequest whose one raw_profile is over the 4 MiB profile limit
    req = h.push_request([({"__name__": "process_cpu", "service_name": "big"}, [big])])
    rejected("Push of a 5 MiB profile", lambda: raw_post("/push.v1.PusherService/Push", req,
                                                         {"Content-Type": "application/proto"}), codes=[413])


def test_bad_selectors():
    s = srv()
    cases = [
        ('process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="a" env="b"}', 61),
        ('{service_name="a"', 17),
        ('{service_name=~"(unclosed"}', 15),
        ('{9abc="x"}', 1),
        ('{service_name=="a"}', 14),
    ]
    for q, offset in cases:
        for ep in ("top", "flamegraph", "series", "labels"):
            st, body = s.get("/api/v1/" + ep, dict(h.window(), query=q))
            msg = error_of(st, body, f"{ep} query={q}", codes=[400])
            nums = [int(x) for x in re.findall(r"\d+", msg)]
            check(any(abs(n - offset) <= 2 for n in nums), f"{ep} {q!r}: error {msg!r} names no offset near {offset}")
    for bad in ("yesterday-ish", "now-", "12abc"):
        st, body = s.get("/api/v1/top", {"query": h.sel(h.CPU_TYPE, service_name="good"), "from": bad, "until": "now"})
        error_of(st, body, f"from={bad}", codes=[400])
    st, body = s.get("/api/v1/top", dict(h.window(), query=h.sel(h.CPU_TYPE, service_name="good"), sort="sideways"))
    error_of(st, body, "sort=sideways", codes=[400])


def test_bad_label_names():
    rejected("label name starting with a digit", ingest("a;b 1\n", name="app.cpu{1env=prod}"), match="1env|label")
    rejected("label name with a dash", ingest("a;b 1\n", name="app.cpu{my-env=prod}"), match="my-env|label")
    rejected("unterminated label set", ingest("a;b 1\n", name="app.cpu{env=prod"))
    rejected("empty app name", ingest("a;b 1\n", name=""))
    rejected("too many labels", ingest("a;b 1\n", name="app.cpu{" + ",".join(f"l{i}=v" for i in range(40)) + "}"))
    rejected("Push label name with a dash", lambda: h.push(srv(), [(
        {"__name__": "process_cpu", "service_name": "lbl", "bad-name": "x"}, [cpu_pprof()])]), match="bad-name|label")


def test_unknown_format():
    rejected("format=xml", ingest("a;b 1\n", format="xml"), match="xml|format")
    rejected("format=jfr body that is not JFR", ingest(b"not a jfr recording", format="jfr"))


def test_bad_text_bodies():
    msg = rejected("folded line without a count", ingest("a;b 1\nmain;x notanumber\n", name="t.cpu"))
    check(re.search(r"line 2|:2\b|2:", msg), f"error does not name line 2: {msg!r}")
    rejected("truncated trie", ingest(b"\x00\x00\x02\x05main;", format="trie"))
    rejected("tree with a huge child count", ingest(b"\x00\x00\xff\xff\xff\xff\x0f", format="tree"))


def test_prev_profile_multipart():
    body, ctype = h.multipart([("profile", "p.pprof", cpu_pprof()), ("prev_profile", "prev.pprof", cpu_pprof())])
    rejected("multipart with prev_profile", lambda: srv().post("/ingest", body, {"name": "mp", "from": str(T0)},
                                                               {"Content-Type": ctype}))
    body, ctype = h.multipart([("other", "p.pprof", cpu_pprof())])
    rejected("multipart without profile", lambda: srv().post("/ingest", body, {"name": "mp", "from": str(T0)},
                                                             {"Content-Type": ctype}))


def test_push_missing_labels_and_bad_proto():
    rejected("Push without service_name", lambda: h.push(srv(), [({"__name__": "process_cpu"}, [cpu_pprof()])]),
             match="service_name")
    rejected("Push without __name__", lambda: h.push(srv(), [({"service_name": "x"}, [cpu_pprof()])]),
             match="__name__")
    rejected("Push JSON without service_name", lambda: h.push(srv(), [({"__name__": "process_cpu"}, [cpu_pprof()])],
                                                              use_json=True), match="service_name")
    # a good series next to a bad one: the whole request is rejected
    rejected("Push with one bad series", lambda: h.push(srv(), [
        ({"__name__": "process_cpu", "service_name": "half"}, [cpu_pprof()]),
        ({"__name__": "process_cpu"}, [cpu_pprof()])]))
    rejected("Push of garbage protobuf", lambda: srv().post("/push.v1.PusherService/Push", b"\x0a\xff\xff\xff\x0f",
                                                            headers={"Content-Type": "application/proto"}))
    rejected("Push of broken JSON", lambda: srv().post("/push.v1.PusherService/Push", b'{"series": [',
                                                       headers={"Content-Type": "application/json"}))
    rejected("Push JSON with bad base64", lambda: srv().post(
        "/push.v1.PusherService/Push",
        json.dumps({"series": [{"labels": [{"name": "__name__", "value": "process_cpu"},
                                           {"name": "service_name", "value": "b64"}],
                                "samples": [{"rawProfile": "!!!not base64!!!"}]}]}),
        headers={"Content-Type": "application/json"}))


def test_server_still_serves_after_all_that():
    s = srv()
    status, body = s.post("/ingest", "main;after 3\n", {"name": "after.cpu", "from": str(T0)})
    check(status == 200, f"good ingest after bad input: {status} {body}")
    t = h.api(s, "top", h.sel(h.CPU_TYPE, service_name="after"))
    check(h.top_map(t) == {"after": 3 * 10**7}, f"top after bad input: {t}")
    st, text = s.get("/metrics")
    check(st == 200 and "ember_" in str(text), f"/metrics: {st}")


if __name__ == "__main__":
    h.run(globals())
