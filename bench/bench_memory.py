#!/usr/bin/env python3
"""Memory benchmark: the peak resident memory of a gunicorn worker for each heavy case.

    python bench/bench_memory.py                                  # SQLite
    python bench/bench_memory.py --database-url postgresql://postgres@127.0.0.1:5432/bench_memory

Starts `gunicorn wsgi:app` (gunicorn.conf.py: 2 workers, threads) on a fresh database and,
for each case, resets every worker's peak (`echo 5 > /proc/PID/clear_refs`, so run it as
root or as the server's user), runs the case over HTTP and reads the highest VmHWM of the
workers. Cases:

- the issue's file: 95 MiB, 49.8M rows of one digit each (refused above MAX_TABLE_ROWS);
- a file at the row limit: 10M rows × 5 one-digit columns (95 MiB, the upload limit),
  stored; then its first page sorted by a column, and its CSV and JSON downloads;
- listings over ten artifacts of 60 MB of JSON each (five roots, five children of another
  root), on freshly started workers: the home page, the API list with size=1000, $tree,
  $expand, a children fragment; and, for comparison, one huge artifact's own GET.

Prints a Markdown table; a script, not a test (numbers go to docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import children_of, gunicorn_server  # noqa: E402  (the same real server)

MIB = 1024 * 1024


def write_rows(path: Path, rows: int, line: bytes, header: bytes) -> None:
    """`rows` copies of `line` after `header`, written a megabyte at a time."""
    per_write = max(MIB // len(line), 1)
    with path.open("wb") as file:
        file.write(header)
        for start in range(0, rows, per_write):
            file.write(line * min(per_write, rows - start))


def reset_peaks(master: int) -> None:
    for pid in children_of(master):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_mb(master: int) -> float:
    peaks = []
    for pid in children_of(master):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def measure(master: int, case: Callable[[], str]) -> tuple[float, float, str]:
    """(seconds, peak MB of the busiest worker, what the case says about its answer)."""
    time.sleep(0.5)  # idle workers: nothing else running
    reset_peaks(master)
    started = time.monotonic()
    note = case()
    return time.monotonic() - started, peak_mb(master), note


def upload(base: str, path: Path) -> requests.Response:
    with path.open("rb") as file:
        return requests.post(f"{base}/api/v1/artifacts/$upload", files={"file": (path.name, file, "text/csv")}, timeout=600)


def download(url: str) -> tuple[int, int, bytes]:
    """(status, bytes, the last bytes) of a streamed download."""
    size, tail = 0, b""
    with requests.get(url, stream=True, timeout=600) as response:
        for chunk in response.iter_content(MIB):
            size += len(chunk)
            tail = (tail + chunk)[-16:]
        return response.status_code, size, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied first); default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    url = args.database_url or f"sqlite:///{directory / 'bench.sqlite'}"
    if args.database_url:
        subprocess.run([sys.executable, "-c", f"from tests.support.databases import reset_postgres; reset_postgres({url!r})"],
                       cwd=ROOT, check=True)  # fmt: skip
    issue_file, limit_file = directory / "digits.csv", directory / "five_columns.csv"
    write_rows(issue_file, 49_800_000, b"7\n", b"d\n")  # 95 MiB: the issue's file
    write_rows(limit_file, 9_999_999, b"1,2,3,4,5\n", b"a,b,c,d,e\n")  # 95 MiB, within 10M rows
    results: list[tuple[str, float, float, str]] = []
    env = {"GUNICORN_ACCESS_LOG": ""}
    with gunicorn_server(url, workers=args.workers, env=env, args=("--pid", str(directory / "pid"))) as base:
        master = int((directory / "pid").read_text())

        def case(name: str, run: Callable[[], str]) -> Any:
            seconds, peak, note = measure(master, run)
            results.append((name, seconds, peak, note))
            print(f"{name}: {seconds:.1f} s, {peak:.0f} MB ({note})", file=sys.stderr)

        baseline = peak_mb(master)
        results.append(("idle worker after start", 0.0, baseline, ""))
        case("upload: 95 MiB, 49.8M rows × 1 column", lambda: f"{upload(base, issue_file).status_code}")
        stored: dict[str, Any] = {}

        def store_limit_file() -> str:
            response = upload(base, limit_file)
            stored.update(response.json())
            return f"{response.status_code}, {stored.get('data', {}).get('frame', {}).get('row_count', 0):,} rows"

        case("upload: 95 MiB, 10M rows × 5 columns", store_limit_file)
        frame = f"{base}/api/v1/artifacts/{stored['id']}/frame"
        for column in ("c", "e"):
            case(
                f"sort: first page by {column}, descending (first time)",
                lambda column=column: str(requests.get(f"{frame}/rows?sort={column}&order=desc&size=50", timeout=600).status_code),
            )
        case("sort: page 1000 of that order", lambda: str(requests.get(f"{frame}/rows?sort=e&order=desc&page=1000", timeout=60).status_code))
        for name, address in (("CSV", f"{frame}.csv"), ("JSON", frame)):

            def export(address: str = address) -> str:
                status, size, tail = download(address)
                return f"{status}, {size / MIB:.0f} MiB, ends {tail[-4:]!r}"

            case(f"export: the 10M-row table as {name}", export)

        parent = requests.post(f"{base}/api/v1/artifacts", json={"data": {"name": "huge runs"}}, timeout=60).json()
        values = list(range(6_600_000))  # ~60 MB of JSON text
        for number in range(10):  # five roots, and five children of one root
            under = parent["id"] if number >= 5 else None
            body = json.dumps({"parent_id": under, "data": {"name": f"huge {number}", "values": values}})
            created = requests.post(f"{base}/api/v1/artifacts", data=body, headers={"Content-Type": "application/json"}, timeout=600)
            assert created.status_code == 201, created.text[:300]
        del values
        huge = created.json()["id"]
        results.append((f"(ten artifacts of {len(body) / 1e6:.0f} MB of JSON created; server restarted)", 0.0, 0.0, ""))
    # Fresh workers for the listings: those that parsed the 60 MB bodies keep that memory.
    with gunicorn_server(url, workers=args.workers, env=env, args=("--pid", str(directory / "pid"))) as base:
        master = int((directory / "pid").read_text())
        results.append(("idle worker after the restart", 0.0, peak_mb(master), ""))

        def get(path: str, **headers: str) -> str:
            response = requests.get(base + path, headers=headers, timeout=600)
            return f"{response.status_code}, {len(response.content) / 1024:.0f} KiB"

        case("home page (five huge roots)", lambda: get("/"))
        case("API list, size=1000", lambda: get("/api/v1/artifacts?size=1000"))
        case("$tree of the root of five huge children", lambda: get(f"/api/v1/artifacts/{parent['id']}/$tree"))
        case("$expand of one of them", lambda: get(f"/api/v1/artifacts/{huge}/$expand"))
        case("children fragment of that root", lambda: get(f"/artifacts/{parent['id']}/children", **{"HX-Request": "true"}))
        case("one huge artifact's own GET (all of its data)", lambda: get(f"/api/v1/artifacts/{huge}"))

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n| case ({database}, {args.workers} workers) | time | worker peak RSS | answer |\n|---|---|---|---|")
    for name, seconds, peak, note in results:
        print(f"| {name} | {seconds:.1f} s | {peak:.0f} MB | {note} |" if peak else f"| {name} | | | |")
    shutil.rmtree(directory)


if __name__ == "__main__":
    main()
