"""verify, gc-blobs, export/import and prune with files, and CSV uploads keeping their
original: on both databases and both blob backends (a directory, moto's S3 server)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import sha256
from tests.support.s3 import s3_client
from webapp import integrity, ops
from webapp.files import LocalBlobStore, S3BlobStore, open_blob_store
from webapp.frames import ArtifactFrame
from webapp.store import Store

DATA = b"model weights " * 500
LATER = datetime.now(UTC) + timedelta(days=1)  # past every grace period


@pytest.fixture
def app_config(app_config: dict[str, Any], blob_backend: dict[str, str], database_url: str) -> dict[str, Any]:
    # database_url named again: an overriding fixture would otherwise lose its parameters.
    return {**app_config, **blob_backend}


def new_artifact(client: Any) -> str:
    return client.post("/api/v1/artifacts", json={"data": {"name": "x"}}).get_json()["id"]


def put(client: Any, artifact_id: str, name: str, data: bytes) -> None:
    assert client.put(f"/api/v1/artifacts/{artifact_id}/files/{name}", data=data).status_code in (200, 201)


def overwrite_blob(store: Store, digest: str, data: bytes | None) -> None:
    """Damage a blob behind the app's back, as a failing disk or a careless hand would."""
    blobs = store.files.blobs
    if isinstance(blobs, LocalBlobStore):
        if data is None:
            blobs.path(digest).unlink()
        else:
            blobs.path(digest).write_bytes(data)
    else:
        assert isinstance(blobs, S3BlobStore)
        client = s3_client(blobs.endpoint_url or "")
        if data is None:
            client.delete_object(Bucket=blobs.bucket, Key=blobs.key(digest))
        else:
            client.put_object(Bucket=blobs.bucket, Key=blobs.key(digest), Body=data)


def held(store: Store) -> set[str]:
    return {blob.sha256 for blob in store.files.blobs.list()}


def thin_all_history(store: Store) -> None:
    """Retention keeps only each artifact's newest revision: older file lists go."""
    ops.thin_history(store, timedelta(0), now=LATER)


def test_gc_never_removes_a_blob_in_use(client: Any, store: Store) -> None:
    first, second = new_artifact(client), new_artifact(client)
    put(client, first, "a.bin", DATA)
    put(client, second, "b.bin", DATA)
    put(client, first, "other.bin", b"only here")
    assert client.delete(f"/api/v1/artifacts/{first}").status_code == 204
    # The deleted artifact's revisions still name its blobs: a restore needs them.
    assert integrity.collect_garbage(store, now=LATER).deleted == []
    assert store.artifacts.forget_deleted(LATER) == 1  # retention (prune): its history goes for good

    dry = integrity.collect_garbage(store, dry_run=True, now=LATER)
    assert dry.deleted == [(sha256(b"only here"), len(b"only here"))]
    assert held(store) == {sha256(DATA), sha256(b"only here")}  # a dry run deletes nothing

    done = integrity.collect_garbage(store, now=LATER)
    assert done.deleted == dry.deleted and done.in_use == 1
    assert held(store) == {sha256(DATA)}
    assert client.get(f"/api/v1/artifacts/{second}/files/b.bin").data == DATA

    client.delete(f"/api/v1/artifacts/{second}/files/b.bin")
    assert integrity.collect_garbage(store, now=LATER).deleted == []  # an older revision lists it
    thin_all_history(store)
    assert integrity.collect_garbage(store, now=LATER).deleted == [(sha256(DATA), len(DATA))]
    assert held(store) == set()


def test_gc_keeps_the_blobs_of_old_revisions_and_revert_brings_them_back(client: Any, store: Store) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "model.bin", DATA)
    put(client, artifact, "model.bin", b"retrained")  # replaced: revision 3
    client.delete(f"/api/v1/artifacts/{artifact}/files/model.bin")  # revision 4
    assert integrity.collect_garbage(store, now=LATER).deleted == []
    assert held(store) == {sha256(DATA), sha256(b"retrained")}
    reverted = client.post(f"/api/v1/artifacts/{artifact}/$revert", json={"revision": 2})
    assert reverted.status_code == 200 and reverted.get_json()["revision"] == 5
    assert client.get(f"/api/v1/artifacts/{artifact}/files/model.bin").data == DATA


def test_gc_leaves_young_unused_blobs(client: Any, store: Store) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "a.bin", DATA)
    client.delete(f"/api/v1/artifacts/{artifact}/files/a.bin")
    thin_all_history(store)
    result = integrity.collect_garbage(store)  # now: within BLOB_GC_GRACE (an hour)
    assert result.deleted == [] and result.recent == 1
    assert held(store) == {sha256(DATA)}


def test_upload_after_gc_took_its_blob_puts_it_back(client: Any, store: Store) -> None:
    """The same bytes uploaded again once GC deleted them: the new file has its blob."""
    artifact = new_artifact(client)
    put(client, artifact, "a.bin", DATA)
    client.delete(f"/api/v1/artifacts/{artifact}/files/a.bin")
    thin_all_history(store)
    integrity.collect_garbage(store, now=LATER)
    put(client, artifact, "again.bin", DATA)
    assert client.get(f"/api/v1/artifacts/{artifact}/files/again.bin").data == DATA


