"""A real gunicorn on a free port, and the processes it starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(
    database_url: str,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    log: Path | None = None,
) -> Iterator[str]:
    """A real `gunicorn wsgi:app` on a free loopback port; yields its base URL. `log`: a file
    that gets its standard error (the master's log: the set-up link, for one)."""
    port = free_port()
    blobs = tempfile.mkdtemp(prefix="blobs-")  # never the checkout's instance/blobs
    environment = {
        **os.environ,
        "BLOB_STORE_URL": Path(blobs).as_uri(),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "e2e-test-secret",
        "AUTH_ANONYMOUS": "write",  # as before accounts; a test of access passes env={"AUTH_ANONYMOUS": "none"}
        "METRICS_ANONYMOUS": "1",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "wsgi:app",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning", *args,
    ]
    stderr = open(log, "w") if log is not None else None  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still booting
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become healthy within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(blobs, ignore_errors=True)
        if stderr is not None:
            stderr.close()


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (gunicorn's workers, for its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
