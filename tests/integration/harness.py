"""harness.py - shared helpers for Ember's integration tests (stdlib only).

A test file defines functions named test_*; run() calls each, prints
"ok NAME" / "FAIL NAME" and the closing "N passed, N failed" line.
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.environ.get("EMBER_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMBER = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
DATA = os.path.join(ROOT, "tests", "data")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A real `ember server` on a free loopback port with its own data dir."""

    def __init__(self, data_dir=None, extra_args=(), env=None, self_profile=False, binary=None, wrapper=()):
        self.binary = binary or EMBER
        self.wrapper = list(wrapper)  # e.g. ["valgrind", ...]
        self.port = free_port()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ember-it-")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.self_profile = self_profile
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        args = self.wrapper + [self.binary, "server", "--http-addr", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir]
        if not self.self_profile:
            args.append("--no-self-profile")
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.read_log()[-3000:]}")
            try:
                if get(self.url + "/ready", raw=True)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server not ready in time: " + self.read_log()[-3000:])

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else 0
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        # sanitizer builds report leaks/errors at exit with a non-zero status
        if rc not in (0, None, -signal.SIGTERM) and exc[0] is None:
            raise AssertionError(f"server exited with {rc}: {self.read_log()[-4000:]}")
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return False

    # HTTP helpers bound to this server
    def get(self, path, params=None, headers=None, raw=False):
        return get(self.url + path, params, headers, raw)

    def post(self, path, body, params=None, headers=None, raw=False):
        return post(self.url + path, body, params, headers, raw)


def _do(req, raw):
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            data = r.read()
            status = r.status
            hdrs = dict(r.headers)
    except urllib.error.HTTPError as e:
        data = e.read()
        status = e.code
        hdrs = dict(e.headers)
    if raw:
        return status, data, hdrs
    try:
        return status, json.loads(data.decode() or "null")
    except ValueError:
        return status, data.decode("utf-8", "replace")


def get(url, params=None, headers=None, raw=False):
    if params:
        url += "?" + urllib.parse.urlencode(params)
    return _do(urllib.request.Request(url, headers=headers or {}), raw)


def post(url, body, params=None, headers=None, raw=False):
    if params:
        url += "?" + urllib.parse.urlencode(params)
    if isinstance(body, str):
        body = body.encode()
    return _do(urllib.request.Request(url, data=body, headers=headers or {}, method="POST"), raw)


