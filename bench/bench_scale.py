#!/usr/bin/env python3
"""Scale benchmark: what each request costs as the store grows from 10k to 1M artifacts.

    python bench/bench_scale.py                      # SQLite in a temp dir
    python bench/bench_scale.py --database-url postgresql://postgres@127.0.0.1:5432/bench
    python bench/bench_scale.py --sizes 10000,100000 # fewer sizes

For each size: a new database at the latest migration, seeded with roots of 9 children
each by bulk Core inserts (executemany, no HTTP; the count triggers run as for any
write, and the counts are checked against the rows afterwards), then `gunicorn wsgi:app`
with 2 workers and a sequential client. Every row of the table gets the median and p95
latency, and the server CPU per request: the user + system time of the gunicorn workers
(/proc/<pid>/stat) over all the measured requests, divided by their number (the
database server's own CPU is not in it: SQLite runs inside the worker, PostgreSQL does
not). Prints a Markdown table; a script, not a test (numbers go to docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, insert, select, text
from ulid import ULID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import start_gunicorn  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.artifacts import Artifact, Base  # noqa: E402
import webapp.frames  # noqa: E402,F401  (its table joins Base.metadata, so drop_all empties it too)
from webapp.artifacts.database import engine_options  # noqa: E402
from webapp.artifacts.models import ArtifactLevelCount  # noqa: E402
from webapp.artifacts.schemas import Cursor  # noqa: E402
from webapp.database import upgrade_schema  # noqa: E402
from webapp.extensions import db  # noqa: E402

CHILDREN = 9  # per root, as in the measurements
BATCH = 10_000  # rows per transaction while seeding
PAGE = 50
TICKS = os.sysconf("SC_CLK_TCK")


def fresh_database(url: str) -> None:
    """An empty database brought to the latest migration, the way the app makes one."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            Base.metadata.drop_all(connection)
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUTO_MIGRATE": False, "AUTH_ANONYMOUS": "write"})
    upgrade_schema(app)
    with app.app_context():
        db.engine.dispose()


