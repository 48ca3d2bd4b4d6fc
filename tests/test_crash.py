"""Crash safety: kill -9 gunicorn workers, then the whole server, while clients write.

A write the server acknowledged with 201 must survive anything short of losing the
disk: afterwards (and after a restart) every acknowledged artifact is there, the trees
are intact, and SQLite's integrity check says "ok". Writes cut off mid-request were
never acknowledged; they may or may not be stored, but never half.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import children_of, gunicorn_server
from tests.support.trees import stored_tree

pytestmark = pytest.mark.slow

WRITERS = 4
WORKERS = 2


class Writers:
    """Threads that create artifacts (roots and children of acknowledged ones) until stopped."""

    def __init__(self, base: str) -> None:
        self.api = f"{base}/api/v1/artifacts"
        self.acknowledged: list[str] = []
        self.cut_off = 0  # requests that died with the process serving them
        self.unexpected: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(n,)) for n in range(WRITERS)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def write(self, seed: int) -> None:
        chance = random.Random(seed)
        with requests.Session() as http:
            while not self.stop.is_set():
                body: dict[str, object] = {"data": {"writer": seed, "n": chance.random()}}
                if self.acknowledged and chance.random() < 0.7:
                    body["parent_id"] = chance.choice(self.acknowledged)
                try:
                    response = http.post(self.api, json=body, timeout=30)
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                    self.cut_off += 1  # refused, reset, or the answer broke off: not acknowledged
                    time.sleep(0.05)
                    continue
                except Exception as error:  # anything else must fail the test, not end the thread
                    self.unexpected.append(repr(error))
                    continue
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["id"])
                else:
                    self.unexpected.append(f"{response.status_code} {response.text[:200]}")

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} writes acknowledged"
            time.sleep(0.05)


def master_pid(pid_file: Path) -> int:
    return int(pid_file.read_text().strip())


def wait_for_workers(master: int, count: int, exclude: set[int] = frozenset()) -> list[int]:
    deadline = time.monotonic() + 30
    while True:
        workers = [pid for pid in children_of(master) if pid not in exclude]
        if len(workers) >= count:
            return workers
        assert time.monotonic() < deadline, "gunicorn did not replace its workers"
        time.sleep(0.1)


def assert_everything_acknowledged_is_stored(url: str, writers: Writers) -> None:
    assert writers.unexpected == []
    stored = stored_tree(url)  # intact trees, integrity_check "ok" on SQLite
    missing = set(writers.acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"


def test_killing_workers_loses_no_acknowledged_write(database_url, tmp_path):
    pid_file = tmp_path / "gunicorn.pid"
    with gunicorn_server(database_url, workers=WORKERS, args=("--pid", str(pid_file))) as base:
        master = master_pid(pid_file)
        with Writers(base) as writers:
            killed: set[int] = set()
            for round_ in range(1, 3):
                writers.wait_for(40 * round_)
                victim = wait_for_workers(master, WORKERS, exclude=killed)[0]
                os.kill(victim, signal.SIGKILL)
                killed.add(victim)
            replacements = wait_for_workers(master, WORKERS, exclude=killed)
            acknowledged_before = len(writers.acknowledged)
            writers.wait_for(acknowledged_before + 40)  # the replacements serve writes again
        assert not killed & set(replacements)
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
    assert_everything_acknowledged_is_stored(database_url, writers)


def test_killing_the_whole_server_loses_no_acknowledged_write(database_url, tmp_path):
    pid_file = tmp_path / "gunicorn.pid"
    with gunicorn_server(database_url, workers=WORKERS, args=("--pid", str(pid_file))) as base:
        master = master_pid(pid_file)
        with Writers(base) as writers:
            writers.wait_for(150)
            workers = children_of(master)
            for pid in [master, *workers]:  # the master first, so nothing is respawned
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)  # writers now see refused connections
        assert writers.cut_off > 0
    acknowledged = set(writers.acknowledged)
    assert_everything_acknowledged_is_stored(database_url, writers)

    with gunicorn_server(database_url, workers=WORKERS) as base:  # restart on the same database
        api = f"{base}/api/v1/artifacts"
        sample = random.Random(0).sample(sorted(acknowledged), 25)
        assert all(requests.get(f"{api}/{artifact_id}", timeout=10).status_code == 200 for artifact_id in sample)
        total = requests.get(api, params={"size": 1}, timeout=10).json()["total"]
        assert total >= len(acknowledged)
        assert requests.post(api, json={"data": {"after": "restart"}}, timeout=10).status_code == 201
