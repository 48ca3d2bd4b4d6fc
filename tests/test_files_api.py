"""The files API on both databases and both blob backends (a directory, and moto's S3
server): uploads streamed and checked, downloads with ETag, Range and If-None-Match,
names refused with the rule they break, bytes stored once, served so nothing runs."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.support.files import HTML, PICKLE, SVG, content_digest, png, sha256
from tests.support.problems import assert_problem
from webapp.store import get_store

DATA = b"0123456789abcdef" * 1000


@pytest.fixture
def app_config(app_config: dict[str, Any], blob_backend: dict[str, str], database_url: str) -> dict[str, Any]:
    # database_url named again: an overriding fixture would otherwise lose its parameters.
    return {**app_config, **blob_backend}


@pytest.fixture
def artifact_id(client: Any) -> str:
    return client.post("/api/v1/artifacts", json={"data": {"name": "model"}}).get_json()["id"]


def url(artifact_id: str, name: str = "") -> str:
    return f"/api/v1/artifacts/{artifact_id}/files" + (f"/{name}" if name else "")


def blobs_held(app: Any) -> list[str]:
    return sorted(blob.sha256 for blob in app.extensions["blob_store"].list())


def test_put_then_get_list_head(client: Any, artifact_id: str) -> None:
    response = client.put(url(artifact_id, "weights.bin"), data=DATA)
    assert response.status_code == 201, response.get_data(as_text=True)
    file = response.get_json()
    assert set(file) == {"name", "size", "sha256", "media_type", "created_at"}
    assert file["name"] == "weights.bin" and file["size"] == len(DATA) and file["sha256"] == sha256(DATA)
    assert file["media_type"] == "application/octet-stream"
    assert response.headers["Location"].endswith(url(artifact_id, "weights.bin"))

    download = client.get(url(artifact_id, "weights.bin"))
    assert download.status_code == 200
    assert download.data == DATA
    assert download.headers["ETag"] == f'"{sha256(DATA)}"'
    assert download.headers["Content-Length"] == str(len(DATA))
    assert download.headers["Accept-Ranges"] == "bytes"
    assert download.headers["Repr-Digest"] == content_digest(DATA)
    assert download.headers["Content-Disposition"] == "attachment; filename=weights.bin"

    listing = client.get(url(artifact_id)).get_json()
    assert listing == {"items": [file], "total": 1}

    head = client.head(url(artifact_id, "weights.bin"))
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(DATA)) and head.headers["ETag"] == f'"{sha256(DATA)}"'


def test_put_again_replaces_with_200(client: Any, artifact_id: str) -> None:
    assert client.put(url(artifact_id, "a.txt"), data=b"one").status_code == 201
    again = client.put(url(artifact_id, "a.txt"), data=b"two, longer")
    assert again.status_code == 200
    assert again.get_json()["sha256"] == sha256(b"two, longer")
    assert client.get(url(artifact_id, "a.txt")).data == b"two, longer"
    assert client.get(url(artifact_id)).get_json()["total"] == 1


def test_content_digest_checked_before_anything_is_stored(app: Any, client: Any, artifact_id: str) -> None:
    good = client.put(url(artifact_id, "ok.bin"), data=DATA, headers={"Content-Digest": content_digest(DATA)})
    assert good.status_code == 201
    wrong = client.put(url(artifact_id, "bad.bin"), data=b"other bytes", headers={"Content-Digest": content_digest(DATA)})
    body = assert_problem(wrong, 422, "digest-mismatch")
    assert body["received_sha256"] == sha256(b"other bytes") and body["expected_sha256"] == sha256(DATA)
    assert [f["name"] for f in client.get(url(artifact_id)).get_json()["items"]] == ["ok.bin"]
    assert blobs_held(app) == [sha256(DATA)]  # the refused bytes never reached the blob store
    staging = app.extensions["blob_store"].staging
    assert not list(staging.glob(".upload-*"))  # and their staging file is gone


@pytest.mark.parametrize("header", ["sha-256=abc", "sha-256=:bm90IDMyIGJ5dGVz:", "md5=:AAAA:"])
def test_malformed_content_digest_is_422(client: Any, artifact_id: str, header: str) -> None:
    assert_problem(client.put(url(artifact_id, "x"), data=b"x", headers={"Content-Digest": header}), 422, "content-digest")
    assert client.get(url(artifact_id)).get_json()["total"] == 0


def test_content_digest_beside_other_algorithms(client: Any, artifact_id: str) -> None:
    header = "sha-512=:AAAA:, " + content_digest(b"abc")
    assert client.put(url(artifact_id, "x"), data=b"abc", headers={"Content-Digest": header}).status_code == 201


def test_ranges(client: Any, artifact_id: str) -> None:
    client.put(url(artifact_id, "d.bin"), data=DATA)
    part = client.get(url(artifact_id, "d.bin"), headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == DATA[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert part.headers["Content-Length"] == "10"
    suffix = client.get(url(artifact_id, "d.bin"), headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.data == DATA[-5:]
    open_ended = client.get(url(artifact_id, "d.bin"), headers={"Range": f"bytes={len(DATA) - 3}-"})
    assert open_ended.data == DATA[-3:]
    outside = client.get(url(artifact_id, "d.bin"), headers={"Range": f"bytes={len(DATA)}-"})
    assert_problem(outside, 416)
    assert outside.headers["Content-Range"] == f"bytes */{len(DATA)}"
    # If-Range naming other bytes: the whole file, as RFC 9110 asks.
    stale = client.get(url(artifact_id, "d.bin"), headers={"Range": "bytes=0-1", "If-Range": '"' + "0" * 64 + '"'})
    assert stale.status_code == 200 and stale.data == DATA
    fresh = client.get(url(artifact_id, "d.bin"), headers={"Range": "bytes=0-1", "If-Range": f'"{sha256(DATA)}"'})
    assert fresh.status_code == 206 and fresh.data == DATA[:2]


def test_if_none_match_is_304(client: Any, artifact_id: str) -> None:
    client.put(url(artifact_id, "d.bin"), data=DATA)
    response = client.get(url(artifact_id, "d.bin"), headers={"If-None-Match": f'"{sha256(DATA)}"'})
    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == f'"{sha256(DATA)}"'
    changed = client.get(url(artifact_id, "d.bin"), headers={"If-None-Match": '"' + "1" * 64 + '"'})
    assert changed.status_code == 200 and changed.data == DATA


def test_delete_keeps_the_blob_for_gc(app: Any, client: Any, artifact_id: str) -> None:
    client.put(url(artifact_id, "d.bin"), data=DATA)
    assert client.delete(url(artifact_id, "d.bin")).status_code == 204
    assert_problem(client.get(url(artifact_id, "d.bin")), 404, "file-not-found")
    assert_problem(client.delete(url(artifact_id, "d.bin")), 404, "file-not-found")
    assert blobs_held(app) == [sha256(DATA)]


def test_same_bytes_are_stored_once(app: Any, client: Any, artifact_id: str) -> None:
    other = client.post("/api/v1/artifacts", json={"data": {}}).get_json()["id"]
    client.put(url(artifact_id, "a.bin"), data=DATA)
    client.put(url(artifact_id, "copy.bin"), data=DATA)
    client.put(url(other, "b.bin"), data=DATA)
    assert blobs_held(app) == [sha256(DATA)]
    assert client.get(url(other, "b.bin")).data == DATA


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a/b", "'/'"),
        ("a%2Fb", "'/'"),
        ("a%2fb", "'/'"),
        ("dir/", "'/'"),
        ("a%5Cb", "'\\'"),
        ("..", "'..'"),
        ("%2E%2E", "'..'"),
        ("x..y", "'..'"),
        (".", "'..'"),
        ("a%0Ab", "control characters"),
        ("a%00b", "control characters"),
        ("a%C2%85b", "control characters"),  # NEL, a C1 control
        ("%C3%A9" * 128, "at most 255 bytes"),  # 128 × "é" = 256 bytes
    ],
)
def test_names_refused_with_the_rule(client: Any, artifact_id: str, name: str, rule: str) -> None:
    for response in (
        client.put(url(artifact_id, name), data=b"x"),
        client.get(url(artifact_id, name)),
        client.delete(url(artifact_id, name)),
    ):
        body = assert_problem(response, 422, "file-name")
        assert rule in body["detail"] and rule in body["errors"][0]["msg"]
    assert client.get(url(artifact_id)).get_json()["total"] == 0


def test_names_allowed(client: Any, artifact_id: str) -> None:
    for name in ("日本語 モデル.onnx", "a" * 255, ".hidden", "with space", "v1.2-final(3).tar.gz"):
        response = client.put(url(artifact_id, name), data=b"x")
        assert response.status_code == 201, (name, response.get_json())
        assert client.get(url(artifact_id, name)).data == b"x"


def test_missing_artifact_and_file(client: Any, artifact_id: str) -> None:
    missing = "01" + "Z" * 24
    assert_problem(client.put(url(missing, "x"), data=b"x"), 404, "not-found")
    assert_problem(client.get(url(missing)), 404, "not-found")
    assert_problem(client.get(url(missing, "x")), 404, "not-found")
    assert_problem(client.get(url(artifact_id, "nothing")), 404, "file-not-found")
    assert_problem(client.put(url("not-a-ulid", "x"), data=b"x"), 400, "invalid-ulid")


@pytest.mark.app_config(MAX_FILE_BYTES=100)
def test_max_file_bytes(app: Any, client: Any, artifact_id: str) -> None:
    assert client.put(url(artifact_id, "fits"), data=b"x" * 100).status_code == 201
    assert_problem(client.put(url(artifact_id, "big"), data=b"x" * 101), 413)
    # Chunked (no Content-Length): refused once past the limit, never stored truncated.
    chunked = {"headers": {"Transfer-Encoding": "chunked"}, "environ_overrides": {"wsgi.input_terminated": True}}
    assert_problem(client.put(url(artifact_id, "big"), input_stream=io.BytesIO(b"y" * 500), **chunked), 413)
    small = client.put(url(artifact_id, "chunked"), input_stream=io.BytesIO(b"z" * 100), **chunked)
    assert small.status_code == 201 and small.get_json()["size"] == 100
    client.delete(url(artifact_id, "chunked"))
    # A server that cannot end a chunked body: 411, not an empty file.
    unknown_end = client.put(url(artifact_id, "big"), input_stream=io.BytesIO(b"y"), headers={"Transfer-Encoding": "chunked"})
    assert_problem(unknown_end, 411)
    assert [f["name"] for f in client.get(url(artifact_id)).get_json()["items"]] == ["fits"]
    assert set(blobs_held(app)) <= {sha256(b"x" * 100), sha256(b"z" * 100)}
    assert sha256(b"y" * 100) not in blobs_held(app)


def test_multipart_upload(client: Any, artifact_id: str) -> None:
    response = client.post(url(artifact_id), data={"file": (io.BytesIO(png()), "dot.png")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "dot.png" and response.get_json()["media_type"] == "image/png"
    renamed = client.post(url(artifact_id), data={"file": (io.BytesIO(b"abc"), "x.txt"), "name": "notes.txt"},
                          content_type="multipart/form-data")
    assert renamed.status_code == 201 and renamed.get_json()["name"] == "notes.txt"
    assert_problem(client.post(url(artifact_id), data={"name": "x"}, content_type="multipart/form-data"), 422)
    assert_problem(client.post(url(artifact_id), data=b"raw", content_type="application/octet-stream"), 415)
    bad_name = client.post(url(artifact_id), data={"file": (io.BytesIO(b"abc"), "x.txt"), "name": "a/b"},
                           content_type="multipart/form-data")
    assert_problem(bad_name, 422, "file-name")


def test_only_raster_images_and_plain_text_are_inline(client: Any, artifact_id: str) -> None:
    cases = [
        # name, bytes, claimed type, recorded type, served type, inline
        ("dot.png", png(), None, "image/png", "image/png", True),
        ("dot.bin", png(), "application/octet-stream", "image/png", "image/png", True),  # the bytes decide
        ("fake.png", b"not an image", "image/png", "application/octet-stream", "application/octet-stream", False),
        ("notes.txt", b"hello", None, "text/plain", "text/plain; charset=utf-8", True),
        ("page.txt", HTML, "text/plain", "text/plain", "text/plain; charset=utf-8", True),  # shown as text
        ("image.svg", SVG, "image/svg+xml", "image/svg+xml", "application/octet-stream", False),
        ("page.html", HTML, "text/html", "text/html", "application/octet-stream", False),
        ("model.pkl", PICKLE, None, "application/x-python-pickle", "application/x-python-pickle", False),
    ]
    for name, data, claimed, recorded, served, inline in cases:
        headers = {"Content-Type": claimed} if claimed else {}
        stored = client.put(url(artifact_id, name), data=data, headers=headers).get_json()
        assert stored["media_type"] == recorded, name
        response = client.get(url(artifact_id, name))
        assert response.headers["Content-Type"] == served, name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "sandbox"
        disposition = response.headers["Content-Disposition"]
        assert disposition == "inline" if inline else disposition.startswith("attachment;"), (name, disposition)


def test_deleting_the_artifact_removes_its_files_not_blobs_others_use(app: Any, client: Any, artifact_id: str) -> None:
    other = client.post("/api/v1/artifacts", json={"data": {}}).get_json()["id"]
    client.put(url(artifact_id, "a.bin"), data=DATA)
    client.put(url(other, "b.bin"), data=DATA)
    assert client.delete(f"/api/v1/artifacts/{artifact_id}").status_code == 204
    with app.app_context():
        assert get_store().files.repo.count() == 1
    assert client.get(url(other, "b.bin")).data == DATA
    assert blobs_held(app) == [sha256(DATA)]


def test_empty_file(client: Any, artifact_id: str) -> None:
    assert client.put(url(artifact_id, "empty"), data=b"", environ_overrides={"CONTENT_LENGTH": "0"}).get_json()["size"] == 0
    response = client.get(url(artifact_id, "empty"))
    assert response.status_code == 200 and response.data == b"" and response.headers["Content-Length"] == "0"
    assert_problem(client.get(url(artifact_id, "empty"), headers={"Range": "bytes=0-0"}), 416)
    # No Content-Length and no Transfer-Encoding: no body was sent at all, not an empty file.
    assert_problem(client.put(url(artifact_id, "nothing")), 411)
    assert client.get(url(artifact_id, "nothing")).status_code == 404
