"""Observability: Prometheus metrics at /metrics, an X-Request-ID on every response, and one
JSON log line per request. `init_app(app)` wires it all; docs/observability.md describes it.

In one process (flask run, the test client) the metrics live in the app's own registry.
Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the workers fork, so
prometheus_client writes each worker's values to files there, and a scrape, whichever
worker answers it, adds up the files of all workers, living or dead.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from functools import partial
from time import perf_counter
from typing import Any
from uuid import uuid4

import orjson
from flask import Blueprint, Flask, Request, Response, current_app, g, has_request_context, request
from flask.logging import default_handler, has_level_handler, wsgi_errors_stream
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db
from webapp.store import get_store

PREFIX = "artifact_store_"
REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept if it is printable ASCII without spaces, and not absurdly long:
# anything else could forge log lines or bloat them, so it is replaced.
SANE_REQUEST_ID = re.compile(r"[!-~]{1,128}")
# Label values must come from a small fixed set, or every odd path or method a client
# invents would become a new time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED = "unmatched"  # routing found no rule: 404, 405, and redirects to a canonical URL
# Seconds. Reads by id take well under a millisecond, big trees and uploads seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

request_log = logging.getLogger("artifact_store.requests")
log = logging.getLogger(__name__)

bp = Blueprint("observability", __name__)


class Metrics:
    """The app's metric objects. Their values live in memory, or in the multiprocess files."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry  # None in multiprocess mode: a scrape reads the files instead
        self.requests = Counter(
            PREFIX + "http_requests_total",
            "HTTP requests answered, by Flask endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from the start of the request to its response being ready, by endpoint and method.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.database_errors = Counter(
            PREFIX + "database_errors_total",
            "Database errors that reached a request, by SQLAlchemy exception class.",
            ["kind"],
            registry=registry,
        )


def init_app(app: Flask) -> None:
    # The `_created` series (a timestamp per counter) only exist in one-process mode; without
    # them both modes expose the same series. (A global switch: no other library here has metrics.)
    disable_created_metrics()
    multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    registry = None if multiprocess else CollectorRegistry()
    if registry is not None:
        registry.register(ArtifactsByLevel())
    app.extensions["observability"] = metrics = Metrics(registry)
    # First of all before-request functions, so even a request that an earlier hook
    # refuses (CSRF, …) has its id and start time.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(partial(_finish_request, metrics))
    app.register_blueprint(bp)
    _configure_logging()


# Request ids --------------------------------------------------------------------------


def request_id() -> str | None:
    """The current request's id (the proxy's X-Request-ID if sane, else a new one); None outside requests."""
    if not has_request_context():
        return None
    # Each access through a proxy (g, request) costs about a microsecond: bind them once.
    store = g._get_current_object()
    rid: str | None = store.get("request_id")
    if rid is None:
        incoming = request._get_current_object().headers.get(REQUEST_ID_HEADER, "")
        rid = store.request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid4().hex
    return rid


def _start_request() -> None:
    g.request_started = perf_counter()
    request_id()


def _finish_request(metrics: Metrics, response: Response) -> Response:
    finished = perf_counter()
    req = request._get_current_object()
    elapsed = finished - g.get("request_started", finished)
    rid = request_id()
    response.headers[REQUEST_ID_HEADER] = rid
    endpoint = req.endpoint or UNMATCHED
    method = req.method if req.method in METHODS else OTHER_METHOD
    metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
    metrics.latency.labels(endpoint, method).observe(elapsed)
    if request_log.isEnabledFor(logging.INFO):
        request_log.info(_request_line(req, rid, endpoint, response, elapsed))
    return response


def _request_line(req: Request, rid: str | None, endpoint: str, response: Response, elapsed: float) -> str:
    """One JSON object. The query string stays out: it may hold search text."""
    size = response.content_length
    if size is None and not response.is_streamed:
        size = response.calculate_content_length()
    fields = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": rid,
        "method": req.method,
        "path": req.path,
        "endpoint": endpoint,
        "status": response.status_code,
        "duration_ms": round(elapsed * 1000, 3),
        "bytes": size,
        "remote_addr": req.remote_addr,
        "pid": os.getpid(),
    }
    return orjson.dumps(fields).decode()


