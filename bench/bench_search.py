#!/usr/bin/env python3
"""Search benchmark: the filter language, sorts, facets, compare and plain-word search.

    python bench/bench_search.py                                   # SQLite in a temp dir
    python bench/bench_search.py --database-url postgresql://postgres@127.0.0.1:5432/bench
    python bench/bench_search.py --size 100000 --text-size 1000000 # the issue's sizes (default)

`--size` artifacts in three trees (experiment → models → predictions, ml_pipeline) are
written by bulk Core inserts (the triggers — counts, full-text index — run as for any
write); then each request goes through the whole Flask app in-process (test client: routing,
validation, the query, JSON), `--runs` times after one warm-up, and the median and p95 are
printed as a Markdown table. The nested-numeric filter is measured before and after
`flask index-field data.metrics.rmse`. Plain-word search runs on a second store of
`--text-size` artifacts (0: skip). A script, not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from ulid import ULID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app  # noqa: E402
from webapp.artifacts import Artifact, Base  # noqa: E402
import webapp.frames  # noqa: E402,F401  (its table joins Base.metadata, so drop_all empties it too)
from webapp.artifacts.database import engine_options  # noqa: E402
from webapp.database import upgrade_schema  # noqa: E402
from webapp.extensions import db  # noqa: E402

BATCH = 10_000
FRAMEWORKS = ("xgboost", "lightgbm", "sklearn", "catboost", "torch")
SPLITS = ("train", "validation", "test")


def fresh_app(url: str) -> Any:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            Base.metadata.drop_all(connection)
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUTO_MIGRATE": False, "TESTING": True, "AUTH_ANONYMOUS": "write"})
    upgrade_schema(app)
    return app


def seed(url: str, size: int, rare_every: int = 0) -> dict[str, Any]:
    """Three trees: 3 experiments, ~1% models (with metrics), the rest predictions."""
    rng = random.Random(7)
    engine = create_engine(url, **engine_options(url))
    statement = insert(Artifact.__table__)
    per_tree = size // 3
    models_per_tree = max(per_tree // 100, 1)
    rows: list[dict[str, Any]] = []
    model_ids: list[str] = []
    started, count, now = time.perf_counter(), 0, time.time()

    def add(row: dict[str, Any]) -> None:
        nonlocal rows, count
        created = datetime.fromtimestamp(now + count / 1e5, UTC)
        rows.append({"hierarchy": "ml_pipeline", "created_at": created, "updated_at": created, **row})
        count += 1
        if len(rows) >= BATCH:
            with engine.begin() as connection:
                connection.execute(statement, rows)
            rows = []

    for tree in range(3):
        root = str(ULID())
        add({"id": root, "parent_id": None, "level": 0, "root_id": root,
             "data": {"experiment_name": f"sweep {tree}", "dataset": rng.choice(("weather", "sales", "traffic"))}})
        per_model = (per_tree - 1 - models_per_tree) // models_per_tree
        for m in range(models_per_tree):
            model = str(ULID())
            model_ids.append(model)
            add({"id": model, "parent_id": root, "level": 1, "root_id": root, "data": {
                "name": f"model {tree}.{m}", "framework": rng.choice(FRAMEWORKS),
                "metrics": {"rmse": round(rng.random(), 6), "val_acc": round(rng.random(), 6)},
                "hyperparameters": {"depth": rng.randint(2, 12), "learning_rate": rng.choice((0.3, 0.1, 0.03, 0.01))},
                "curve": [round(1 / (s + 1) + rng.random() / 10, 4) for s in range(20)],
            }})
            for p in range(per_model):
                data = {"name": f"predictions {tree}.{m}.{p}", "split": rng.choice(SPLITS), "rows": rng.randint(10, 10_000),
                        "score": round(rng.random(), 6), "notes": "batch scoring run"}
                if rare_every and count % rare_every == 0:
                    data["notes"] = "flagged zanzibar drift"
                add({"id": str(ULID()), "parent_id": model, "level": 2, "root_id": root, "data": data})
    if rows:
        with engine.begin() as connection:
            connection.execute(statement, rows)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE artifacts")
        else:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    engine.dispose()
    return {"seconds": time.perf_counter() - started, "count": count, "models": model_ids}


def measure(client: Any, url: str, runs: int, **params: Any) -> dict[str, float]:
    answer = client.get(url, query_string=params)  # warm-up (and a check)
    assert answer.status_code == 200, (answer.status_code, answer.get_data(as_text=True)[:300])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url, query_string=params)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(int(len(times) * 0.95) - 1, 0)],
            "total": answer.json.get("total") if isinstance(answer.json, dict) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite files in a temp dir")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--text-size", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    url = args.database_url or f"sqlite:///{temp / 'search.sqlite'}"
    api = "/api/v1/artifacts"
    results: list[tuple[str, dict[str, float]]] = []

    app = fresh_app(url)
    seeded = seed(url, args.size)
    print(f"seeded {seeded['count']:,} artifacts in {seeded['seconds']:.1f} s", file=sys.stderr)
    client = app.test_client()
    nested = {"filter": "data.metrics.rmse < 0.05", "size": 50}
    results.append(("filter `data.metrics.rmse < 0.05`, first page, unindexed", measure(client, api, args.runs, **nested)))
    result = app.test_cli_runner().invoke(args=["index-field", "data.metrics.rmse"])
    assert result.exit_code == 0, result.output
    results.append(("the same, after `index-field data.metrics.rmse`", measure(client, api, args.runs, **nested)))
    results.append(("`level_label = 'model'` sorted by `data.metrics.rmse` desc", measure(
        client, api, args.runs, filter="level_label = 'model'", sort="data.metrics.rmse", order="desc")))
    results.append(("everything sorted by `data.score` (unindexed)", measure(client, api, args.runs, sort="data.score")))
    results.append(("facets `data.split`, `level_label` over `level = 2`", measure(
        client, api, args.runs, filter="level = 2", facets="data.split,level_label", size=1)))
    results.append(("facets `data.framework`, `data.hyperparameters.depth` over the models", measure(
        client, api, args.runs, filter="level_label = 'model'", facets="data.framework,data.hyperparameters.depth", size=1)))
    ids = ",".join(seeded["models"][:50])
    results.append(("`$compare` of 50 models", measure(client, f"{api}/$compare", args.runs, ids=ids)))
    with app.app_context():
        db.engine.dispose()

    if args.text_size:
        text_url = args.database_url or f"sqlite:///{temp / 'text.sqlite'}"
        app = fresh_app(text_url)
        seeded = seed(text_url, args.text_size, rare_every=100_003)
        print(f"seeded {seeded['count']:,} artifacts in {seeded['seconds']:.1f} s", file=sys.stderr)
        client = app.test_client()
        label = f"plain-word search `q=zanzibar` over {seeded['count']:,}"
        results.append((label, measure(client, api, args.runs, q="zanzibar")))
        results.append((f"the search page `/search?q=zanzibar` over {seeded['count']:,}", measure(
            client, "/search", args.runs, q="zanzibar")))
        with app.app_context():
            db.engine.dispose()

    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n| {database}: request ({args.size:,} artifacts unless said) | p50 ms | p95 ms | matches |")
    print("|---|---:|---:|---:|")
    for name, numbers in results:
        total = numbers["total"]
        print(f"| {name} | {numbers['p50']:.1f} | {numbers['p95']:.1f} | {'' if total is None else f'{total:,}'} |")


if __name__ == "__main__":
    main()
