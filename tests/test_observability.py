"""Observability: /metrics, X-Request-ID and the request log (docs/observability.md)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.logging import default_handler
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import IntegrityError

from tests.support.problems import assert_problem
from tests.support.servers import gunicorn_server
from webapp import create_app

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
MISSING_ID = "01K9ZQ4M7E2V6S3T8W5X0Y1Z2A"


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: Any) -> dict[Any, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def requests_of(samples: dict[Any, float], endpoint: str, method: str, status: str) -> float:
    return value(samples, "artifact_store_http_requests_total", endpoint=endpoint, method=method, status=status)


# /metrics through the test client ------------------------------------------------------


def test_metrics_are_the_prometheus_text_format_open_to_anyone(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {
        "artifact_store_http_requests",
        "artifact_store_http_request_duration_seconds",
        "artifact_store_artifacts",
    } <= names


def test_requests_are_counted_once_by_endpoint_method_and_status(client, make_artifact):
    artifact = make_artifact(name="counted")
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/api/v1/artifacts/{artifact.id}").status_code == 200
    assert client.get(f"/api/v1/artifacts/{MISSING_ID}").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/no/such/page/either?q=secret").status_code == 404
    assert client.put("/api/v1/artifacts").status_code == 405
    assert client.open("/api/v1/artifacts", method="BREW").status_code == 405
    assert client.get("/static/css/app.css").status_code == 200
    after = scrape(client)

    expected = {
        ("api.get_artifact", "GET", "200"): 3,
        ("api.get_artifact", "GET", "404"): 1,
        ("unmatched", "GET", "404"): 2,  # no raw path as a label
        ("unmatched", "PUT", "405"): 1,
        ("unmatched", "other", "405"): 1,  # an invented method is not a label value either
        ("static", "GET", "200"): 1,
        ("observability.metrics", "GET", "200"): 1,  # the first scrape; the second is not in its own output
    }
    for labels, count in expected.items():
        assert requests_of(after, *labels) - requests_of(before, *labels) == count, labels
    counted = {key: v for key, v in after.items() if key[0] == "artifact_store_http_requests_total"}
    assert sum(counted.values()) - sum(
        v for key, v in before.items() if key[0] == "artifact_store_http_requests_total"
    ) == sum(expected.values())
    assert not any("/no/such" in label for _, labels in counted for _, label in labels)


def test_latency_is_a_histogram_by_endpoint_and_method(client, make_artifact):
    artifact = make_artifact()
    for _ in range(4):
        client.get(f"/api/v1/artifacts/{artifact.id}")
    samples = scrape(client)
    name = "artifact_store_http_request_duration_seconds"
    labels = {"endpoint": "api.get_artifact", "method": "GET"}
    assert value(samples, f"{name}_count", **labels) == 4
    assert 0 < value(samples, f"{name}_sum", **labels) < 60
    buckets = sorted(
        (float(dict(key)["le"]), count)
        for (sample, key), count in samples.items()
        if sample == f"{name}_bucket" and dict(key)["endpoint"] == "api.get_artifact"
    )
    assert buckets[0][0] == 0.001 and buckets[-1] == (float("inf"), 4)
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)  # cumulative


def test_artifacts_are_counted_by_level_when_scraped(client, make_artifact):
    def by_level(hierarchy: str = "ml_pipeline") -> dict[tuple[str, str], float]:
        return {
            (dict(key)["level"], dict(key)["label"]): count
            for (name, key), count in scrape(client).items()
            if name == "artifact_store_artifacts" and dict(key)["hierarchy"] == hierarchy
        }

    assert by_level() == {("0", "experiment"): 0, ("1", "model"): 0, ("2", "predictions"): 0}
    experiment = make_artifact(name="e")
    models = [make_artifact(experiment, name=f"m{n}") for n in range(2)]
    for n in range(3):
        predictions = make_artifact(models[0], name=f"p{n}")
    make_artifact(predictions, name="deeper than any label")
    assert by_level() == {("0", "experiment"): 1, ("1", "model"): 2, ("2", "predictions"): 3, ("3", "level_3"): 1}
    client.post("/api/v1/artifacts", json={"data": {"name": "d"}, "hierarchy": "datasets"})
    assert by_level("datasets") == {("0", "dataset"): 1, ("1", "version"): 0, ("2", "partition"): 0}


def test_database_errors_are_counted_by_kind():
    url = "sqlite:////nonexistent-directory/a.sqlite"
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "AUTO_MIGRATE": False,
                      "AUTH_ANONYMOUS": "write", "METRICS_ANONYMOUS": True})
    client = app.test_client()
    response = client.get(f"/api/v1/artifacts/{MISSING_ID}")
    assert_problem(response, 503)
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
    samples = scrape(client)  # answers although the artifacts-by-level query fails too
    # The 503 above, then the scrape's own failed count; the gauge is left out, not made up.
    assert value(samples, "artifact_store_database_errors_total", kind="OperationalError") == 2
    assert not any(name == "artifact_store_artifacts" for name, _ in samples)


# X-Request-ID ------------------------------------------------------------------------


@pytest.mark.parametrize("sane", ["abc", "req-0123_ABC.x:y/z+=", "a" * 128, "6f1c9d0e-5b1a-4c1e-9a6b-2f4d8e7c1b3a"])
def test_a_sane_request_id_from_the_proxy_is_echoed(client, sane):
    assert client.get("/health", headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane


@pytest.mark.parametrize("hostile", ["", "two words", "a" * 129, "caf\u00e9", "tab\there", "bell\x07"])
def test_a_hostile_request_id_is_replaced(client, hostile):
    echoed = client.get("/health", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(echoed)


def test_each_request_without_an_id_gets_a_new_one(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(GENERATED_ID.fullmatch(i) for i in ids)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),  # a page
        ("GET", "/api/v1/artifacts", 200),  # the API
        ("GET", f"/api/v1/artifacts/{MISSING_ID}", 404),  # a domain problem
        ("GET", "/api/v1/artifacts/not-a-ulid", 400),
        ("GET", "/api/v1/nothing-here", 404),  # routing, problem+json
        ("GET", "/nothing-here", 404),  # routing, HTML
        ("DELETE", "/api/v1/artifacts", 405),
        ("POST", "/artifacts/new", 422),  # a form post, refused (it is empty)
        ("GET", "/static/css/app.css", 200),
        ("GET", "/metrics", 200),
    ],
)
def test_every_response_carries_the_request_id(client, method, path, status):
    response = client.open(path, method=method, headers={"X-Request-ID": "trace-me"})
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "trace-me"


@pytest.mark.app_config(MAX_CONTENT_LENGTH=100)
def test_a_too_large_body_still_gets_its_request_id(client):
    response = client.post("/api/v1/artifacts", json={"data": {"x": "y" * 200}}, headers={"X-Request-ID": "big"})
    assert_problem(response, 413)
    assert response.headers["X-Request-ID"] == "big"


# The request log ---------------------------------------------------------------------


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "artifact_store.requests"]


def test_one_json_line_per_request_with_its_id(client, make_artifact, caplog):
    artifact = make_artifact()
    caplog.set_level(logging.INFO, logger="artifact_store.requests")
    ok = client.get(f"/api/v1/artifacts/{artifact.id}?fields=secret+search", headers={"X-Request-ID": "line-1"})
    missing = client.get("/nothing-here")
    created = client.post("/api/v1/artifacts", json={"data": {"password": "hunter2"}})

    lines = request_lines(caplog)
    assert len(lines) == 3
    first, second, third = lines
    assert {"request_id", "method", "path", "status", "duration_ms", "bytes", "remote_addr", "endpoint"} <= first.keys()
    assert (first["request_id"], first["method"], first["path"], first["status"]) == (
        "line-1", "GET", f"/api/v1/artifacts/{artifact.id}", 200,
    )  # the query string stays out of the log
    assert first["endpoint"] == "api.get_artifact" and first["bytes"] == len(ok.get_data())
    assert 0 < first["duration_ms"] < 60_000
    assert (second["request_id"], second["status"], second["endpoint"]) == (
        missing.headers["X-Request-ID"], 404, "unmatched",
    )
    assert (third["request_id"], third["method"], third["status"]) == (created.headers["X-Request-ID"], "POST", 201)
    assert "hunter2" not in caplog.text and "secret" not in caplog.text  # no bodies, no queries


def test_application_error_logs_carry_the_request_id(app, caplog):
    def broken() -> str:
        raise IntegrityError("INSERT …", {}, Exception("constraint failed"))

    app.add_url_rule("/api/v1/broken", view_func=broken)
    client = app.test_client()
    before = scrape(client)
    response = client.get("/api/v1/broken", headers={"X-Request-ID": "oops-42"})
    assert_problem(response, 500)
    assert response.headers["X-Request-ID"] == "oops-42"

    [record] = [r for r in caplog.records if r.name == "webapp.errors"]
    assert record.request_id == "oops-42" and record.exc_info
    assert "[oops-42]" in default_handler.format(record)  # Flask's own handler of app logs shows it
    after = scrape(client)
    kind = {"kind": "IntegrityError"}
    assert value(after, "artifact_store_database_errors_total", **kind) - value(
        before, "artifact_store_database_errors_total", **kind
    ) == 1


def test_logs_outside_a_request_have_no_request_id(app, caplog):
    with app.app_context():
        app.logger.warning("no request here")
    [record] = [r for r in caplog.records if r.getMessage() == "no request here"]
    assert record.request_id == "-"


# Under gunicorn ----------------------------------------------------------------------


def gunicorn_requests(text: str, endpoint: str) -> float:
    return sum(
        v
        for (name, labels), v in parse(text).items()
        if name == "artifact_store_http_requests_total" and dict(labels)["endpoint"] == endpoint
    )


def scrape_text(base: str, rid: str) -> str:
    response = requests.get(f"{base}/metrics", headers={"X-Request-ID": rid}, timeout=30)
    assert response.status_code == 200
    return response.text


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"time"')]


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def replace_a_worker(base: str, master: int) -> None:
    """kill -9 one worker, then wait until the master has reaped it and started another."""
    workers = worker_pids(master)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (now := worker_pids(master)) == workers or victim in now or len(now) < len(workers):
        assert time.monotonic() < deadline, "no worker replaced the killed one"
        time.sleep(0.1)
    assert requests.get(f"{base}/health", timeout=10).status_code == 200


@pytest.mark.slow
def test_two_gunicorn_workers_count_every_request_once_and_keep_dead_workers_counts(database_url, tmp_path):
    error_log, pid_file = tmp_path / "error.log", tmp_path / "gunicorn.pid"
    n = 80
    env = {"GUNICORN_ERROR_LOG": str(error_log), "GUNICORN_MAX_REQUESTS": "15"}  # each recycles during the test
    with gunicorn_server(database_url, workers=2, env=env, args=("--pid", str(pid_file))) as base:
        master = int(pid_file.read_text())
        artifact = requests.post(f"{base}/api/v1/artifacts", json={"data": {"name": "e"}}, timeout=10).json()
        url = f"{base}/api/v1/artifacts/{artifact['id']}"

        def get(i: int) -> requests.Response:
            return requests.get(url, headers={"X-Request-ID": f"gunicorn-{i}"}, timeout=30)

        with ThreadPoolExecutor(4) as pool:  # concurrent, so both workers must serve
            responses = list(pool.map(get, range(n)))
        assert [r.status_code for r in responses] == [200] * n
        assert [r.headers["X-Request-ID"] for r in responses] == [f"gunicorn-{i}" for i in range(n)]

        def scrapes_agree(round_: str) -> None:
            """Scrape until two different workers have answered; every answer counts n requests."""
            answered: set[int] = set()
            for k in range(0, 80, 4):
                ids = [f"{round_}-{k + i}" for i in range(4)]
                with ThreadPoolExecutor(4) as pool:
                    texts = list(pool.map(lambda rid: scrape_text(base, rid), ids))
                for text in texts:
                    assert gunicorn_requests(text, "api.get_artifact") == n
                    # The gauge is counted once by the worker answering, not summed over workers.
                    assert value(parse(text), "artifact_store_artifacts", hierarchy="ml_pipeline", level="0", label="experiment") == 1
                answered |= {line["pid"] for line in logged(error_log) if line["request_id"] in ids}
                if len(answered) >= 2:
                    return
            pytest.fail(f"only {answered} answered the scrapes")

        scrapes_agree("before")
        replace_a_worker(base, master)
        scrapes_agree("after")

    lines = [line for line in logged(error_log) if line["endpoint"] == "api.get_artifact"]
    assert sorted(line["request_id"] for line in lines) == sorted(f"gunicorn-{i}" for i in range(n))
    served_by = Counter(line["pid"] for line in lines)
    assert len(served_by) > 2, served_by  # both workers, and those that replaced recycled ones


@pytest.mark.slow
def test_each_gunicorn_start_begins_with_empty_metrics(tmp_path):
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    ram_disk = Path("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    earlier = set(ram_disk.glob("artifact-store-metrics-*"))
    with gunicorn_server(database, workers=2) as base:
        [made] = set(ram_disk.glob("artifact-store-metrics-*")) - earlier
        requests.get(f"{base}/nothing-here", timeout=10)
        assert any(made.glob("counter_*.db"))
    assert not made.exists()  # a directory gunicorn made is removed at exit

    own = tmp_path / "metrics"
    own.mkdir()
    (own / "keep.txt").write_text("not a metrics file")
    for run in range(2):  # the operator's directory: emptied of metrics at start, kept at exit
        with gunicorn_server(database, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(own)}) as base:
            for _ in range(3):
                requests.get(f"{base}/nothing-here", timeout=10)
            # A starting worker's file, created but not yet sized: a scrape then must not fail.
            (own / "counter_4194304.db").touch()
            assert gunicorn_requests(requests.get(f"{base}/metrics", timeout=10).text, "unmatched") == 3, run
        assert any(own.glob("counter_*.db")) and (own / "keep.txt").exists()
