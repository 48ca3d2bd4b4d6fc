#!/usr/bin/env python3
"""What request ids, metrics and the request log add to the hot path (GET one artifact by id).

    python bench/bench_request_overhead.py
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) python bench/bench_request_overhead.py   # as under gunicorn

Drives the app through Flask's test client (no network, no gunicorn) and, in one process,
alternates rounds with the observability hooks on, on without the request log line, and
off, so the three are measured under the same conditions. The log lines are really
formatted and written, to /dev/null. Counts CPU time of this process (time.process_time),
which other programs on a busy machine disturb less than wall time. Prints the median and
best round per mode, in microseconds per request.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app, observability  # noqa: E402
from webapp.extensions import db  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                          "AUTH_ANONYMOUS": "write", "METRICS_ANONYMOUS": True})
        before, after = list(app.before_request_funcs[None]), list(app.after_request_funcs[None])
        modes = {
            "hooks and log line": (before, after, logging.INFO),
            "hooks, no log line": (before, after, logging.WARNING),
            "no hooks": ([f for f in before if f is not observability._start_request], [], logging.WARNING),
        }
        client = app.test_client()
        url = f"/api/v1/artifacts/{client.post('/api/v1/artifacts', json={'data': {}}).get_json()['id']}"
        real_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # the test client's wsgi.errors
        try:
            for _ in range(300):  # warm up caches and connections
                client.get(url)
            results: dict[str, list[float]] = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode, (before_funcs, after_funcs, level) in modes.items():
                    app.before_request_funcs[None], app.after_request_funcs[None] = before_funcs, after_funcs
                    observability.request_log.setLevel(level)
                    started = time.process_time()
                    for _ in range(args.requests):
                        assert client.get(url).status_code == 200
                    results[mode].append((time.process_time() - started) / args.requests * 1e6)
        finally:
            sys.stderr = real_stderr
        with app.app_context():
            db.engine.dispose()
    kind = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "in-process"
    print(f"GET /api/v1/artifacts/<id>, {kind} metrics, CPU µs per request:")
    for mode, rounds in results.items():
        print(f"  {mode:20s} median {statistics.median(rounds):4.0f}  best {min(rounds):4.0f}")


if __name__ == "__main__":
    main()