def read_data(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def shares(top_json):
    """{function name: self share in percent} from an /api/v1/top response."""
    total = top_json["total"] or 1
    return {f["name"]: 100.0 * f["self"] / total for f in top_json["functions"]}


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def run(module_globals):
    only = os.environ.get("TEST_FILTER")
    tests = [(n, f) for n, f in module_globals.items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print(f"ok   {name} ({(time.time() - t0) * 1000:.0f} ms)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
    # a module's teardown() runs last (stops shared servers; a sanitizer report at exit fails it)
    td = module_globals.get("teardown")
    if callable(td):
        try:
            td()
            passed += 1
            print("ok   teardown", flush=True)
        except Exception:
            failed += 1
            print("FAIL teardown", flush=True)
            traceback.print_exc()
            sys.stdout.flush()
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------
# Helpers shared by the integration tests (added with the test files).

import base64  # noqa: E402
import hashlib  # noqa: E402
import re  # noqa: E402

CPU_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
CPU_SAMPLES_TYPE = "process_cpu:samples:count:cpu:nanoseconds"
HEAP_TYPES = [
    "memory:alloc_objects:count:space:bytes",
    "memory:alloc_space:bytes:space:bytes",
    "memory:inuse_objects:count:space:bytes",
    "memory:inuse_space:bytes:space:bytes",
]
INTEG = os.path.join(DATA, "integration")
CACHE = os.path.join(ROOT, "build", "test-cache")


def sel(ptype, **labels):
    """A selector string: sel(CPU_TYPE, service_name="a") -> 'TYPE{service_name="a"}'."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{ptype}{{{inner}}}"


def window(t0=None, before=3600, after=600):
    """from/until params (unix seconds) around t0 (default now)."""
    t0 = int(t0 if t0 is not None else time.time())
    return {"from": str(t0 - before), "until": str(t0 + after)}


def api(server, endpoint, query=None, headers=None, expect=200, **params):
    """GET /api/v1/ENDPOINT with query and a wide default time window; asserts the status."""
    p = dict(window())
    if query is not None:
        p["query"] = query
    p.update({k: str(v) for k, v in params.items()})
    status, body = server.get("/api/v1/" + endpoint, p, headers)
    check(status == expect, f"GET /api/v1/{endpoint} {p}: status {status} (want {expect}): {str(body)[:500]}")
    return body


def state(server, headers=None):
    """What a server holds for a tenant: (sorted profile type ids, sorted series label tuples)."""
    types = api(server, "profile-types", headers=headers, **{"from": "0", "until": str(int(time.time()) + 86400)})
    series = api(server, "series", headers=headers, **{"from": "0", "until": str(int(time.time()) + 86400)})
    t = sorted(x["id"] for x in types.get("types", []))
    s = sorted(tuple(sorted(x["labels"].items())) for x in series.get("series", []))
    return t, s


def top_map(top_json, key="self"):
    """{function: value} from /api/v1/top, functions with a non-zero value only."""
    return {f["name"]: f[key] for f in top_json["functions"] if f[key]}


# --- protobuf (hand-written encoder for PushRequest and small pprof edits) ---

def pb_varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_uint(field, n):
    return pb_varint(field << 3) + pb_varint(n)


def push_request(series):
    """Encodes push.v1.PushRequest. series: [(labels dict, [raw_profile bytes, ...]), ...]."""
    out = b""
    for labels, profiles in series:
        s = b""
        for k, v in labels.items():
            s += pb_bytes(1, pb_bytes(1, k) + pb_bytes(2, v))
        for i, raw in enumerate(profiles):
            s += pb_bytes(2, pb_bytes(1, raw) + pb_bytes(2, f"00000000-0000-4000-8000-{i:012d}"))
        out += pb_bytes(1, s)
    return out


def push_request_json(series):
    """The same request in Connect's JSON mapping (lowerCamel, base64 bytes)."""
    return json.dumps({"series": [
        {"labels": [{"name": k, "value": v} for k, v in labels.items()],
         "samples": [{"rawProfile": base64.b64encode(raw).decode(), "ID": f"id-{i}"}
                     for i, raw in enumerate(profiles)]}
        for labels, profiles in series]})


def push(server, series, headers=None, use_json=False):
    h = {"Content-Type": "application/json" if use_json else "application/proto"}
    h.update(headers or {})
    body = push_request_json(series) if use_json else push_request(series)
    return server.post("/push.v1.PusherService/Push", body, headers=h)


def pprof_with_time(data, time_ns, duration_ns=None):
    """A copy of a pprof (gzip or plain) with time_nanos (and duration) replaced; gzip output.
    Appending a scalar field works because protobuf keeps the last value."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    raw += pb_uint(9, time_ns)
    if duration_ns is not None:
        raw += pb_uint(10, duration_ns)
    return gzip.compress(raw, 6)


def multipart(parts):
    """multipart/form-data body. parts: [(field, filename, data)]. Returns (body, content_type)."""
    boundary = "ember" + hashlib.md5(os.urandom(8)).hexdigest()
    out = b""
    for name, filename, data in parts:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, "multipart/form-data; boundary=" + boundary


# --- Go toolchain: the workload profiles and `go tool pprof` ---

def go_env():
    cache = os.path.join(CACHE, "gocache")
    os.makedirs(cache, exist_ok=True)
    return dict(os.environ, GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOCACHE=cache,
                GOPATH=os.path.join(CACHE, "gopath"), GOTOOLCHAIN="local", PPROF_TMPDIR=tempfile.gettempdir())


def go_workload(cpu="3s"):
    """Builds tests/data/integration/go/main.go with golang-go and runs it once (cached in
    build/test-cache by source hash): returns the directory holding cpu.pb.gz, heap1.pb.gz,
    heap2.pb.gz, mutex.pb.gz and block.pb.gz, real runtime/pprof output."""
    src = os.path.join(INTEG, "go", "main.go")
    with open(src, "rb") as f:
        h = hashlib.sha256(f.read() + cpu.encode()).hexdigest()[:16]
    d = os.path.join(CACHE, "go-workload-" + h)
    if os.path.exists(os.path.join(d, "block.pb.gz")):
        return d
    tmp = d + f".tmp{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    exe = os.path.join(tmp, "workload")
    subprocess.run(["go", "build", "-o", exe, src], check=True, env=go_env(), cwd=tmp)
    # CPU scheduling on a busy machine blurs the 60/30/10 design; a run whose split is not even
    # in the designed order is redone (at most 3 runs) rather than cached
    for _ in range(3):
        subprocess.run([exe, "-out", tmp, "-cpu", cpu], check=True, env=go_env(), cwd=tmp)
        with open(os.path.join(tmp, "cpu.pb.gz"), "rb") as f:
            flat = Pprof(f.read()).flat("cpu")
        a, b, c = (flat.get("main.burn" + x, 0) for x in "ABC")
        if a > b > c > 0 and a >= 0.45 * sum(flat.values()):
            break
    try:
        os.rename(tmp, d)
    except OSError:  # another run made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return d


_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "hrs": 3600,
         "B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def _pprof_num(s):
    m = re.fullmatch(r"(-?[0-9.]+(?:e[+-]?\d+)?)([a-zA-Zµ]*)", s)
    if not m:
        raise ValueError("cannot parse pprof value " + repr(s))
    return float(m.group(1)) * _UNIT.get(m.group(2), 1)


def pprof_top(path, sample_index=None, base=None, nodecount=200):
    """Runs `go tool pprof -top` and parses it: {"total": value, "rows": [{"name", "flat",
    "flat_pct", "cum", "cum_pct"}]} in order. Inline markers " (inline)" are removed."""
    args = ["go", "tool", "pprof", "-top", f"-nodecount={nodecount}", "-nodefraction=0", "-edgefraction=0"]
    if sample_index:
        args.append("-sample_index=" + sample_index)
    if base:
        args += ["-base", base]
    args += path if isinstance(path, (list, tuple)) else [path]
    r = subprocess.run(args, capture_output=True, text=True, env=go_env(), timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {r.stderr[-2000:]}")
    rows, total, seen_header = [], None, False
    for line in r.stdout.splitlines():
        m = re.search(r"of (\S+) total", line)
        if m and total is None:
            total = _pprof_num(m.group(1))
        if re.match(r"\s*flat\s+flat%", line):
            seen_header = True
            continue
        if not seen_header or not line.strip():
            continue
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        name = re.sub(r" \(inline\)$", "", parts[5].strip())
        rows.append({"name": name, "flat": _pprof_num(parts[0]), "flat_pct": float(parts[1].rstrip("%")),
                     "cum": _pprof_num(parts[3]), "cum_pct": float(parts[4].rstrip("%"))})
    check(seen_header, f"no table in go tool pprof output: {r.stdout[:1000]} {r.stderr[:1000]}")
    return {"total": total, "rows": rows, "text": r.stdout}


def pprof_flat_pct(path, sample_index=None, base=None):
    """{function: flat%} from go tool pprof -top."""
    return {r["name"]: r["flat_pct"] for r in pprof_top(path, sample_index, base)["rows"]}


def run_cmd(args, timeout=120, input=None, env=None):
    """Runs a command; returns CompletedProcess with text output."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input, env=env)


# --- a small pprof decoder (for exact expected values) ---

def _pb_fields(buf):
    """Yields (field, wiretype, value) of one protobuf message; value is int or bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _pb_read_varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _pb_read_varint(buf, i)
        elif wt == 2:
            ln, i = _pb_read_varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError(f"bad wire type {wt} at byte {i}")
        yield f, wt, v


def _pb_read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _pb_packed(wt, v):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _pb_read_varint(v, i)
        out.append(x)
    return out


def _s64(x):
    return x - (1 << 64) if x >= 1 << 63 else x


class Pprof:
    """Decoded pprof: sample_types [(type, unit)], samples [(loc_ids leaf first, values)],
    locations {id: [function names, innermost first]}, time_nanos, duration_nanos."""

    def __init__(self, data):
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        strings, st, samples, locs, funcs = [], [], [], {}, {}
        self.time_nanos = self.duration_nanos = 0
        for f, wt, v in _pb_fields(raw):
            if f == 6:
                strings.append(v.decode("utf-8", "replace"))
            elif f == 1:
                d = dict((ff, vv) for ff, _, vv in _pb_fields(v))
                st.append((d.get(1, 0), d.get(2, 0)))
            elif f == 2:
                ids, vals = [], []
                for ff, wt2, vv in _pb_fields(v):
                    if ff == 1:
                        ids += _pb_packed(wt2, vv)
                    elif ff == 2:
                        vals += [_s64(x) for x in _pb_packed(wt2, vv)]
                samples.append((ids, vals))
            elif f == 4:
                lid, fids = 0, []
                for ff, _, vv in _pb_fields(v):
                    if ff == 1:
                        lid = vv
                    elif ff == 4:
                        fids.append(dict((a, b) for a, _, b in _pb_fields(vv)).get(1, 0))
                locs[lid] = fids
            elif f == 5:
                d = dict((ff, vv) for ff, _, vv in _pb_fields(v))
                funcs[d.get(1, 0)] = d.get(2, 0)
            elif f == 9:
                self.time_nanos = v
            elif f == 10:
                self.duration_nanos = v
        self.strings = strings
        self.sample_types = [(strings[a], strings[b]) for a, b in st]
        self.samples = samples
        self.locations = {lid: [strings[funcs.get(fid, 0)] for fid in fids] for lid, fids in locs.items()}

    def index(self, sample_type):
        for i, (t, _) in enumerate(self.sample_types):
            if t == sample_type:
                return i
        raise KeyError(sample_type)

    def flat(self, sample_type):
        """{function: sum of values where it is the leaf (innermost) frame}."""
        i = self.index(sample_type)
        out = {}
        for ids, vals in self.samples:
            if not ids or not vals[i]:
                continue
            names = self.locations.get(ids[0]) or ["?"]
            out[names[0]] = out.get(names[0], 0) + vals[i]
        return out

    def total(self, sample_type):
        i = self.index(sample_type)
        return sum(v[i] for _, v in self.samples)


_shared = {}


def shared_server(key="default", **kw):
    """One server per test file (started on first use); stop it with stop_shared()."""
    if key not in _shared:
        _shared[key] = Server(**kw).start()
    s = _shared[key]
    if s.proc.poll() is not None:
        raise AssertionError(f"the shared server died earlier (exit {s.proc.returncode}); its log ends:\n"
                             + s.read_log()[-4000:])
    return s


def stop_shared():
    """Stops the shared servers with SIGTERM; fails if one did not exit cleanly (status 0)."""
    errs = []
    for key, s in list(_shared.items()):
        rc = s.stop()
        if rc not in (0, -signal.SIGTERM):
            errs.append(f"server {key} exited with {rc}: {s.read_log()[-4000:]}")
        if s.own_dir:
            shutil.rmtree(s.data_dir, ignore_errors=True)
        try:
            os.unlink(s.log_path)
        except OSError:
            pass
        del _shared[key]
    check(not errs, "\n".join(errs))
