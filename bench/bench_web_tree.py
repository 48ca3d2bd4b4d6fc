#!/usr/bin/env python3
"""Web UI benchmark: how fast the HTML tree opens on a 10,000-node tree, over HTTP to gunicorn.

    python bench/bench_web_tree.py                     # SQLite in a temp dir
    python bench/bench_web_tree.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Seeds, through ArtifactManager, a wide root (10,000 direct children: the worst case for one
level) and a deep-ish tree (1 root → 100 models → 99 predictions each = 10,000 nodes). Then a
sequential client measures the home page, the artifact page of each root, and the htmx
fragments that open a level (first and last page of the wide root's children, one model's
leaves). Prints a Markdown table of median and p95 milliseconds. A script, not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.artifacts import ArtifactIn, ArtifactManager, ArtifactRepository  # noqa: E402
from webapp.artifacts.database import database_url, open_session  # noqa: E402

WIDE, MODELS, LEAVES = 10_000, 100, 99
HX = {"HX-Request": "true"}


def seed(url: str) -> dict[str, str]:
    session = open_session(url)  # creates the table; gunicorn's start-up stamps the migration
    manager = ArtifactManager(ArtifactRepository(session))
    manager.delete_all()
    wide = manager.save(ArtifactIn(data={"name": "wide root"}))
    for number in range(WIDE):
        manager.save(ArtifactIn(parent_id=wide.id, data={"name": f"child {number}", "n": number}))
    deep = manager.save(ArtifactIn(data={"experiment_name": "deep root"}))
    model_id = ""
    for number in range(MODELS):
        model = manager.save(ArtifactIn(parent_id=deep.id, data={"model_type": f"model {number}"}))
        model_id = str(model.id)
        for leaf in range(LEAVES):
            manager.save(ArtifactIn(parent_id=model.id, data={"version": f"{number}.{leaf}"}))
    session.close()
    return {"wide": str(wide.id), "deep": str(deep.id), "model": model_id}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(session: requests.Session, url: str, headers: dict[str, str], runs: int) -> dict[str, float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    timings.sort()
    return {"median": statistics.median(timings), "p95": timings[int(len(timings) * 0.95) - 1],
            "kb": len(response.content) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = database_url(args.database_url or f"sqlite:///{Path(directory) / 'bench.sqlite'}")
        print(f"seeding {1 + WIDE + 1 + MODELS * (1 + LEAVES):,} nodes into {url.split(':')[0]} …", flush=True)
        started = time.perf_counter()
        ids = seed(url)
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)

        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "AUTH_ANONYMOUS": "write"}  # a throw-away store
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--log-level", "warning", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{base}/health", timeout=5).ok:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            session = requests.Session()
            cases = [
                ("home page (50 roots max)", "/", {}),
                ("artifact page, root with 10,000 children", f"/artifacts/{ids['wide']}", {}),
                ("open a level: 10,000-child root, first 50", f"/artifacts/{ids['wide']}/children", HX),
                ("open a level: 10,000-child root, last page", f"/artifacts/{ids['wide']}/children?page=200", HX),
                ("artifact page, root of 10,000-node tree", f"/artifacts/{ids['deep']}", {}),
                ("open a level: 100 models, first 50", f"/artifacts/{ids['deep']}/children", HX),
                ("open a level: 99 leaves, first 50", f"/artifacts/{ids['model']}/children", HX),
            ]
            print("\n| request | median ms | p95 ms | size KiB |\n|---|---:|---:|---:|")
            for name, path, headers in cases:
                result = measure(session, base + path, headers, args.runs)
                print(f"| {name} | {result['median']:.1f} | {result['p95']:.1f} | {result['kb']:.1f} |")
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
