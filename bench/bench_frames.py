#!/usr/bin/env python3
"""DataFrame benchmark: upload a generated CSV to gunicorn, then browse its table over HTTP.

    python bench/bench_frames.py                                # 100,000 and 1,000,000 rows, SQLite
    python bench/bench_frames.py --rows 100000 --database-url postgresql://postgres@127.0.0.1:5432/bench

For each size: writes a CSV of ROWS × 10 columns (ints, floats, text, dates, timestamps,
some missing values) to a temp dir, starts `gunicorn wsgi:app` with 2 workers on a fresh
database, and measures over HTTP:

- upload: POST /api/v1/artifacts/$upload (multipart), until the 201;
- first page: the artifact's page, right after the upload; after a restart, once as the
  first request of fresh workers, and once after warming them up on another table (so the
  worker reads this table's Parquet file from the database, but has its templates compiled);
- later pages: htmx fragments of 30 random pages in stored order;
- sorts: the first page of every column in both orders (each sort computed once per
  worker), then 30 random pages of those orders;
- downloads: the whole table as CSV and as JSON;
- peak memory: VmHWM (peak resident set) of each worker, during the upload and overall.

Prints a Markdown table; a script, not a test (numbers go to docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE_SIZE = 50  # rows per table page (webapp.web.frames.TABLE_PAGE_SIZE)
SAMPLES = 30


def write_csv(path: Path, rows: int) -> None:
    """ROWS × 10 mixed columns, written in chunks so a million rows need little memory."""
    rng = np.random.default_rng(42)
    chunk = 100_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        ratio = rng.random(n)
        ratio[rng.random(n) < 0.05] = np.nan
        frame = pd.DataFrame(
            {
                "id": np.arange(start, start + n),
                "quantity": rng.integers(0, 1000, n),
                "price": (rng.random(n) * 100).round(2),
                "score": rng.normal(size=n),
                "category": rng.choice(["alpha", "beta", "gamma", "delta"], n),
                "city": rng.choice(["Zürich", "Paris", "New York, NY", "São Paulo", 'Say "hi"'], n),
                "label": [f"item-{i:07d}" for i in rng.integers(0, rows, n)],
                "day": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")).strftime("%Y-%m-%d"),
                "seen_at": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**9, n), unit="s"),
                "ratio": ratio,
            }
        )
        frame.to_csv(path, mode="a" if start else "w", header=not start, index=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn wsgi:app` with 2 workers on a free loopback port."""

    def __init__(self, database_url: str, max_upload: int, workers: int) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-" + "x" * 32,
            "MAX_UPLOAD_BYTES": str(max_upload),
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_LOG_LEVEL": "warning",
            "AUTH_ANONYMOUS": "write",  # a throw-away store open to its benchmark client
            "METRICS_ANONYMOUS": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "-b", f"127.0.0.1:{self.port}", "-w", str(workers),
             "--timeout", "300"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                if requests.get(f"{self.base}/health", timeout=1).ok and len(self.workers()) == workers:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("gunicorn did not start")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def peak_rss_mb(self) -> list[float]:
        """Peak resident set size (VmHWM) of each worker since it started, in MB."""
        peaks = []
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def timed(session: requests.Session, method: str, url: str, **kwargs: Any) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = session.request(method, url, timeout=600, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed, response


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(int(len(ordered) * 0.95) - 1, 0)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def bench(rows: int, directory: Path, database_url: str | None, workers: int) -> dict[str, Any]:
    csv_path = directory / f"frame-{rows}.csv"
    started = time.perf_counter()
    write_csv(csv_path, rows)
    size = csv_path.stat().st_size
    print(f"\n{rows:,} rows: {size / 1e6:.1f} MB CSV written in {time.perf_counter() - started:.1f} s", flush=True)
    url = database_url or f"sqlite:///{directory / f'frames-{rows}.db'}"
    max_upload = size + 1024 * 1024
    result: dict[str, Any] = {"rows": rows, "columns": 10, "csv_mb": round(size / 1e6, 1)}

    server = Gunicorn(url, max_upload, workers)
    session = requests.Session()
    try:
        with csv_path.open("rb") as file:
            upload_ms, response = timed(
                session, "POST", f"{server.base}/api/v1/artifacts/$upload", files={"file": (csv_path.name, file, "text/csv")}
            )
        artifact_id = response.json()["id"]
        small = {"columns": ["x", "y"], "data": [[n, f"row {n}"] for n in range(100)]}
        small_id = session.post(f"{server.base}/api/v1/artifacts", json={"data": {"dataframe": small}}, timeout=60).json()["id"]
        result["upload_s"] = round(upload_ms / 1000, 2)
        result["upload_peak_rss_mb"] = [round(mb) for mb in server.peak_rss_mb()]
        result["first_page_after_upload_ms"] = round(timed(session, "GET", f"{server.base}/artifacts/{artifact_id}")[0], 1)
    finally:
        server.stop()

    server = Gunicorn(url, max_upload, workers)  # fresh workers: nothing compiled, nothing cached
    session = requests.Session()
    page_url = f"{server.base}/artifacts/{artifact_id}"
    try:
        result["first_page_fresh_worker_ms"] = round(timed(session, "GET", page_url)[0], 1)
    finally:
        server.stop()

    server = Gunicorn(url, max_upload, workers)
    session = requests.Session()
    page_url = f"{server.base}/artifacts/{artifact_id}"
    fragment = f"{page_url}/table"
    hx = {"HX-Request": "true"}
    try:
        # Warm both workers up on another, small table (templates compiled, libraries loaded),
        # so the next request measures what this table costs: no worker has it cached yet.
        for _ in range(10):
            timed(session, "GET", f"{server.base}/artifacts/{small_id}")
        result["first_page_cold_ms"] = round(timed(session, "GET", page_url)[0], 1)
        pages = -(-rows // PAGE_SIZE)
        rng = random.Random(1)
        later = [timed(session, "GET", f"{fragment}?table_page={rng.randint(2, pages)}", headers=hx)[0]
                 for _ in range(SAMPLES)]
        result["later_pages"] = summary(later)
        columns = ["id", "quantity", "price", "score", "category", "city", "label", "day", "seen_at", "ratio"]
        first_sorts = []
        for column in columns:
            for order in ("asc", "desc"):
                query = f"table_sort={column}&table_order={order}"
                # Twice: the two workers each compute the order once; both times count.
                first_sorts += [timed(session, "GET", f"{fragment}?{query}", headers=hx)[0] for _ in range(2)]
        result["sort_first_page"] = summary(first_sorts)
        sorted_pages = [
            timed(session, "GET", f"{fragment}?table_page={rng.randint(2, pages)}&table_sort={rng.choice(columns)}"
                  f"&table_order={rng.choice(['asc', 'desc'])}", headers=hx)[0]
            for _ in range(SAMPLES)
        ]  # fmt: skip
        result["sorted_later_pages"] = summary(sorted_pages)
        api_rows = [timed(session, "GET", f"{server.base}/api/v1/artifacts/{artifact_id}/frame/rows?page=7&size=50")[0]
                    for _ in range(SAMPLES)]
        result["api_rows_page"] = summary(api_rows)
        csv_ms, csv_response = timed(session, "GET", f"{server.base}/api/v1/artifacts/{artifact_id}/frame.csv")
        json_ms, json_response = timed(session, "GET", f"{server.base}/api/v1/artifacts/{artifact_id}/frame")
        result["download_csv_s"] = round(csv_ms / 1000, 2)
        result["download_json_s"] = round(json_ms / 1000, 2)
        result["download_mb"] = {"csv": round(len(csv_response.content) / 1e6, 1), "json": round(len(json_response.content) / 1e6, 1)}
        del csv_response, json_response
        result["browse_peak_rss_mb"] = [round(mb) for mb in server.peak_rss_mb()]
    finally:
        server.stop()
    print(json.dumps(result, indent=2), flush=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    def ms(summary: dict[str, float]) -> str:
        return f"{summary['median_ms']:.0f} / {summary['p95_ms']:.0f} / {summary['max_ms']:.0f}"

    lines = [
        "| rows × 10 columns | " + " | ".join(f"{r['rows']:,} ({r['csv_mb']} MB CSV)" for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    rows = [
        ("upload through HTTP (until 201)", lambda r: f"{r['upload_s']:.2f} s"),
        ("first table page, right after upload", lambda r: f"{r['first_page_after_upload_ms']:.0f} ms"),
        ("first table page, table in no worker's cache", lambda r: f"{r['first_page_cold_ms']:.0f} ms"),
        ("first request of a fresh worker (a table page)", lambda r: f"{r['first_page_fresh_worker_ms']:.0f} ms"),
        ("later pages (median / p95 / max)", lambda r: f"{ms(r['later_pages'])} ms"),
        ("first page of a new sort (median / p95 / max)", lambda r: f"{ms(r['sort_first_page'])} ms"),
        ("later pages of a sort (median / p95 / max)", lambda r: f"{ms(r['sorted_later_pages'])} ms"),
        ("API page of rows (median / p95 / max)", lambda r: f"{ms(r['api_rows_page'])} ms"),
        ("download CSV / JSON", lambda r: f"{r['download_csv_s']:.2f} s / {r['download_json_s']:.2f} s"),
        ("peak worker RSS during upload", lambda r: f"{max(r['upload_peak_rss_mb'])} MB"),
        ("peak worker RSS while browsing", lambda r: f"{max(r['browse_peak_rss_mb'])} MB"),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir per size")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    directory = Path(tempfile.mkdtemp(prefix="bench-frames-"))
    try:
        results = [bench(rows, directory, args.database_url, args.workers) for rows in args.rows]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nload average after: {os.getloadavg()}\n")
    print(table(results))
    backend = "postgresql" if args.database_url and args.database_url.startswith("postgres") else "sqlite"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"frames-{backend}.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
