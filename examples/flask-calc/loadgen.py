"""loadgen.py - drives the flask-calc app with the standard library only.

python3 loadgen.py [--url http://127.0.0.1:5000] [--duration 30] [--workers 2] [--paths /calc,/sleep,/alloc]
Prints requests, errors and requests/s per path when done.
"""
import argparse
import collections
import threading
import time
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:5000")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--paths", default="/calc,/sleep,/alloc")
    args = ap.parse_args()
    if not (0 < args.duration <= 3600) or not (1 <= args.workers <= 64):
        ap.error("duration must be in (0, 3600] s and workers in 1..64")
    paths = [p for p in args.paths.split(",") if p]
    ok = collections.Counter()
    errors = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration

    def worker(k):
        i = k
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            try:
                with urllib.request.urlopen(args.url + path, timeout=10) as r:
                    r.read()
                with lock:
                    ok[path] += 1
            except (urllib.error.URLError, OSError):
                with lock:
                    errors[path] += 1
                time.sleep(0.05)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    for p in paths:
        print(f"{p}: {ok[p]} ok, {errors[p]} errors, {ok[p] / elapsed:.1f} req/s")
    print(f"total: {sum(ok.values())} ok, {sum(errors.values())} errors, {sum(ok.values()) / elapsed:.1f} req/s")


if __name__ == "__main__":
    main()