def seed(url: str, size: int) -> dict[str, Any]:
    """`size` artifacts: size / 10 roots with 9 children each, in id (creation) order."""
    engine = create_engine(url, **engine_options(url))
    started = time.perf_counter()
    statement = insert(Artifact.__table__)
    rows: list[dict[str, Any]] = []
    roots, leaves = [], []
    now = time.time()
    with engine.connect() as connection:
        for r in range(size // (CHILDREN + 1)):
            stamp = now + r / 1000
            root = str(ULID.from_timestamp(stamp))
            created = datetime.fromtimestamp(stamp, UTC)
            rows.append({"id": root, "parent_id": None, "level": 0, "hierarchy": "ml_pipeline", "root_id": root,
                         "created_at": created, "updated_at": created,
                         "data": {"experiment_name": f"experiment {r}", "owner": "bench"}})
            for c in range(CHILDREN):
                leaf = str(ULID.from_timestamp(stamp))
                rows.append({"id": leaf, "parent_id": root, "level": 1, "hierarchy": "ml_pipeline", "root_id": root,
                             "created_at": created, "updated_at": created,
                             "data": {"model_type": "Ridge", "alpha": c / 10, "metrics": {"rmse": 0.1 * c}}})
            if r % 1000 == 0:
                roots.append(root)
                leaves.append(leaf)
            if len(rows) >= BATCH:
                with connection.begin():
                    connection.execute(statement, rows)
                rows = []
        if rows:
            with connection.begin():
                connection.execute(statement, rows)
        seconds = time.perf_counter() - started
        counted = connection.scalar(select(func.count()).select_from(Artifact))
        kept = connection.scalar(select(func.sum(ArtifactLevelCount.artifacts)))
        wrong = connection.scalar(
            text("SELECT count(*) FROM artifacts AS a WHERE a.child_count <> "
                 "(SELECT count(*) FROM artifacts AS c WHERE c.parent_id = a.id)")
        )
        assert counted == kept == size and wrong == 0, (counted, kept, wrong)
        if connection.dialect.name == "postgresql":
            connection.commit()
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    engine.dispose()
    return {"seed_s": seconds, "roots": roots, "leaves": leaves, "ids": ids_at(url, size)}


def ids_at(url: str, size: int) -> dict[str, str]:
    """The ids just before the middle and the last page (what a client's cursor would hold)."""
    engine = create_engine(url)
    pages = -(-size // PAGE)
    with engine.connect() as connection:
        def before_page(page: int) -> str:
            query = select(Artifact.id).order_by(Artifact.id).offset((page - 1) * PAGE - 1).limit(1)
            return connection.scalar(query)

        found = {"middle": before_page(pages // 2), "last": before_page(pages)}
    engine.dispose()
    return found


def worker_ticks(master: int) -> int:
    """User + system CPU ticks of the gunicorn workers (the master's children)."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def measure(master: int, call: Callable[[], requests.Response], runs: int) -> dict[str, float]:
    """Median and p95 latency over `runs` sequential requests, and worker CPU per request."""
    response = call()  # warm-up: connection, caches, and a check that it works
    assert response.ok, (response.status_code, response.text[:300])
    samples = []
    ticks = worker_ticks(master)
    for _ in range(runs):
        started = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.ok, response.status_code
    cpu_ms = (worker_ticks(master) - ticks) * 1000 / TICKS / runs
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[max(int(len(samples) * 0.95) - 1, 0)],
            "cpu_ms": cpu_ms}


def run_size(url: str, size: int, workers: int, runs: int) -> dict[str, Any]:
    fresh_database(url)
    seeded = seed(url, size)
    print(f"  seeded {size:,} in {seeded['seed_s']:.0f} s", flush=True)
    process, base = start_gunicorn(url, workers, "sync")
    api = f"{base}/api/v1/artifacts"
    session = requests.Session()
    pages = -(-size // PAGE)
    middle = Cursor(pages // 2, seeded["ids"]["middle"]).encode()
    last = Cursor(pages, seeded["ids"]["last"]).encode()
    root, leaf = seeded["roots"][len(seeded["roots"]) // 2], seeded["leaves"][len(seeded["leaves"]) // 2]
    create_body = {"parent_id": root, "data": {"model_type": "Lasso", "alpha": 0.5}}
    requests_ = {
        "home page `/`": lambda: session.get(f"{base}/"),
        "roots list `?level=0` (page 1)": lambda: session.get(api, params={"level": 0}),
        "list page 1 (`page=1&size=50`)": lambda: session.get(api, params={"page": 1, "size": PAGE}),
        "middle page by `cursor`": lambda: session.get(api, params={"cursor": middle, "size": PAGE}),
        "last page by `cursor`": lambda: session.get(api, params={"cursor": last, "size": PAGE}),
        "middle page by `page=` (offset)": lambda: session.get(api, params={"page": pages // 2, "size": PAGE}),
        "last page by `page=` (offset, read from the end)": lambda: session.get(api, params={"page": pages, "size": PAGE}),
        "get by id": lambda: session.get(f"{api}/{leaf}"),
        "children of a root": lambda: session.get(api, params={"parent_id": root}),
        "`$expand` of a leaf": lambda: session.get(f"{api}/{leaf}/$expand"),
        "create (a child of a root)": lambda: session.post(api, json=create_body),
    }
    results: dict[str, Any] = {"seed_s": seeded["seed_s"]}
    try:
        check = session.get(api, params={"cursor": last, "size": PAGE}).json()
        assert check["page"] == pages and check["next_cursor"] is None and len(check["items"]) == size - (pages - 1) * PAGE
        assert session.get(api, params={"page": pages // 2, "size": PAGE}).json()["items"] == \
            session.get(api, params={"cursor": middle, "size": PAGE}).json()["items"]
        for name, call in requests_.items():
            results[name] = measure(process.pid, call, runs)
            print(f"  {name}: {results[name]}", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temp dir (one per size)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200, help="measured requests per row")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    directory = Path(tempfile.mkdtemp(prefix="artifact-scale-"))
    results: dict[int, Any] = {}
    try:
        for size in sizes:
            url = args.database_url or f"sqlite:///{directory / f'scale-{size}.db'}"
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            print(f"{size:,} artifacts on {url.split(':')[0]} …", flush=True)
            results[size] = run_size(url, size, args.workers, args.runs)
            if url.startswith("sqlite"):
                Path(url.removeprefix("sqlite:///")).unlink()
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    database = "postgresql" if args.database_url else "sqlite"
    rows = [name for name in results[sizes[0]] if name != "seed_s"]
    heading = " | ".join(f"{size:,}" for size in sizes)
    print(f"\n{database}, gunicorn {args.workers} sync workers, sequential client, {args.runs} requests per cell:"
          f" median ms (p95) · worker CPU ms per request\n")
    print(f"| request | {heading} |\n|---|{'---|' * len(sizes)}")
    for name in rows:
        cells = " | ".join(
            f"{results[s][name]['median_ms']:.1f} ({results[s][name]['p95_ms']:.1f}) · {results[s][name]['cpu_ms']:.2f}"
            for s in sizes
        )
        print(f"| {name} | {cells} |")
    seeding = " | ".join(f"{results[s]['seed_s']:.0f}" for s in sizes)
    print(f"| seeding (bulk inserts, s) | {seeding} |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"scale-{database}.json").write_text(json.dumps({"workers": args.workers, "runs": args.runs,
                                                            "results": results}, indent=2))


if __name__ == "__main__":
    main()