@pytest.mark.app_config(BLOB_GC_GRACE=0)
def test_gc_cli(client: Any, runner: Any, store: Store) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "a.bin", DATA)
    client.delete(f"/api/v1/artifacts/{artifact}/files/a.bin")
    thin_all_history(store)
    dry = runner.invoke(args=["gc-blobs", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 1 unused blob" in dry.output and sha256(DATA) in dry.output and "Dry run" in dry.output
    done = runner.invoke(args=["gc-blobs"])
    assert done.exit_code == 0 and "Deleted 1 unused blob" in done.output
    assert "Deleted 0 unused blobs" in runner.invoke(args=["gc-blobs"]).output


def test_verify_finds_corrupted_and_missing_blobs(client: Any, runner: Any, store: Store) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "a.bin", DATA)
    put(client, artifact, "b.bin", b"second file")
    ok = runner.invoke(args=["verify"])
    assert ok.exit_code == 0, ok.output
    assert "Checked 2 blobs (used by 2 files) and 0 stored tables: all intact." in ok.output

    overwrite_blob(store, sha256(DATA), b"model weights, bit-rotted")
    overwrite_blob(store, sha256(b"second file"), None)
    bad = runner.invoke(args=["verify"])
    assert bad.exit_code == 1
    assert f"corrupted blob {sha256(DATA)}: its bytes hash to {sha256(b'model weights, bit-rotted')}" in bad.output
    assert f"{artifact}/a.bin" in bad.output
    assert f"missing blob {sha256(b'second file')} (used by {artifact}/b.bin)" in bad.output
    assert "2 problems found" in bad.output
    # Downloading a lost blob is the server's fault, said so, not a hang or a traceback.
    response = client.get(f"/api/v1/artifacts/{artifact}/files/b.bin")
    assert response.status_code == 500 and response.get_json()["type"].endswith("blob-missing")


CSV = "when,city,rain_mm\n2026-01-01,Oslo,3.5\n2026-01-02,Bergen,12.0\n".encode()


def upload_csv(client: Any, name: str = "weather.csv", data: bytes = CSV) -> dict[str, Any]:
    response = client.post(
        "/api/v1/artifacts/$upload", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_csv_upload_keeps_its_original_file(client: Any) -> None:
    artifact = upload_csv(client)
    listing = client.get(f"/api/v1/artifacts/{artifact['id']}/files").get_json()
    assert [f["name"] for f in listing["items"]] == ["weather.csv"]
    assert listing["items"][0]["sha256"] == artifact["data"]["source"]["sha256"] == sha256(CSV)
    assert listing["items"][0]["media_type"] == "text/csv"
    assert client.get(f"/api/v1/artifacts/{artifact['id']}/files/weather.csv").data == CSV
    assert client.get(f"/api/v1/artifacts/{artifact['id']}/frame.csv").status_code == 200  # the table stays


def test_verify_finds_a_corrupted_table(client: Any, runner: Any, store: Store) -> None:
    artifact = upload_csv(client)
    assert runner.invoke(args=["verify"]).exit_code == 0
    with store.writing():
        store.session.execute(ArtifactFrame.__table__.update().values(content=b"PAR1 not parquet PAR1"))
    bad = runner.invoke(args=["verify"])
    assert bad.exit_code == 1 and f"corrupted table of artifact {artifact['id']}" in bad.output


def test_export_import_carries_files(client: Any, store: Store, tmp_path: Path) -> None:
    root = new_artifact(client)
    child = client.post("/api/v1/artifacts", json={"parent_id": root, "data": {}}).get_json()["id"]
    put(client, root, "notes.txt", b"read me")
    put(client, child, "w.bin", DATA)
    document = ops.export_subtree(store, root)
    assert {entry["name"] for entries in document["extras"]["files"].values() for entry in entries} == {"notes.txt", "w.bin"}
    path = tmp_path / "export.json"
    ops.write_json(document, path)

    assert client.delete(f"/api/v1/artifacts/{child}").status_code == 204
    assert client.delete(f"/api/v1/artifacts/{root}").status_code == 204
    store.artifacts.forget_deleted(LATER)  # gone for good: nothing refers to the blobs
    integrity.collect_garbage(store, now=LATER)
    assert held(store) == set()

    result = ops.import_subtree(store, ops.read_export(path), parent=None)
    assert result.extras["files"] == 2
    assert client.get(f"/api/v1/artifacts/{child}/files/w.bin").data == DATA
    assert client.get(f"/api/v1/artifacts/{root}/files/notes.txt").data == b"read me"
    # The history came along, each revision with its files: the upload was revision 2.
    history = client.get(f"/api/v1/artifacts/{child}/$history").get_json()["items"]
    assert [(item["revision"], sorted(item["files"])) for item in history] == [(2, ["w.bin"]), (1, [])]


def test_large_files_travel_by_digest_only(client: Any, store: Store, tmp_path: Path) -> None:
    """A blob over EXPORT_INLINE_BYTES is named, not carried: an import into a store that
    holds it works, one into a store without it refuses, importing nothing."""
    root = new_artifact(client)
    put(client, root, "big.bin", DATA)
    store.files.EXPORT_INLINE_BYTES = 10  # type: ignore[misc]
    document = json.loads(json.dumps(ops.export_subtree(store, root)))
    assert "content" not in document["extras"]["files"][root][0]
    client.delete(f"/api/v1/artifacts/{root}")

    elsewhere = Store(store.session, store.policy, blobs=open_blob_store((tmp_path / "other").as_uri()))
    with pytest.raises(ops.OpsError, match="is not in this blob store"):
        ops.import_subtree(elsewhere, document, parent=None)
    assert not store.artifacts.exists_by_id(root)

    ops.import_subtree(store, document, parent=None)  # the blob is still here (GC has not run)
    assert client.get(f"/api/v1/artifacts/{root}/files/big.bin").data == DATA


def test_prune_removes_file_rows_and_gc_the_blobs(client: Any, store: Store) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "a.bin", DATA)
    result = ops.prune(store, timedelta(seconds=0), now=LATER)
    assert result.artifacts == 1
    assert store.files.repo.count() == 0
    assert integrity.collect_garbage(store, now=LATER + timedelta(days=1)).deleted == [(sha256(DATA), len(DATA))]
