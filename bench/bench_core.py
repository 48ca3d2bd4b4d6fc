#!/usr/bin/env python3
"""Core benchmark: a 10,000-node, 3-level tree served by gunicorn, measured over HTTP.

    python bench/bench_core.py                     # SQLite in a temp dir
    python bench/bench_core.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Seeds the tree through the service layer (ArtifactManager), starts `gunicorn wsgi:app`
with 2 workers, then measures with wrk (8 connections) create and get-by-id throughput,
and with a sequential client the latency of a list page and of $tree on the 10k root
and on a 1k subtree. Also measures the plain-sqlite3 floor on this machine for
comparison. Prints a Markdown table; a script, not a test (numbers go to docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactRepository, open_session  # noqa: E402
from webapp.artifacts.database import database_url  # noqa: E402

def fresh_app(url: str) -> Any:
    """The app on an empty database at the latest migration, made the way the app makes one
    (a PostgreSQL database is emptied first; SQLite URLs name new files)."""
    from sqlalchemy import create_engine, text

    import webapp.store  # noqa: F401  (every feature's tables join Base.metadata, so drop_all empties them)
    from webapp import create_app
    from webapp.artifacts import Base
    from webapp.database import upgrade_schema

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            Base.metadata.drop_all(connection)
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUTO_MIGRATE": False, "TESTING": True,
                      "AUTH_ANONYMOUS": "write"})  # a throw-away store: no accounts needed
    upgrade_schema(app)
    return app


MODELS, PREDICTIONS = 10, 999  # 1 + 10 + 10 × 999 = 10,001 nodes; each model subtree is 1,000 nodes


def seed(url: str) -> dict[str, object]:
    """The benchmark tree, created through ArtifactManager like any script would."""
    session = open_session(url)
    manager = ArtifactManager(ArtifactRepository(session))
    manager.delete_all()
    started = time.perf_counter()
    root = manager.save(ArtifactIn(data={"experiment_name": "bench", "owner": "bench"}))
    models, leaves = [], []
    for m in range(MODELS):
        model = manager.save(
            ArtifactIn(parent_id=root.id, data={"model_type": "Ridge", "alpha": m / 10, "metrics": {"rmse": 0.1 * m}})
        )
        models.append(str(model.id))
        for p in range(PREDICTIONS):
            leaf = manager.save(
                ArtifactIn(parent_id=model.id, data={"prediction_date": f"2025-10-{p % 28 + 1:02d}", "value": p * 0.5})
            )
            leaves.append(str(leaf.id))
    seconds = time.perf_counter() - started
    total = manager.count()
    session.close()
    return {"root": str(root.id), "models": models, "leaves": leaves, "nodes": total, "seed_s": seconds}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, workers: int, worker_class: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # gunicorn.conf.py applies; the access log is switched off so the numbers measure the app.
    # A throw-away store open to its benchmark client (docs/accounts.md: AUTH_ANONYMOUS).
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "GUNICORN_ACCESS_LOG": "",
           "AUTH_ANONYMOUS": "write", "METRICS_ANONYMOUS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "-k", worker_class, "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return process, base
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def wrk(base: str, script: str, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", file.name, base],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(file.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return {"rps": rps, "non_2xx": errors, "p99_ms": p99_ms, "socket_errors": socket_errors.group(1) if socket_errors else ""}


def latency(fn, runs: int) -> dict[str, float]:
    fn()  # warm-up (connection, caches)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95) - 1]}


def sqlite_floor(directory: Path) -> dict[str, float]:
    """Plain sqlite3 on this machine: single-row insert+commit rate, and the 10k recursive query."""
    path = directory / "floor.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE artifacts (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES artifacts(id), level INT,"
        " data JSON, created_at TEXT, updated_at TEXT)"
    )
    connection.execute("CREATE INDEX ix_parent ON artifacts(parent_id)")
    from ulid import ULID

    root = str(ULID())
    connection.execute("INSERT INTO artifacts VALUES (?, NULL, 0, '{}', 'now', 'now')", (root,))
    started = time.perf_counter()
    n = 10_000
    for i in range(n - 1):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO artifacts VALUES (?, ?, 1, ?, 'now', 'now')",
            (str(ULID()), root, json.dumps({"value": i * 0.5, "prediction_date": "2025-10-01"})),
        )
        connection.execute("COMMIT")
    inserts = (n - 1) / (time.perf_counter() - started)
    query = (
        "WITH RECURSIVE subtree(id, depth) AS (SELECT id, 0 FROM artifacts WHERE id = ? "
        "UNION ALL SELECT a.id, s.depth + 1 FROM artifacts a JOIN subtree s ON a.parent_id = s.id) "
        "SELECT a.*, s.depth FROM artifacts a JOIN subtree s ON a.id = s.id ORDER BY s.depth, a.id"
    )
    times = []
    for _ in range(10):
        started = time.perf_counter()
        rows = connection.execute(query, (root,)).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    assert len(rows) == n
    return {"inserts_per_s": inserts, "tree_query_ms": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temp dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    directory = Path(tempfile.mkdtemp(prefix="artifact-bench-"))
    url = database_url(args.database_url or f"sqlite:///{directory / 'bench.db'}")
    print(f"seeding {1 + MODELS + MODELS * PREDICTIONS} nodes into {url} …", flush=True)
    tree = seed(url)
    process, base = start_gunicorn(url, args.workers, args.worker_class)
    results: dict[str, object] = {"database": url.split(":")[0], "nodes": tree["nodes"], "seed_s": tree["seed_s"],
                                  "workers": args.workers, "worker_class": args.worker_class,
                                  "connections": args.connections}
    try:
        api = f"{base}/api/v1/artifacts"
        session = requests.Session()
        big = session.post(f"{api}/$tree", json={"root_id": tree["root"]}, timeout=60)
        assert big.ok and len(big.json()["children"]) == MODELS
        results["tree_10k"] = latency(lambda: session.post(f"{api}/$tree", json={"root_id": tree["root"]}, timeout=60), 20)
        results["tree_1k"] = latency(
            lambda: session.post(f"{api}/$tree", json={"root_id": tree["models"][0]}, timeout=60), 50
        )
        results["list_page"] = latency(lambda: session.get(api, params={"page": 100, "size": 50}, timeout=60), 100)
        ids = tree["leaves"][:: max(1, len(tree["leaves"]) // 2000)]
        lua_ids = ",".join(f'"{i}"' for i in ids)
        results["get_by_id"] = wrk(
            base,
            f"local ids = {{{lua_ids}}}\n"
            "request = function() return wrk.format('GET', '/api/v1/artifacts/' .. ids[math.random(#ids)]) end\n",
            args.seconds, args.connections,
        )
        body = json.dumps({"parent_id": tree["models"][1], "data": {"prediction_date": "2025-11-01", "value": 1.5}})
        results["create"] = wrk(
            base,
            "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
            f"wrk.body = [[{body}]]\nwrk.path = '/api/v1/artifacts'\n",
            args.seconds, args.connections,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    results["sqlite_floor"] = sqlite_floor(directory)
    shutil.rmtree(directory, ignore_errors=True)

    print(json.dumps(results, indent=2))
    floor = results["sqlite_floor"]
    print("\n| measure | result |\n|---|---|")
    print(f"| create (POST), {args.connections} clients | {results['create']['rps']:.0f} req/s, p99 {results['create']['p99_ms']:.1f} ms, non-2xx {results['create']['non_2xx']} |")
    print(f"| get by id, {args.connections} clients | {results['get_by_id']['rps']:.0f} req/s, p99 {results['get_by_id']['p99_ms']:.1f} ms, non-2xx {results['get_by_id']['non_2xx']} |")
    print(f"| list page (size 50, page 100) | median {results['list_page']['median_ms']:.1f} ms, p95 {results['list_page']['p95_ms']:.1f} ms |")
    print(f"| $tree, 10k-node root | median {results['tree_10k']['median_ms']:.0f} ms, p95 {results['tree_10k']['p95_ms']:.0f} ms |")
    print(f"| $tree, 1k-node subtree | median {results['tree_1k']['median_ms']:.1f} ms, p95 {results['tree_1k']['p95_ms']:.1f} ms |")
    print(f"| plain sqlite3 floor | {floor['inserts_per_s']:.0f} inserts/s, 10k recursive query {floor['tree_query_ms']:.0f} ms |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"core-{results['database']}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
