#!/usr/bin/env python3
"""History benchmark: what keeping every revision costs, and how fast history reads are.

    python bench/bench_history.py                       # SQLite in a temp dir
    python bench/bench_history.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Measures, in one process, sequentially (no HTTP server; reads go through the Flask test
client, so they include routing, the view and the JSON encoding):

- update throughput (data updates through the Store's ArtifactManager.update, each its own
  transaction) with history, against the same loop, same code, with the two history writes
  of each update switched off (the revision row and its file manifest): what history costs;
- the $history API page and the HTML history page of an artifact with 1,000 revisions;
- an as-of $tree of a 10,001-node tree (1 + 10 + 10 × 999), through the API;
- storage per revision (the revisions table's growth over the updates);
- the diff of two 100,000 × 10 tables by a key column.

Prints a Markdown table; a script, not a test (numbers go to docs/history.md).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UPDATES = 2_000
ROUNDS = 5
ARTIFACTS = 100

# N updates over a few artifacts, in turn; "off": without the writes history adds.
UPDATE_LOOP = r"""
import sys, time
from webapp.artifacts import ArtifactIn, ArtifactUpdate
from webapp.store import open_store
url, updates, artifacts, history = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
manager = open_store(url).artifacts
manager.delete_all()
if history == "off":  # the revision row and the file manifest of each change, not written
    manager.revisions.add = lambda rows: None
    manager.attachments.clear()
ids = [manager.create(ArtifactIn(data={"name": f"a{n}", "metrics": {"rmse": 0.5}})).id for n in range(artifacts)]
started = time.perf_counter()
for n in range(updates):
    manager.update(ids[n % artifacts], ArtifactUpdate(data={"name": "a", "metrics": {"rmse": n / updates}, "n": n}))
