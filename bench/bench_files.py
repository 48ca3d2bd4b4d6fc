#!/usr/bin/env python3
"""Files benchmark: upload and download a large file through gunicorn on loopback.

    python bench/bench_files.py                    # 2 GiB, local blob store, SQLite
    python bench/bench_files.py --size-mib 512 --database-url postgresql://postgres@127.0.0.1:5432/bench

Starts `gunicorn wsgi:app` with one worker (gunicorn.conf.py's: threaded, 8 threads) on a fresh SQLite database (or the given
one, emptied first) and a blob store in a temporary directory, writes a file of random
bytes to the same disk, then measures over HTTP, client and server on this machine:

- upload: PUT /api/v1/artifacts/{id}/files/big.bin with the file as the body (sent in 1 MiB
  blocks by http.client, with its Content-Digest), until the 201;
- download: GET of the same file, read in 1 MiB blocks and thrown away (the byte count is
  checked);
- the worker's RSS, sampled every 20 ms: before, and the highest during each transfer.

Prints a Markdown table; a script, not a test (numbers go to docs/performance.md#files).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import children_of, free_port  # noqa: E402

MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler:
    """The highest RSS of a process while it runs, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_kib(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))


def write_random(path: Path, size: int) -> str:
    """`size` bytes of random data (a random 64 MiB block with a counter per MiB, so no two
    MiB are alike); returns their SHA-256."""
    digest, block = hashlib.sha256(), bytearray(os.urandom(64 * MIB))
    with open(path, "wb") as out:
        written = 0
        while written < size:
            for offset in range(0, len(block), MIB):
                block[offset : offset + 8] = (written + offset).to_bytes(8, "little")
            chunk = memoryview(block)[: min(len(block), size - written)]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workdir", default=None, help="where the file and the blob store go (default: a temp dir)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="bench-files-", dir=args.workdir))
    try:
        run(work, size, args.database_url or f"sqlite:///{work / 'bench.db'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int, database_url: str) -> None:
    source = work / "big.bin"
    started = time.perf_counter()
    sha256 = write_random(source, size)
    print(f"wrote {size / MIB:,.0f} MiB of random bytes in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if database_url.startswith("postgresql"):
        subprocess.run([sys.executable, "-c", "import sys; from tests.support.databases import reset_postgres; "
                        "reset_postgres(sys.argv[1])", database_url], cwd=ROOT, check=True)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BLOB_STORE_URL": (work / "blobs").as_uri(),
        "SECRET_KEY": "bench-files-secret",
        "GUNICORN_TIMEOUT": "600",
        "AUTH_ANONYMOUS": "write",  # a throw-away store open to its benchmark client
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--timeout", "600", "--log-level", "warning", "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env,
    )
    try:
        connection = wait_until_up(port)
        connection.request("POST", "/api/v1/artifacts", json.dumps({"data": {"name": "bench"}}),
                           {"Content-Type": "application/json"})
        reply = connection.getresponse()
        artifact_id = json.loads(reply.read())["id"]
        worker = children_of(server.pid)[0]
        idle = rss_kib(worker)
        path = f"/api/v1/artifacts/{artifact_id}/files/big.bin"
        digest = "sha-256=:" + base64.b64encode(bytes.fromhex(sha256)).decode() + ":"

        with Sampler(worker) as up, open(source, "rb") as body:
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600, blocksize=MIB)
            connection.request("PUT", path, body, {"Content-Length": str(size), "Content-Digest": digest})
            reply = connection.getresponse()
            answer = json.loads(reply.read())
            upload_s = time.perf_counter() - started
        assert reply.status == 201 and answer["sha256"] == sha256, answer

        with Sampler(worker) as down:
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            connection.request("GET", path)
            reply = connection.getresponse()
            received, buffer = 0, bytearray(MIB)
            while count := reply.readinto(buffer):
                received += count
            download_s = time.perf_counter() - started
        assert reply.status == 200 and received == size, (reply.status, received)
    finally:
        server.terminate()
        server.wait(timeout=30)

    mb = size / 1e6
    print(f"| {size / MIB:,.0f} MiB · {database_url.split(':')[0]} | upload | download |")
    print("|---|---|---|")
    print(f"| time | {upload_s:.1f} s | {download_s:.1f} s |")
    print(f"| throughput | **{mb / upload_s:,.0f} MB/s** | **{mb / download_s:,.0f} MB/s** |")
    print(f"| worker RSS before → peak (increase) | {idle / 1024:,.0f} → {up.peak / 1024:,.0f} MB "
          f"(**+{(up.peak - idle) / 1024:,.0f} MB**) | {idle / 1024:,.0f} → {down.peak / 1024:,.0f} MB "
          f"(**+{(down.peak - idle) / 1024:,.0f} MB**) |")


def wait_until_up(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
