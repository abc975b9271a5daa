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

    def __init__(self, data_dir=None, extra_args=(), env=None, self_profile=False):
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
        args = [EMBER, "server", "--http-addr", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir]
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
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
