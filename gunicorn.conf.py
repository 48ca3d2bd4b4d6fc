"""Gunicorn settings for `gunicorn wsgi:app` (read from the working directory automatically).

Every value can be changed from the environment, so a container or a systemd unit sets
variables instead of editing this file; command-line flags still win over both.

    GUNICORN_BIND            where to listen          (default 127.0.0.1:8000; PORT=8080 → 0.0.0.0:8080)
    WEB_CONCURRENCY          worker processes         (default 2 × cores + 1, at most 8)
    GUNICORN_THREADS         threads per worker, each serving one request at a time (default 8)
    GUNICORN_HEADER_TIMEOUT  seconds a client has to send a request's line and headers (default 10)
    GUNICORN_BODY_TIMEOUT    seconds a request body (or a response) may make no progress (default 30)
    GUNICORN_TIMEOUT         seconds a worker's main loop may stall before the worker is replaced (default 60)
    GUNICORN_ACCESS_LOG      access log file, "-" for stdout (the default), "" to switch it off
    GUNICORN_ERROR_LOG       error log file, "-" for stderr (the default)
    GUNICORN_LOG_LEVEL       debug, info (default), warning, error
    PROMETHEUS_MULTIPROC_DIR where workers keep their metrics (default: a new temporary directory
                             per start, removed at exit; see docs/observability.md)
"""

from __future__ import annotations

import errno
import importlib
import multiprocessing
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers import gthread


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

# Threads, so that a slow client costs one thread rather than a whole worker: while one
# upload trickles in, or an export streams out, the worker's other threads go on answering.
# Heavy work stays bounded per worker whatever the thread count (FrameService parses one
# CSV at a time per worker; see docs/performance.md, "Memory"). Each thread that queries
# holds one database connection: SQLAlchemy's pool gives a worker DATABASE_POOL_SIZE
# (default: this number) plus 10 overflow, so no thread waits for a connection.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
os.environ.setdefault("DATABASE_POOL_SIZE", str(threads))  # read by the workers' app (webapp/config.py)
# Connections a worker holds at once: stalled and kept-alive ones cost a socket each, no thread.
worker_connections = 1000

# gthread's main loop heartbeats whatever its threads do, so a long request (a 100 s
# upload, a big export) is never killed for taking long: this only replaces a worker
# whose main loop itself is stuck. Slow clients are cut off by the two timeouts below.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
header_timeout = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "10"))
body_timeout = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "30"))
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


class HeadBufferingWorker(gthread.ThreadWorker):
    """gthread, except that a request's line and headers are read by the worker's event loop
    (as nginx does) and a thread is taken only once they are all there.

    Plain gthread hands a connection to a thread as soon as it is readable; a client that
    sends half a request and stalls then holds that thread until it goes away, and a few
    such sockets hold them all. Here such a socket costs a connection: after
    `header_timeout` seconds without a complete head it is answered 408 and closed. Once
    a thread serves the request, every read and write of the body and the response must
    make progress within `body_timeout` seconds (a body that stalls that long ends the
    request with a 400; a 9 KB/s upload never stalls that long, and takes as long as it needs).
    Under TLS terminated by gunicorn itself, heads are read by the threads as in plain gthread.
    """

    HEAD_END = b"\r\n\r\n"
    READ_SIZE = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heading: deque[Any] = deque()  # connections reading a head, oldest deadline first
        cfg = self.cfg
        # The longest head the parser accepts; past it, the parser's own error answers.
        self.max_head = cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:
            return super().accept(listener)
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._read_head(gthread.TConn(self.cfg, client, address, listener.getsockname()))  # non-blocking

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request: its head, too, is read here."""
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        conn.sock.setblocking(False)
        self._read_head(conn)

    def _read_head(self, conn: Any) -> None:
        conn.head = bytearray()
        conn.head_deadline = time.monotonic() + header_timeout
        self.heading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_readable, conn))

    def _on_head_readable(self, conn: Any, client: Any) -> None:
        try:
            data = conn.sock.recv(self.READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop_heading(conn)
            return
        conn.head += data
        if self.HEAD_END in conn.head or b"\n\n" in conn.head or len(conn.head) > self.max_head:
            self.poller.unregister(conn.sock)
            self.heading.remove(conn)
            conn.data_ready = True  # no waiting for data in the thread: it is here
            self.enqueue_req(conn)

    def _drop_heading(self, conn: Any, answer: bytes = b"") -> None:
        self.heading.remove(conn)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        if answer:
            try:
                conn.sock.send(answer)  # non-blocking, best effort: the client may not be reading
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Called by the main loop about once a second: heads past their deadline get a 408."""
        super().murder_pending()
        now = time.monotonic()
        while self.heading and self.heading[0].head_deadline <= now:
            self._drop_heading(self.heading[0], REQUEST_TIMEOUT_RESPONSE)

    def handle(self, conn: Any) -> Any:
        """In a thread: give the parser the head read so far, then serve the request as gthread does."""
        head = getattr(conn, "head", None)
        if head is not None:
            conn.head = None
            conn.sock.setblocking(True)
            conn.init()  # creates the parser on a new connection (a no-op on a kept-alive one)
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        conn.sock.settimeout(body_timeout)  # every body read and response write from here on
        return super().handle_request(req, conn)


REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 37\r\n\r\nThe request's headers took too long.\n"
)

worker_class = HeadBufferingWorker


def on_starting(server: Any) -> None:
    _prepare_metrics_directory(server)  # first: prometheus_client picks its mode when imported
    for name in SHARED_LIBRARIES:
        importlib.import_module(name)
    if not _migrating():
        server.log.info("AUTO_MIGRATE=0: schema not checked")
    elif _upgrade_schema():
        server.log.info("Database schema is up to date")
        # That run printed the set-up link if no account exists; the workers must not issue
        # others (each would void the one before: webapp/access.py, announce_setup_link).
        os.environ["ARTIFACT_STORE_SETUP_LINK_ISSUED"] = "1"
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
