"""flask-calc - the Ember walkthrough app: /calc is slow, and calc3 is why.

Run:   PYTHONPATH=build/python python3 examples/flask-calc/app.py   (port 5000, or $PORT)
Load:  python3 examples/flask-calc/loadgen.py --duration 30

Each /calc request spends a known share of CPU in each step: calc1 10 %,
calc2 20 %, calc3 70 % (measured with the thread's own CPU clock, so the
split holds however busy the machine is). /sleep waits (wall time, no CPU);
/alloc allocates about 2 MB in build_records and keeps the last few results
(the calc loops use small cached ints only, so they allocate nothing).
"""
import collections
import os
import time

import ember
from flask import Flask, jsonify

ember.configure(
    application_name=os.environ.get("EMBER_APPLICATION_NAME", "flask-calc"),
    server_address=os.environ.get("EMBER_SERVER_ADDRESS", "http://127.0.0.1:4040"),
)
import ember.flask  # noqa: E402  (labels samples with the endpoint)

app = Flask(__name__)
ember.flask.init_app(app)

# CPU milliseconds per /calc request: the known 10/20/70 split
CALC_MS = float(os.environ.get("CALC_MS", "10"))
SPLIT = (0.10, 0.20, 0.70)
_kept = collections.deque(maxlen=8)


def calc1():
    end = time.thread_time() + CALC_MS * SPLIT[0] / 1000.0
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x ^= i
    return x


def calc2():
    end = time.thread_time() + CALC_MS * SPLIT[1] / 1000.0
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x ^= i
    return x


def calc3():
    end = time.thread_time() + CALC_MS * SPLIT[2] / 1000.0
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x ^= i
    return x


def wait_for_backend(seconds):
    time.sleep(seconds)


def build_records(n):
    out = []
    for i in range(n):
        out.append(bytes(1024 + i % 8))  # one ~1 KiB object each
    return out


@app.route("/calc")
def calc():
    return jsonify(result=calc1() ^ calc2() ^ calc3())


@app.route("/sleep")
def sleep():
    wait_for_backend(float(os.environ.get("SLEEP_S", "0.05")))
    return jsonify(slept=True)


@app.route("/alloc")
def alloc():
    records = build_records(2000)
    _kept.append(records)
    return jsonify(records=len(records))


@app.route("/health")
def health():
    return "ok"


def serve(port, workers=8):
    """Serves app with a fixed pool of long-lived worker threads, as gunicorn's
    gthread workers or waitress do (Flask's development server starts a new
    thread per request instead)."""
    from concurrent.futures import ThreadPoolExecutor

    from werkzeug.serving import BaseWSGIServer

    class PooledServer(BaseWSGIServer):
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")

        def process_request(self, request, client_address):
            self.pool.submit(self.handle_one, request, client_address)

        def handle_one(self, request, client_address):
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    server = PooledServer("127.0.0.1", port, app)
    print(f"flask-calc on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    if os.environ.get("FLASK_CALC_SERVER") == "dev":
        app.run(host="127.0.0.1", port=port, threaded=True)
    else:
        serve(port)
