"""Run the load test (tests/test_load.py) on each database and print its figures for docs/performance.md.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python3 bench/load_report.py

Without TEST_DATABASE_URL only SQLite runs. The test itself asserts correctness (no
errors, every acknowledged artifact stored, trees intact); this script only collects the
figures it writes (LOAD_REPORT) into bench/results/ and prints them as a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = RESULTS / "load"
    for stale in RESULTS.glob("load.*.json"):
        stale.unlink()
    load_before = os.getloadavg()[0]
    command = [sys.executable, "-m", "pytest", "tests/test_load.py", "-k", "mixed", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "LOAD_REPORT": str(prefix)})
    print(f"\n{os.cpu_count()} cores, load average {load_before:.1f} before the run; pytest exit code {result.returncode}\n")
    print("| Database | Workers / clients | Requests in 30 s | Requests/s | Errors (5xx) | p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(RESULTS.glob("load.*.json")):
        f = json.loads(path.read_text())
        print(
            f"| {f['backend']} | {f['workers']} / {f['clients']} | {f['requests']:,} | {f['requests_per_s']:.0f} "
            f"| {f['errors']} ({f['server_errors']}) | {f['p50_ms']:.0f} ms | {f['p99_ms']:.0f} ms |"
        )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