def count_database_error(error: SQLAlchemyError) -> None:
    """Count a database error that reached a request (webapp/errors.py calls this)."""
    metrics: Metrics | None = current_app.extensions.get("observability")
    if metrics is not None:
        metrics.database_errors.labels(type(error).__name__).inc()


# Logging ------------------------------------------------------------------------------

_request_handler = logging.StreamHandler(wsgi_errors_stream)  # gunicorn's error log, else stderr
_request_handler.setFormatter(logging.Formatter("%(message)s"))
APP_LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s [%(request_id)s]: %(message)s"


def _add_request_ids_to_log_records() -> None:
    """Every log record gets `request_id` ("-" outside a request), so any formatter, the
    operator's too, can show it. (So `extra={"request_id": …}` is refused by logging.)"""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "adds_request_id", False):
        return

    def record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = request_id() or "-"
        return record

    record_with_request_id.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_id)


def _configure_logging() -> None:
    """Idempotent, as every app calls it; an operator's own logging set-up (handlers, levels) wins."""
    _add_request_ids_to_log_records()
    if request_log.level == logging.NOTSET:
        request_log.setLevel(logging.INFO)
    if not has_level_handler(request_log):
        request_log.addHandler(_request_handler)
    default_handler.setFormatter(logging.Formatter(APP_LOG_FORMAT))  # Flask's handler of app logs


# Metrics ------------------------------------------------------------------------------


class ArtifactsByLevel:
    """The artifacts-by-level gauge, computed when scraped, by the process that answers.

    Not a multiprocess gauge: each worker would report the same count and a scrape would
    add them up. A scrape during a database outage still returns the other metrics.
    """

    name = PREFIX + "artifacts"
    documentation = "Artifacts stored, by hierarchy, level (0 = roots) and the hierarchy's label for it."
    labels = ["hierarchy", "level", "label"]

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> list[GaugeMetricFamily]:
        try:
            counts = get_store().artifacts.count_by_hierarchy()
        except SQLAlchemyError as error:
            db.session.rollback()
            count_database_error(error)
            log.warning("artifacts by level not counted, the database failed: %s", error)
            return []
        hierarchies = get_store().policy.hierarchies
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for name in [*hierarchies, *sorted(set(counts) - set(hierarchies))]:
            # Declared levels are always there, at 0 when empty: "none yet" is not "not reported".
            stored = counts.get(name, {})
            for level in sorted(set(hierarchies.of(name).level_labels) | set(stored)):
                family.add_metric([name, str(level), hierarchies.label_for(name, level)], stored.get(level, 0))
        return [family]


class WorkerFilesCollector(MultiProcessCollector):
    """The workers' metric files, leaving out one that a starting worker has created but not
    yet sized: prometheus_client opens it empty, then extends it, and reading it in between
    fails (a scrape during a worker's restart answered 500). Such a file holds no values yet."""

    def collect(self) -> Any:
        files = []
        for entry in os.scandir(self._path):
            try:
                if entry.name.endswith(".db") and entry.stat().st_size >= 8:  # 8: the header's "used" bytes
                    files.append(entry.path)
            except FileNotFoundError:  # a dead worker's file, merged away meanwhile
                continue
        return self.merge(files, accumulate=True)


@bp.get("/metrics")
def metrics() -> Response:
    """Every metric in the Prometheus text format. Open to anyone for now (see the docs)."""
    own: Metrics = current_app.extensions["observability"]
    registry = own.registry
    if registry is None:  # multiprocess: the files of every worker, plus the gauge counted here
        registry = CollectorRegistry()
        registry.register(ArtifactsByLevel())  # first, so a database error it counts is in this scrape
        WorkerFilesCollector(registry)
    # The classic text format (0.0.4), which every Prometheus version reads; the client's
    # CONTENT_TYPE_LATEST now names 1.0.0, which only Prometheus 3 understands.
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
