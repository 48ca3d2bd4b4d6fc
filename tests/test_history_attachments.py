"""History with what is attached to artifacts: a table and files come back whole with a
restore; adding, replacing or removing a file is a revision that lists the files; revert,
$diff and as-of reads follow the files; retention removes it all for good. Both databases."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tests.support.files import sha256
from webapp import integrity, ops
from webapp.files.models import ArtifactRevisionFile
from webapp.frames import ArtifactFrame
from webapp.store import Store

CSV = b"city,temp,rain\nOslo,3.5,1\nLima,19.25,0\nPune,30,2\n"
LATER = datetime.now(UTC) + timedelta(days=1)  # past every grace period and cutoff


def api(artifact_id: str, tail: str = "") -> str:
    return f"/api/v1/artifacts/{artifact_id}{tail}"


def new_artifact(client: Any, **data: Any) -> str:
    response = client.post("/api/v1/artifacts", json={"data": data or {"name": "x"}})
    assert response.status_code == 201
    return response.get_json()["id"]


def put(client: Any, artifact_id: str, name: str, data: bytes) -> dict[str, Any]:
    response = client.put(api(artifact_id, f"/files/{name}"), data=data)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def upload_csv(client: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/artifacts/$upload", data={"file": (io.BytesIO(CSV), "weather.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def history(client: Any, artifact_id: str) -> list[dict[str, Any]]:
    response = client.get(api(artifact_id, "/$history"))
    assert response.status_code == 200
    return response.get_json()["items"]


def file_names(client: Any, artifact_id: str, **params: str) -> list[str]:
    response = client.get(api(artifact_id, "/files"), query_string=params)
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["items"]]


def count(store: Store, table: Any) -> int:
    with store.reading():
        return store.session.scalar(select(func.count()).select_from(table)) or 0


# Restore brings back what was attached ---------------------------------------------------


def test_restore_brings_a_table_artifact_back_whole(client: Any, store: Store) -> None:
    artifact = upload_csv(client)
    key = artifact["id"]
    rows = client.get(api(key, "/frame/rows")).get_json()
    table_csv = client.get(api(key, "/frame.csv")).data
    original = client.get(api(key, "/files/weather.csv")).data
    assert original == CSV

    assert client.delete(api(key)).status_code == 204
    assert client.get(api(key, "/frame/rows")).status_code == 404
    assert count(store, ArtifactFrame) == 1  # kept with the history, never copied

    assert client.post(api(key, "/$restore")).status_code == 200
    assert client.get(api(key, "/frame/rows")).get_json() == rows
    assert client.get(api(key, "/frame.csv")).data == table_csv
    assert client.get(api(key, "/files/weather.csv")).data == CSV
    assert [item["action"] for item in history(client, key)] == ["restored", "deleted", "created"]


def test_restore_brings_back_the_files_it_had(client: Any) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"weights")
    put(client, key, "notes.txt", b"read me")
    assert client.delete(api(key)).status_code == 204
    assert client.get(api(key, "/files")).status_code == 404

    restored = client.post(api(key, "/$restore"))
    assert restored.status_code == 200 and restored.get_json()["revision"] == 5
    assert file_names(client, key) == ["model.bin", "notes.txt"]
    assert client.get(api(key, "/files/model.bin")).data == b"weights"
    newest = history(client, key)[0]
    assert newest["action"] == "restored" and sorted(newest["files"]) == ["model.bin", "notes.txt"]


def test_a_subtree_deleted_and_restored_keeps_its_files(client: Any, store: Store) -> None:
    root = new_artifact(client)
    child = client.post("/api/v1/artifacts", json={"parent_id": root, "data": {}}).get_json()["id"]
    put(client, child, "w.bin", b"child bytes")
    store.artifacts.delete_subtree(root)
    assert client.post(api(root, "/$restore")).status_code == 200
    assert client.post(api(child, "/$restore")).status_code == 200
    assert client.get(api(child, "/files/w.bin")).data == b"child bytes"


def test_prune_removes_a_deleted_table_and_its_files_for_good(client: Any, store: Store) -> None:
    table = upload_csv(client)["id"]
    assert client.delete(api(table)).status_code == 204

    result = ops.prune(store, timedelta(days=2), now=LATER)
    assert result.subtrees == [] and result.forgotten == 0  # deleted after that cutoff: restorable still
    assert integrity.collect_garbage(store, now=LATER).deleted == []  # its revisions name the CSV
    result = ops.prune(store, timedelta(hours=1), now=LATER)
    assert result.forgotten == 1
    assert client.get(api(table, "/$history")).status_code == 404
    assert client.post(api(table, "/$restore")).status_code == 404
    assert count(store, ArtifactFrame) == 0 and count(store, ArtifactRevisionFile) == 0
    assert integrity.collect_garbage(store, now=LATER).deleted == [(sha256(CSV), len(CSV))]


def test_prune_of_a_subtree_removes_its_table_and_file_lists(client: Any, store: Store) -> None:
    table = upload_csv(client)["id"]
    result = ops.prune(store, timedelta(hours=1), now=LATER)
    assert [subtree.root_id for subtree in result.subtrees] == [table]
    assert count(store, ArtifactFrame) == 0 and count(store, ArtifactRevisionFile) == 0


def test_an_id_taken_anew_starts_without_the_deleted_ones_files(client: Any) -> None:
    key = new_artifact(client)
    put(client, key, "a.bin", b"old life")
    client.delete(api(key))
    again = client.post("/api/v1/artifacts", json={"id": key, "data": {"name": "new"}})
    assert again.status_code == 201 and again.get_json()["revision"] == 4
    assert file_names(client, key) == []
    assert history(client, key)[0]["files"] == {}


# Files are part of a revision ------------------------------------------------------------


def test_adding_replacing_and_removing_a_file_each_write_a_revision(client: Any) -> None:
    key = new_artifact(client)
    etag = client.get(api(key)).headers["ETag"]
    put(client, key, "model.bin", b"v1")
    put(client, key, "model.bin", b"v1")  # the same bytes again: no change, no revision
    put(client, key, "model.bin", b"v2")
    assert client.delete(api(key, "/files/model.bin")).status_code == 204

    items = history(client, key)
    assert [(item["revision"], item["action"]) for item in items] == [
        (4, "updated"), (3, "updated"), (2, "updated"), (1, "created")
    ]
    assert items[3]["files"] == {} and items[0]["files"] == {}
    assert items[2]["files"]["model.bin"]["sha256"] == sha256(b"v1")
    assert items[1]["files"]["model.bin"] == {
        "sha256": sha256(b"v2"), "size": 2, "media_type": items[1]["files"]["model.bin"]["media_type"],
        "created_at": items[1]["files"]["model.bin"]["created_at"],
    }
    one = client.get(api(key, "/$history/3")).get_json()
    assert one["files"]["model.bin"]["sha256"] == sha256(b"v2")
    artifact = client.get(api(key))
    assert artifact.get_json()["revision"] == 4 and artifact.headers["ETag"] != etag  # a change of the artifact


def test_a_csv_upload_lists_its_original_file_in_its_created_revision(client: Any) -> None:
    key = upload_csv(client)["id"]
    (created,) = history(client, key)
    assert created["action"] == "created" and created["files"]["weather.csv"]["sha256"] == sha256(CSV)


def test_diff_shows_the_files_added_removed_and_changed(client: Any) -> None:
    key = new_artifact(client)
    put(client, key, "keep.txt", b"same")
    put(client, key, "gone.txt", b"bye")
    put(client, key, "model.bin", b"v1")  # revision 4
    put(client, key, "model.bin", b"v2")
    client.delete(api(key, "/files/gone.txt"))
    put(client, key, "new.txt", b"hello")  # revision 7

    diff = client.get(api(key, "/$diff"), query_string={"from": 4, "to": 7}).get_json()
    assert diff["changes"] == [] and diff["patch"] == []
    files = diff["files"]
    assert list(files["added"]) == ["new.txt"] and files["added"]["new.txt"]["sha256"] == sha256(b"hello")
    assert list(files["removed"]) == ["gone.txt"]
    assert [(c["name"], c["old"]["sha256"], c["new"]["sha256"]) for c in files["changed"]] == [
        ("model.bin", sha256(b"v1"), sha256(b"v2"))
    ]
    last = client.get(api(key, "/$diff")).get_json()  # the previous revision against the newest
    assert list(last["files"]["added"]) == ["new.txt"] and last["files"]["removed"] == {}

    other = new_artifact(client)
    put(client, other, "keep.txt", b"same")
    between = client.get("/api/v1/artifacts/$diff", query_string={"a": other, "b": key}).get_json()
    assert sorted(between["files"]["added"]) == ["model.bin", "new.txt"] and between["files"]["changed"] == []


def test_revert_restores_the_file_list_of_that_revision(client: Any) -> None:
    key = new_artifact(client, name="run")
    put(client, key, "model.bin", b"v1")  # revision 2
    client.put(api(key), json={"data": {"name": "run", "score": 1}})  # 3
    put(client, key, "model.bin", b"v2")  # 4
    put(client, key, "extra.txt", b"more")  # 5

    reverted = client.post(api(key, "/$revert"), json={"revision": 2})
    assert reverted.status_code == 200
    body = reverted.get_json()
    assert body["revision"] == 6 and body["data"] == {"name": "run"}
    assert file_names(client, key) == ["model.bin"]
    assert client.get(api(key, "/files/model.bin")).data == b"v1"
    newest = history(client, key)[0]
    assert newest["action"] == "reverted" and newest["files"]["model.bin"]["sha256"] == sha256(b"v1")

    # Data as revision 3 has it, files differ: the revert still is a change.
    again = client.post(api(key, "/$revert"), json={"revision": 4})
    assert again.get_json()["revision"] == 7 and again.get_json()["data"] == {"name": "run", "score": 1}
    assert client.get(api(key, "/files/model.bin")).data == b"v2"
    same = client.post(api(key, "/$revert"), json={"revision": 4})  # nothing left to change
    assert same.status_code == 200 and same.get_json()["revision"] == 7


def test_as_of_reads_show_the_files_of_then(client: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"v1")
    with store.reading():
        then = store.history.revision(key, 2).at
    put(client, key, "model.bin", b"v2")
    put(client, key, "later.txt", b"later")

    moment = then.isoformat().replace("+00:00", "Z")
    assert file_names(client, key, as_of=moment) == ["model.bin"]
    assert client.get(api(key, "/files/model.bin"), query_string={"as_of": moment}).data == b"v1"
    assert client.get(api(key, "/files/model.bin")).data == b"v2"
    missing = client.get(api(key, "/files/later.txt"), query_string={"as_of": moment})
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"
    before = (then - timedelta(days=1)).isoformat()
    assert client.get(api(key, "/files"), query_string={"as_of": before}).status_code == 404
    bad = client.get(api(key, "/files"), query_string={"as_of": "yesterday"})
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"


def test_gc_keeps_every_blob_a_revision_names_until_retention_thins_it(client: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"first weights")
    put(client, key, "model.bin", b"second weights")
    assert integrity.collect_garbage(store, now=LATER).deleted == []
    assert client.post(api(key, "/$revert"), json={"revision": 2}).status_code == 200
    assert client.get(api(key, "/files/model.bin")).data == b"first weights"

    ops.thin_history(store, timedelta(0), now=LATER)  # only the newest revision (first weights) stays
    assert integrity.collect_garbage(store, now=LATER).deleted == [(sha256(b"second weights"), 14)]
    assert client.get(api(key, "/files/model.bin")).data == b"first weights"


def test_verify_checks_the_blobs_only_old_revisions_name(client: Any, runner: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"old weights")
    put(client, key, "model.bin", b"new weights")
    blobs = store.files.blobs
    blobs.path(sha256(b"old weights")).unlink()  # type: ignore[attr-defined]
    report = runner.invoke(args=["verify"])
    assert report.exit_code == 1
    assert f"missing blob {sha256(b'old weights')}" in report.output and "model.bin (revision 2)" in report.output


def test_export_import_carries_each_revisions_files(client: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"v1")
    put(client, key, "model.bin", b"v2")
    document = ops.export_subtree(store, key)
    client.delete(api(key))
    store.artifacts.forget_deleted(LATER)
    ops.import_subtree(store, document, parent=None)
    items = history(client, key)
    assert [item["files"]["model.bin"]["sha256"] for item in items[:2]] == [sha256(b"v2"), sha256(b"v1")]
    assert client.post(api(key, "/$revert"), json={"revision": 2}).status_code == 200
    assert client.get(api(key, "/files/model.bin")).data == b"v1"


def test_the_history_page_and_diff_page_name_the_file_changes(client: Any) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"v1")
    put(client, key, "model.bin", b"v2")
    client.delete(api(key, "/files/model.bin"))
    page = client.get(f"/artifacts/{key}/history").get_data(as_text=True)
    assert "added file model.bin" in page and "replaced file model.bin" in page and "removed file model.bin" in page
    diff = client.get(f"/artifacts/{key}/diff", query_string={"from": 1, "to": 3}).get_data(as_text=True)
    assert 'id="files-diff-heading"' in diff and "model.bin" in diff and "added" in diff


def test_migration_0011_lists_the_files_each_earlier_revision_had(app_config: dict[str, Any]) -> None:
    """Revisions made before 0011 list the files stored by their time; the newest lists all;
    and the tables lose their cascading key."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect

    from webapp import create_app
    from webapp.artifacts.models import Base
    from webapp.database import MIGRATIONS
    from webapp.extensions import db

    tables = Base.metadata.tables
    key = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    moments = [datetime(2026, 1, day, tzinfo=UTC) for day in range(1, 6)]
    app = create_app({**app_config, "AUTO_MIGRATE": False})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0009")
        connection = db.session.connection()
        connection.execute(tables["artifacts"].insert(), {
            "id": key, "level": 0, "hierarchy": "ml_pipeline", "root_id": key, "data": {}, "revision": 3,
            "created_at": moments[0], "updated_at": moments[4],
        })
        connection.execute(tables["artifact_revisions"].insert(), [
            {"artifact_id": key, "revision": number, "action": "created" if number == 1 else "updated", "data": {},
             "level": 0, "hierarchy": "ml_pipeline", "at": at, "created_at": moments[0]}
            for number, at in ((1, moments[1]), (2, moments[3]), (3, moments[3]))
        ])
        connection.execute(tables["artifact_files"].insert(), [
            {"artifact_id": key, "name": name, "sha256": digit * 64, "size": 1, "media_type": "text/plain", "created_at": at}
            for name, digit, at in (("early.txt", "a", moments[0]), ("middle.txt", "b", moments[2]), ("late.txt", "c", moments[4]))
        ])
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        manifests = db.session.execute(
            select(ArtifactRevisionFile.revision, ArtifactRevisionFile.name).order_by(ArtifactRevisionFile.revision, ArtifactRevisionFile.name)
        ).all()
        assert [tuple(row) for row in manifests] == [
            (1, "early.txt"), (2, "early.txt"), (2, "middle.txt"), (3, "early.txt"), (3, "late.txt"), (3, "middle.txt"),
        ]
        assert inspect(db.engine).get_foreign_keys("artifact_frames") == []
        db.session.remove()
        db.engine.dispose()


