"""Gunicorn settings for `gunicorn wsgi:app` (read from the working directory automatically).

Every value can be changed from the environment, so a container or a systemd unit sets
variables instead of editing this file; command-line flags still win over both.

    GUNICORN_BIND            where to listen          (default 127.0.0.1:8000; PORT=8080 → 0.0.0.0:8080)
    WEB_CONCURRENCY          worker processes         (default 2 × cores + 1, at most 8)
    GUNICORN_TIMEOUT         seconds a request may run before its worker is replaced (default 60)
    GUNICORN_ACCESS_LOG      access log file, "-" for stdout (the default), "" to switch it off
    GUNICORN_ERROR_LOG       error log file, "-" for stderr (the default)
    GUNICORN_LOG_LEVEL       debug, info (default), warning, error
    PROMETHEUS_MULTIPROC_DIR where workers keep their metrics (default: a new temporary directory
                             per start, removed at exit; see docs/observability.md)
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any


def _bind() -> str:
    if os.environ.get("GUNICORN_BIND"):
        return os.environ["GUNICORN_BIND"]
    if os.environ.get("PORT"):  # the platform convention (Heroku, Cloud Run…): listen on all interfaces
        return f"0.0.0.0:{os.environ['PORT']}"
    return "127.0.0.1:8000"  # safe default: reachable only through a reverse proxy on this host


def _workers() -> int:
    if os.environ.get("WEB_CONCURRENCY"):
        return int(os.environ["WEB_CONCURRENCY"])
    # Gunicorn's rule of thumb, capped: each worker holds its own connection pool, and
    # SQLite serialises writers anyway.
    return min(multiprocessing.cpu_count() * 2 + 1, 8)


bind = _bind()
workers = _workers()
worker_class = "sync"  # the app is synchronous; put nginx (or another buffering proxy) in front

# A request slower than this is stuck: the master kills its worker and starts another.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # on SIGTERM/SIGHUP, in-flight requests get this long to finish
keepalive = 5  # seconds to hold an idle keep-alive connection (behind a proxy on the same host)

# Recycle workers now and then so slow leaks in libraries cannot grow for months. The
# jitter is wide (each worker draws its limit between 1× and 1.5×) because workers share
# the load evenly: with gunicorn's usual 10 %, two workers often reached their limits
# within a second of each other and left no worker to answer while both restarted.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 2

# Request-line and header limits, gunicorn's defaults written out; bodies are limited
# by the app (MAX_CONTENT_LENGTH → 413).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Who, what, status, bytes, and how long it took (microseconds) — enough to find slow requests.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus "%(a)s"'

# The heartbeat file on a RAM disk: a slow or full /tmp must not make workers look dead.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Each worker imports wsgi.py itself (no preload_app), so each opens its own database
# connections after the fork, and a reload (SIGHUP) starts workers on the new code; the
# schema upgrade in wsgi.py is serialised by migrations/env.py.
preload_app = False

# The libraries, though, are imported once by the master: workers forked from it start in
# about 0.1 s instead of 0.9 s. That matters each time max_requests recycles a worker: on
# this 2-core machine a cold boot took the p99 of a wrk run of GETs from 4 ms to 700 ms.
# (After upgrading these libraries, restart gunicorn; a reload keeps the old ones.)
SHARED_LIBRARIES = (
    "flask", "flask_sqlalchemy", "flask_wtf", "flask_migrate", "alembic", "sqlalchemy", "pydantic", "pandas", "pyarrow",
    "prometheus_client",
)


def on_starting(server: Any) -> None:
    _prepare_metrics_directory(server)  # first: prometheus_client picks its mode when imported
    for name in SHARED_LIBRARIES:
        importlib.import_module(name)
    if not _migrating():
        server.log.info("AUTO_MIGRATE=0: schema not checked")
    elif _upgrade_schema():
        server.log.info("Database schema is up to date")
    else:
        on_exit(server)  # gunicorn stops without calling it
        raise RuntimeError("the app could not start or bring its database schema up to date (see above)")


def on_reload(server: Any) -> None:
    """SIGHUP: new code may bring new migrations; run them before the new workers start."""
    if _migrating() and not _upgrade_schema():
        server.log.error("The schema upgrade failed (see above); new workers start on the old schema")


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended (recycled, killed, crashed): its counters stay in the metrics directory,
    so totals keep its requests; only its live-gauge files go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    made = os.environ.get(_MADE_METRICS_DIRECTORY)
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)


# prometheus_client's multiprocess mode: each worker writes its metrics to files in this
# directory and /metrics adds up all of them. Files of a previous run would add its counts
# to this one, so every start begins with an empty directory. The name is kept in the
# environment, not in this module, because a reload (SIGHUP) reads this file afresh.
_MADE_METRICS_DIRECTORY = "ARTIFACT_STORE_MADE_METRICS_DIR"
_METRICS_FILE = re.compile(r"(counter|gauge|histogram|summary)_.+\.db")


def _prepare_metrics_directory(server: Any) -> None:
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given and given != os.environ.get(_MADE_METRICS_DIRECTORY):  # the operator's: kept at exit
        os.makedirs(given, exist_ok=True)
        for entry in os.scandir(given):
            if _METRICS_FILE.fullmatch(entry.name):
                os.unlink(entry.path)
        server.log.info("Metrics of this run are kept in %s", given)
        return
    ram_disk = "/dev/shm" if os.path.isdir("/dev/shm") else None  # as for worker_tmp_dir
    made = tempfile.mkdtemp(prefix="artifact-store-metrics-", dir=ram_disk)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_MADE_METRICS_DIRECTORY] = made


def _migrating() -> bool:
    # As webapp/config.py reads AUTO_MIGRATE; not imported from there, as the master must
    # not import the app (see _upgrade_schema).
    return os.environ.get("AUTO_MIGRATE", "1").lower() not in {"0", "false", "no"}


def _upgrade_schema() -> bool:
    """Migrate once, here in the master, before any worker starts.

    Then no worker has to touch the schema (each one only checks it is current), so a
    worker that gunicorn recycles or replaces while the database is down still boots and
    answers 503, instead of failing to boot, which makes gunicorn stop altogether. It runs
    in a child process so the master never imports the app: SIGHUP still reloads its code.
    """
    command = [sys.executable, "-m", "flask", "--app", "webapp", "init-db"]
    return subprocess.run(command, stdout=subprocess.DEVNULL, check=False).returncode == 0
