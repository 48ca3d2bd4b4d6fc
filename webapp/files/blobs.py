"""Blob stores: bytes kept by their SHA-256, on a local disk or in any S3-compatible store.

One blob store belongs to one database: the database says which blobs are used, the
blob store holds them. Bytes arrive in a staging file first (hashed while they are
written, never held in memory); `put` then makes them the blob named by their hash, which
is a no-op when that blob is there already (the same bytes twice are stored once).

    blobs = open_blob_store("file:///srv/artifacts/blobs")      # or "s3://bucket/prefix"
    staged = blobs.receive(request.stream, max_bytes=5 * 2**30)
    blobs.put(staged); blobs.discard(staged)
    for chunk in blobs.read(staged.sha256, 0, 1024): ...

Layout, in both backends: `<root>/ab/cd/abcd…` (the first two pairs of hex digits
shard the directory, as git does). Nothing here knows about artifacts.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from .errors import FileTooLargeError
from .names import HEAD_BYTES

CHUNK = 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
STAGING_PREFIX = ".upload-"
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "instance" / "blobs"


@dataclass
class Staged:
    """Received bytes in a staging file, with their SHA-256, size and first bytes."""

    path: Path
    sha256: str
    size: int
    head: bytes


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    modified: datetime


def blob_key(sha256: str) -> str:
    if not SHA256.match(sha256):
        raise ValueError(f"{sha256[:80]!r} is not a SHA-256 in hex")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobStore(ABC):
    """The few operations the files need from a backend."""

    url: str
    staging: Path  # where uploads are received: on the blobs' own disk for the local store

    def receive(self, stream: BinaryIO, max_bytes: int) -> Staged:
        """Copy `stream` to a new staging file, hashing as it goes, in chunks of 1 MiB.

        The writes run in a second thread, so that hashing (here) and writing (there) overlap:
        both release the GIL, and on one thread a large upload ran at the sum of their
        times. At most QUEUED chunks wait between the two, so memory stays flat.
        Raises FileTooLargeError past `max_bytes` (the staging file is removed).
        """
        self.staging.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=STAGING_PREFIX, dir=self.staging)
        path, digest, size, head = Path(name), hashlib.sha256(), 0, b""
        writer = _Writer(handle)
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLargeError(max_bytes)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                writer.put(chunk)
                digest.update(chunk)
            writer.finish()  # flushed and fsynced: durable before anything refers to it
        except BaseException:
            writer.abandon()
            path.unlink(missing_ok=True)
            raise
        return Staged(path, digest.hexdigest(), size, head)

    def discard(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def stale_staging(self, before: datetime) -> list[Path]:
        """Staging files older than `before`: left by uploads that died (a killed worker)."""
        if not self.staging.is_dir():
            return []
        cutoff = before.timestamp()
        return [p for p in self.staging.glob(STAGING_PREFIX + "*") if p.stat().st_mtime < cutoff]

    @abstractmethod
    def put(self, staged: Staged) -> None:
        """Make the staged bytes the blob `staged.sha256` (no-op if it exists). The staging
        file stays, so that a caller can put it again; `discard` removes it."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def read(self, sha256: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The bytes [start, stop) of a blob, in chunks; FileNotFoundError if it is missing."""

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def list(self) -> Iterator[BlobInfo]:
        """Every blob held, in no particular order."""

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the blob's bytes as they are now, or None when it is missing."""
        digest = hashlib.sha256()
        try:
            for chunk in self.read(sha256):
                digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()