print(updates / (time.perf_counter() - started))
"""


def fresh_url(base: str | None, directory: Path, name: str) -> str:
    if base is None:
        return f"sqlite:///{directory / name}.sqlite"
    from sqlalchemy import create_engine, text

    import webapp.store  # noqa: F401 - every feature's tables join Base.metadata, so all are dropped
    from webapp.artifacts import Base

    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        Base.metadata.drop_all(connection)
    engine.dispose()
    return base


def update_rate(url: str, history: str) -> float:
    """Updates per second of one run, in its own process, on a fresh database."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", UPDATE_LOOP, url, str(UPDATES), str(ARTIFACTS), history],
        env=environment, cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def revisions_bytes(url: str, table: str = "artifact_revisions") -> tuple[int, int]:
    """(rows, bytes the table and its indexes take) of `table` in the database at `url`."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        count = connection.scalar(text(f"SELECT count(*) FROM {table}"))
        if engine.dialect.name == "postgresql":
            size = connection.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
        else:
            size = connection.scalar(text(
                f"SELECT sum(pgsize) FROM dbstat WHERE name = '{table}' OR name LIKE 'ix_{table}%'"
                f" OR name = 'sqlite_autoindex_{table}_1'"
            ))
    engine.dispose()
    return count, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied!); default: SQLite in a temp dir")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        database = "PostgreSQL" if args.database_url else "SQLite"

        # 1. Update throughput, with history and without: the best of ROUNDS runs each, in
        # turn, so that a neighbour's load falls on both alike.
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for number in range(ROUNDS):
            for history in rates:
                url = fresh_url(args.database_url, directory, f"updates-{history}-{number}")
                rates[history].append(update_rate(url, history))
                if history == "on" and number == 0:
                    count, size = revisions_bytes(url)
        baseline, with_history = max(rates["off"]), max(rates["on"])
        rows.append((f"updates/s without history (its writes off), {UPDATES:,} updates", f"{baseline:,.0f}"))
        rows.append(("updates/s with history", f"{with_history:,.0f} ({with_history / baseline:.0%} of without)"))
        rows.append(("storage per revision (table + indexes)", f"{size / count:,.0f} B ({count:,} revisions)"))

        # 2. Reads, through the Flask test client.
        from webapp import create_app
        from webapp.artifacts import ArtifactIn, ArtifactUpdate
        from webapp.extensions import db
        from webapp.store import get_store

        url = fresh_url(args.database_url, directory, "reads")
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "AUTO_MIGRATE": False,
                          "BLOB_STORE_URL": (directory / "blobs").as_uri(),
                          "AUTH_ANONYMOUS": "write"})
        with app.app_context():
            db.create_all()
            manager = get_store().artifacts
            busy = manager.create(ArtifactIn(data={"name": "busy", "value": 0}))
            for name in ("model.bin", "metrics.json", "README.md"):  # revisions 2-4; every later one lists them
                get_store().files.put(busy.id, name, io.BytesIO(name.encode() * 100))
            for n in range(4, 1_000):
                manager.update(busy.id, ArtifactUpdate(data={"name": "busy", "value": n, "note": f"step {n}"}))
            started = time.perf_counter()
            root = manager.create(ArtifactIn(data={"name": "bench root"}))
            with get_store().writing():
                for m in range(10):
                    model = manager.create(ArtifactIn(parent_id=root.id, data={"model": m}))
                    for p in range(999):
                        manager.create(ArtifactIn(parent_id=model.id, data={"prediction": p, "value": p * 0.5}))
            seeded = time.perf_counter() - started
            as_of = datetime.now(UTC).isoformat()
            manager.update(root.id, ArtifactUpdate(data={"name": "bench root, renamed"}))
            db.session.remove()
        manifests, manifest_size = revisions_bytes(url, "artifact_revision_files")
        rows.append(("storage per file a revision lists (artifact_revision_files + index)",
                     f"{manifest_size / manifests:,.0f} B ({manifests:,} rows)"))
        client = app.test_client()
        api_history = f"/api/v1/artifacts/{busy.id}/$history"
        assert client.get(api_history).get_json()["total"] == 1_000
        rows.append(("GET $history (page of 50) of an artifact with 1,000 revisions, 3 files each",
                     f"{median_ms(lambda: client.get(api_history), 50):.1f} ms"))
        rows.append(("GET /artifacts/{id}/history (HTML, 50 rows with summaries), 1,000 revisions",
                     f"{median_ms(lambda: client.get(f'/artifacts/{busy.id}/history'), 30):.1f} ms"))
        rows.append(("GET /artifacts/{id} (HTML, with its History section), 1,000 revisions",
                     f"{median_ms(lambda: client.get(f'/artifacts/{busy.id}'), 30):.1f} ms"))
        tree = f"/api/v1/artifacts/{root.id}/$tree"
        assert len(client.get(tree, query_string={"as_of": as_of}).get_json()["children"]) == 10
        rows.append((f"GET $tree?as_of of 10,001 nodes (seeded in {seeded:.0f} s)",
                     f"{median_ms(lambda: client.get(tree, query_string={'as_of': as_of}), 10):.0f} ms"))
        rows.append(("GET $tree of the same tree now (no as_of), for comparison", f"{median_ms(lambda: client.get(tree), 10):.0f} ms"))
        with app.app_context():
            db.engine.dispose()

    # 3. The diff of two tables.
    import numpy as np
    import pandas as pd

    from webapp.frames.diff import frame_diff

    ids = np.arange(100_000)
    old = pd.DataFrame({"id": ids, **{f"c{c}": ids * (c + 1) * 0.5 for c in range(9)}})
    new = pd.DataFrame({"id": ids + 500, **{f"c{c}": (ids + 500) * (c + 1) * 0.5 for c in range(9)}})
    new.loc[::7, "c3"] = 0.0
    dtypes = {c: str(t) for c, t in old.dtypes.items()}
    rows.append(("table diff by key, 100,000 × 10 rows (500 added, 500 removed, 14,215 changed)",
                 f"{median_ms(lambda: frame_diff(old, new, dtypes, dtypes, 'id'), 5):.0f} ms"))

    print(f"\n{database}, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