def test_delete_all_then_restore_brings_the_files_back(client: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "a.bin", b"everything goes")
    assert store.artifacts.delete_all() == 1
    assert client.post(api(key, "/$restore")).status_code == 200
    assert client.get(api(key, "/files/a.bin")).data == b"everything goes"


def test_prune_cli_forgets_artifacts_deleted_before_the_cutoff(client: Any, runner: Any, store: Store) -> None:
    from webapp.artifacts.models import ArtifactRevision

    key = upload_csv(client)["id"]
    assert client.delete(api(key)).status_code == 204
    with store.writing():  # deleted long ago, as far as retention can tell
        store.session.execute(ArtifactRevision.__table__.update().values(at=datetime(2020, 1, 1, tzinfo=UTC)))
    dry = runner.invoke(args=["prune", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would forget 1 artifact deleted before" in dry.output
    assert client.get(api(key, "/$history")).status_code == 200  # a dry run forgets nothing
    done = runner.invoke(args=["prune", "--older-than", "30d"])
    assert done.exit_code == 0 and "Forgot 1 artifact deleted before" in done.output
    assert client.get(api(key, "/$history")).status_code == 404
    assert count(store, ArtifactFrame) == 0


def test_a_revert_to_files_whose_bytes_are_gone_is_refused_and_changes_nothing(client: Any, store: Store) -> None:
    key = new_artifact(client)
    put(client, key, "model.bin", b"old weights")
    put(client, key, "model.bin", b"new weights")
    store.files.blobs.path(sha256(b"old weights")).unlink()  # type: ignore[attr-defined]  # lost, say
    refused = client.post(api(key, "/$revert"), json={"revision": 2})
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"].endswith("file-content-gone") and problem["sha256"] == sha256(b"old weights")
    assert client.get(api(key)).get_json()["revision"] == 3
    assert client.get(api(key, "/files/model.bin")).data == b"new weights"
