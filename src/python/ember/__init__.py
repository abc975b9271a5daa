"""Ember's Python agent: continuous CPU, wall-clock and allocation profiling.

Two lines start it::

    import ember
    ember.configure(application_name="flask-calc", server_address="http://127.0.0.1:4040")

The API is shaped like pyroscope-io's (configure, tag_wrapper, shutdown), so
switching is a matter of the import. Sampling, aggregation and upload run in
native threads of the _ember extension; nothing here raises into or blocks
the application once profiling runs.
"""
import atexit
import contextlib
import os
import sys
import sysconfig
import threading
import warnings

from . import _ember

__all__ = ["configure", "shutdown", "tag_wrapper", "add_thread_tag", "remove_thread_tag", "stats"]

DEFAULT_SERVER = "http://127.0.0.1:4040"
_lock = threading.Lock()
_configured = False
_local = threading.local()
_tag_ids = {}  # tuple(sorted(tags.items())) -> native tag-set id


def _env_tags():
    """EMBER_TAGS=k=v,k=v as a dict (malformed entries are skipped with a warning)."""
    out = {}
    for part in os.environ.get("EMBER_TAGS", "").split(","):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            warnings.warn(f"ember: EMBER_TAGS entry {part!r} is not k=v; ignored")
            continue
        out[k.strip()] = v.strip()
    return out


def _env_number(name, kind, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        warnings.warn(f"ember: {name}={raw!r} is not a number; using {default}")
        return default


def configure(application_name=None, server_address=None, sample_rate=None, tags=None,
              oncpu=True, wall=True, enable_alloc=True, tenant_id=None, auth_token=None,
              upload_interval=None, alloc_interval=None, max_pending_bytes=8 << 20, **pyroscope_options):
    """Starts profiling this process and uploading to an Ember (or Pyroscope) server.

    Arguments not given come from the environment: EMBER_APPLICATION_NAME,
    EMBER_SERVER_ADDRESS, EMBER_SAMPLE_RATE (Hz), EMBER_TAGS (k=v,k=v),
    EMBER_UPLOAD_INTERVAL (seconds), EMBER_ALLOC_SAMPLE_BYTES, EMBER_TENANT_ID,
    EMBER_PROFILES (cpu,wall,alloc: which to collect),
    EMBER_AUTH_TOKEN, EMBER_CPU_SAMPLER (perf: task-clock events, the default; timer:
    thread CPU timers, used when perf_event_open is refused; perf-user: without system
    time). pyroscope-io options that have no meaning here (gil_only, report_pid, detect_subprocesses, ...) are accepted and ignored.
    Calling configure() again restarts with the new settings.
    Raises ValueError/TypeError for bad arguments; a failure to start the
    native sampler is reported as a warning, never raised.
    """
    global _configured
    app = application_name or os.environ.get("EMBER_APPLICATION_NAME") or \
        os.path.basename(sys.argv[0] or "python") or "python"
    server = server_address or os.environ.get("EMBER_SERVER_ADDRESS") or DEFAULT_SERVER
    rate = int(sample_rate if sample_rate is not None else _env_number("EMBER_SAMPLE_RATE", int, 100))
    interval = float(upload_interval if upload_interval is not None
                     else _env_number("EMBER_UPLOAD_INTERVAL", float, 10.0))
    alloc_bytes = int(alloc_interval if alloc_interval is not None
                      else _env_number("EMBER_ALLOC_SAMPLE_BYTES", int, 512 * 1024))
    profiles = os.environ.get("EMBER_PROFILES")
    if profiles:  # e.g. EMBER_PROFILES=cpu,wall,alloc (as for libember.so) switches off what is absent
        names = {p.strip() for p in profiles.split(",")}
        oncpu, wall, enable_alloc = oncpu and "cpu" in names, wall and "wall" in names, \
            enable_alloc and "alloc" in names
    series_tags = _env_tags()
    series_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
    tenant = tenant_id or os.environ.get("EMBER_TENANT_ID") or None
    token = auth_token or os.environ.get("EMBER_AUTH_TOKEN") or None
    paths = [p for p in sys.path if p]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p and p not in paths:
            paths.append(p)
    paths = [os.path.abspath(p) for p in paths]
    with _lock:
        if _configured:
            _ember.stop(0.5)
        try:
            _ember.start(app, server, sample_rate=rate, tags=series_tags, oncpu=bool(oncpu),
                         wall=bool(wall), enable_alloc=bool(enable_alloc), alloc_interval=alloc_bytes,
                         tenant_id=tenant, auth_token=token, upload_interval=interval, sys_path=paths,
                         max_pending_bytes=int(max_pending_bytes))
        except OSError as e:
            warnings.warn(f"ember: profiling not started: {e}")
            _configured = False
            return
        _configured = True


def shutdown(flush_timeout=2.0):
    """Stops profiling; the last interval is uploaded within flush_timeout seconds."""
    global _configured
    with _lock:
        if _configured:
            _ember.stop(float(flush_timeout))
            _configured = False


def stats():
    """Counters of the native agent (samples, drops, uploads, failures, pending bytes)."""
    return _ember.stats()


def _stack():
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = [{}]
    return s


def _apply(tags):
    key = tuple(sorted((str(k), str(v)) for k, v in tags.items()))
    tid = _tag_ids.get(key)
    if tid is None:
        tid = _ember.tag_id(dict(key)) if key else 0
        if len(_tag_ids) < 4096:
            _tag_ids[key] = tid
    _ember.set_tag(tid)


@contextlib.contextmanager
def tag_wrapper(tags):
    """Labels the samples of the calling thread with tags inside the with block (nests)."""
    stack = _stack()
    merged = dict(stack[-1])
    merged.update(tags)
    stack.append(merged)
    _apply(merged)
    try:
        yield
    finally:
        stack.pop()
        _apply(stack[-1])


def add_thread_tag(key, value):
    """Adds one tag to the calling thread until remove_thread_tag (pyroscope-io compatible)."""
    stack = _stack()
    stack[-1] = dict(stack[-1], **{str(key): str(value)})
    _apply(stack[-1])


def remove_thread_tag(key, value=None):
    stack = _stack()
    top = dict(stack[-1])
    top.pop(str(key), None)
    stack[-1] = top
    _apply(top)


def _after_fork_in_child():
    _ember._after_fork_child()


_orig_bootstrap_inner = threading.Thread._bootstrap_inner


def _bootstrap_inner(self):
    # a new thread gets its CPU timer at once (short-lived request threads
    # would end before the sampler's next /proc scan finds them)
    try:
        _ember.register_thread()
    except Exception:  # never let profiling break a thread
        pass
    _orig_bootstrap_inner(self)


threading.Thread._bootstrap_inner = _bootstrap_inner
atexit.register(shutdown)
os.register_at_fork(after_in_child=_after_fork_in_child)