class LocalBlobStore(BlobStore):
    """Blobs as files under one directory; uploads are staged in its `.staging/`, on the
    same file system, so a blob appears by an atomic link, complete or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging = self.root / ".staging"
        self.url = self.root.as_uri()

    def path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    def put(self, staged: Staged) -> None:
        target = self.path(staged.sha256)
        if target.exists():
            os.utime(target)  # used again: its GC grace period starts anew
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(staged.path, target)  # atomic; never replaces a blob another upload put
        except FileExistsError:
            return
        _fsync_directory(target.parent)  # the new name survives a crash too

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        file = open(self.path(sha256), "rb")  # noqa: SIM115 - closed by the generator
        return _read_file(file, start, stop)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def list(self) -> Iterator[BlobInfo]:
        for path in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
            if SHA256.match(path.name):
                stat = path.stat()
                yield BlobInfo(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


class _Writer:
    """Writes chunks to a file descriptor in a thread of its own, then fsyncs it."""

    QUEUED = 4

    def __init__(self, handle: int) -> None:
        self.handle, self.error = handle, None
        self.chunks: queue.Queue[bytes | None] = queue.Queue(self.QUEUED)
        self.thread = threading.Thread(target=self._run, name="blob-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with os.fdopen(self.handle, "wb", buffering=0) as out:
                while (chunk := self.chunks.get()) is not None:
                    view = memoryview(chunk)
                    while view:
                        view = view[out.write(view) :]
                os.fsync(out.fileno())
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self.error = error
            while self.chunks.get() is not None:  # let the reader finish: drain to the end
                pass

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.chunks.put(chunk)

    def finish(self) -> None:
        self.chunks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        if self.thread.is_alive():
            self.chunks.put(None)
            self.thread.join()


def _read_file(file: BinaryIO, start: int, stop: int | None) -> Iterator[bytes]:
    with file:
        file.seek(start)
        left = None if stop is None else stop - start
        while left is None or left > 0:
            chunk = file.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _fsync_directory(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class S3BlobStore(BlobStore):
    """Blobs as objects of one bucket under a prefix, through boto3 (credentials, region
    and the like from the usual AWS_* variables; `endpoint_url` for MinIO, Ceph, R2, …).

    Uploads are staged on local disk (the system's temporary directory) and put only once
    their digest is checked, so a refused upload never reaches the bucket; large ones go
    up as multipart uploads of 8 MiB parts, read from the staging file.
    """

    PART_BYTES = 8 * 1024 * 1024

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None = None) -> None:
        self.bucket, self.prefix, self.endpoint_url = bucket, prefix.strip("/"), endpoint_url or None
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        # One staging directory per bucket and prefix: gc-blobs of one store never sweeps
        # another's uploads in flight.
        self.staging = Path(tempfile.gettempdir()) / "artifact-store-staging" / hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self._client: Any = None

    @property
    def client(self) -> Any:
        # Made on first use, in the process that uses it (gunicorn forks workers after import).
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "max_attempts": 5})
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def key(self, sha256: str) -> str:
        return f"{self.prefix}/{blob_key(sha256)}" if self.prefix else blob_key(sha256)

    def put(self, staged: Staged) -> None:
        if self.exists(staged.sha256):
            return
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(
            multipart_threshold=self.PART_BYTES, multipart_chunksize=self.PART_BYTES, max_concurrency=4
        )
        self.client.upload_file(
            str(staged.path), self.bucket, self.key(staged.sha256),
            ExtraArgs={"ContentType": "application/octet-stream"}, Config=transfer,
        )

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def read(self, sha256: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        if stop is not None and stop <= start:
            return iter(())
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if start or stop is not None:
            arguments["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        try:
            body = self.client.get_object(**arguments)["Body"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(sha256) from None
            if code == "InvalidRange":  # an empty blob read from 0
                return iter(())
            raise
        return _read_body(body)

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def list(self) -> Iterator[BlobInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if SHA256.match(name):
                    yield BlobInfo(name, item["Size"], item["LastModified"])


def _read_body(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def open_blob_store(url: str | None, *, endpoint_url: str | None = None, default: Path = DEFAULT_DIRECTORY) -> BlobStore:
    """The blob store a BLOB_STORE_URL names: `file:///absolute/path`, `s3://bucket/prefix`,
    or, when empty, the local directory `default` (instance/blobs). ValueError otherwise."""
    if not url:
        return LocalBlobStore(default)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"BLOB_STORE_URL={url!r}: a file URL needs an absolute path (file:///srv/blobs)")
        return LocalBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"BLOB_STORE_URL={url!r}: name the bucket (s3://bucket/prefix)")
        return S3BlobStore(parts.netloc, unquote(parts.path), endpoint_url)
    raise ValueError(f"BLOB_STORE_URL={url!r}: use file:///absolute/path or s3://bucket/prefix")
