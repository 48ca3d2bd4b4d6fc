#!/usr/bin/env python3
"""What authentication and per-tree grants add to the hot paths: GET one artifact by id, and
a list page, anonymous (AUTH_ANONYMOUS=write: no credential is looked up) against an admin's
token, a viewer's token (their grants are read) and a viewer with a hidden tree (the list's
total is then counted instead of read from the kept counts).

    python bench/bench_access.py [--artifacts 20000] [--requests 500]

Drives the app through Flask's test client on a SQLite file (no network, no gunicorn), in one
process, alternating rounds of each mode so all are measured under the same conditions.
Prints the median round per mode, in microseconds of wall time per request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app  # noqa: E402
from webapp.accounts import Accounts  # noqa: E402
from webapp.artifacts import ArtifactIn  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.store import get_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=20_000, help="artifacts in the store (20 trees)")
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                          "AUTH_ANONYMOUS": "write"})
        with app.app_context():
            manager = get_store().artifacts
            roots = [manager.create(ArtifactIn(data={"name": f"tree {n}"})) for n in range(20)]
            with manager.work.writing():
                for n in range(args.artifacts - len(roots)):
                    manager.create(ArtifactIn(parent_id=roots[n % len(roots)].id, data={"name": f"a{n}", "n": n}))
            accounts = Accounts(db.session())
            admin = accounts.create_user("ada", "bench password", "admin")
            viewer = accounts.create_user("vic", "bench password", "viewer")
            hidden = accounts.create_user("hid", "bench password", "viewer")
            accounts.grant("hid", str(roots[0].id), "none")
            tokens = {
                "anonymous": {},
                "admin token": {"Authorization": f"Bearer {accounts.create_token(admin, 'b', 'admin', None)[1]}"},
                "viewer token": {"Authorization": f"Bearer {accounts.create_token(viewer, 'b', 'read', None)[1]}"},
                "viewer, 1 hidden tree": {"Authorization": f"Bearer {accounts.create_token(hidden, 'b', 'read', None)[1]}"},
            }
            target = str(roots[5].id)
            db.session.remove()
        client = app.test_client()
        paths = {"GET one artifact": f"/api/v1/artifacts/{target}", "GET a list page (50)": "/api/v1/artifacts?size=50"}
        for label, path in paths.items():
            rounds: dict[str, list[float]] = {mode: [] for mode in tokens}
            for _ in range(args.rounds):
                for mode, headers in tokens.items():
                    assert client.get(path, headers=headers).status_code == 200
                    start = time.perf_counter()
                    for _ in range(args.requests):
                        client.get(path, headers=headers)
                    rounds[mode].append((time.perf_counter() - start) / args.requests * 1e6)
            print(f"{label} ({args.artifacts:,} artifacts):")
            for mode, times in rounds.items():
                print(f"  {mode:24} median {statistics.median(times):7.0f} µs   best {min(times):7.0f} µs")


if __name__ == "__main__":
    main()
