#!/usr/bin/env python3
"""Column charts benchmark: the time and memory of computing every column's histogram or value
counts (webapp.frames.columns.column_charts) for a stored table of 100k, 1M and 10M rows.

    python bench/bench_column_charts.py                # 100k, 1M, 10M rows
    python bench/bench_column_charts.py --rows 100000 1000000

The table has bench_frames.py's 10 columns: 3 integer, 3 float (5 % missing in one), 2 text of
a few values, 1 text of nearly unique values, a date and a timestamp. Each size is written as
the Parquet file the store keeps (tables.parquet_bytes), then measured in a fresh process that
reads it: wall-clock time of the computation (3 runs, each on a fresh LoadedFrame, no cache),
and the process's peak resident memory above what it held with the file loaded (VmHWM after
resetting it through /proc/self/clear_refs). Prints a Markdown table; numbers go to
docs/performance.md, never assertions in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa

    from webapp.frames.tables import parquet_bytes

    rng = np.random.default_rng(42)
    ratio = rng.random(rows)
    ratio[rng.random(rows) < 0.05] = np.nan
    table = pa.table({
        "id": np.arange(rows),
        "quantity": rng.integers(0, 1000, rows),
        "price": (rng.random(rows) * 100).round(2),
        "score": rng.normal(size=rows),
        "category": rng.choice(["alpha", "beta", "gamma", "delta"], rows),
        "city": rng.choice(["Zürich", "Paris", "New York, NY", "São Paulo", 'Say "hi"'], rows),
        "label": np.char.add("item-", np.char.zfill(rng.integers(0, rows, rows).astype(str), 7)),
        "day": pa.array(rng.integers(18262, 18262 + 2000, rows).astype("int32")).cast(pa.date32()),
        "seen_at": pa.array(rng.integers(1577836800, 1577836800 + 10**9, rows) * 1000).cast(pa.timestamp("ms")),
        "ratio": pa.array(ratio, from_pandas=True),
    })  # fmt: skip
    path.write_bytes(parquet_bytes(table))


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def measure(path: Path, runs: int) -> dict[str, float]:
    """In this (fresh) process: seconds per run, and the peak memory above the loaded file."""
    from webapp.frames.columns import column_charts
    from webapp.frames.tables import LoadedFrame

    content = path.read_bytes()
    rows = LoadedFrame(("stored", "bench", "1"), content, {}, None).row_count
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    baseline = _status("VmRSS")
    seconds = []
    for run in range(runs):
        loaded = LoadedFrame(("stored", "bench", str(run)), content, {}, None)
        start = time.perf_counter()
        charts = column_charts(loaded)
        seconds.append(time.perf_counter() - start)
        assert len(charts) == 10 and charts[0].plotted == rows
    return {"rows": rows, "parquet_mb": len(content) / 2**20, "median_s": statistics.median(seconds),
            "max_s": max(seconds), "peak_above_mb": _status("VmHWM") - baseline, "baseline_mb": baseline}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs)))
        return
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for rows in args.rows:
            path = Path(directory) / f"{rows}.parquet"
            write_table(path, rows)
            child = subprocess.run(
                [sys.executable, __file__, "--measure", str(path), "--runs", str(args.runs)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(child.stdout))
            path.unlink()
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    print("| rows × 10 columns | Parquet | compute, median / max of 3 | peak memory above the loaded file |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['parquet_mb']:.1f} MiB | {r['median_s']:.2f} / {r['max_s']:.2f} s "
              f"| {r['peak_above_mb']:.0f} MB (process {r['baseline_mb']:.0f} MB before) |")  # fmt: skip


if __name__ == "__main__":
    main()
