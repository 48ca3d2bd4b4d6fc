"""The Files section of the artifact page: list, upload, delete, previews; safe rendering."""

from __future__ import annotations

import io
import json
from typing import Any

from bs4 import BeautifulSoup

from tests.support.files import PICKLE, png, sha256


def new_artifact(client: Any) -> str:
    return client.post("/api/v1/artifacts", json={"data": {"name": "x"}}).get_json()["id"]


def put(client: Any, artifact_id: str, name: str, data: bytes, **headers: str) -> None:
    assert client.put(f"/api/v1/artifacts/{artifact_id}/files/{name}", data=data, headers=headers).status_code == 201


def section(html: str) -> Any:
    found = BeautifulSoup(html, "html.parser").find(id="files")
    assert found is not None
    return found


def test_the_page_lists_files_with_size_and_checksum(client: Any) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "weights.bin", b"x" * 2048)
    put(client, artifact, "model.pkl", PICKLE)
    files = section(client.get(f"/artifacts/{artifact}").get_data(as_text=True))
    text = files.get_text(" ", strip=True)
    assert "weights.bin" in text and "2.0 KiB" in text and sha256(b"x" * 2048)[:12] in text
    assert files.find("code", title=sha256(b"x" * 2048)) is not None  # the whole checksum, on hover
    row = next(tr for tr in files.find_all("tr") if "model.pkl" in tr.get_text())
    assert "can run code when loaded" in row.get_text()
    link = files.find("a", string="weights.bin")
    assert link["href"] == f"/api/v1/artifacts/{artifact}/files/weights.bin"


def test_upload_and_delete_through_the_page(client: Any) -> None:
    artifact = new_artifact(client)
    upload = client.post(f"/artifacts/{artifact}/files", data={"file": (io.BytesIO(png()), "dot.png")},
                         content_type="multipart/form-data", headers={"HX-Request": "true"})
    assert upload.status_code == 200
    assert "dot.png" in section(upload.get_data(as_text=True)).get_text()
    assert client.get(f"/api/v1/artifacts/{artifact}/files/dot.png").data == png()

    without_js = client.post(f"/artifacts/{artifact}/files", data={"file": (io.BytesIO(b"abc"), "a.txt")},
                             content_type="multipart/form-data")
    assert without_js.status_code == 303 and without_js.headers["Location"].endswith(f"/artifacts/{artifact}#files")

    refused = client.post(f"/artifacts/{artifact}/files", data={"file": (io.BytesIO(b"abc"), "a.txt"), "name": "a/b"},
                          content_type="multipart/form-data", headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "may not contain '/'" in section(refused.get_data(as_text=True)).get_text()

    deleted = client.post(f"/artifacts/{artifact}/files/dot.png/delete", headers={"HX-Request": "true"})
    assert deleted.status_code == 200 and "dot.png" not in section(deleted.get_data(as_text=True)).get_text()
    assert client.get(f"/api/v1/artifacts/{artifact}/files").get_json()["total"] == 1


def preview(client: Any, artifact: str, name: str) -> Any:
    response = client.get(f"/artifacts/{artifact}/files/{name}/preview", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_previews(client: Any) -> None:
    artifact = new_artifact(client)
    put(client, artifact, "dot.png", png())
    put(client, artifact, "notes.txt", b"plain <b>text</b>")
    put(client, artifact, "config.json", json.dumps({"a": [1, 2]}).encode())
    put(client, artifact, "README.md", b"# Title\n\n*hi* <script>alert(1)</script> [x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>")

    image = preview(client, artifact, "dot.png").find("img")
    assert image["src"] == f"/api/v1/artifacts/{artifact}/files/dot.png"

    text = preview(client, artifact, "notes.txt")
    assert text.find("pre").get_text() == "plain <b>text</b>" and text.find("b") is None  # escaped

    assert preview(client, artifact, "config.json").find("pre").get_text() == '{\n  "a": [\n    1,\n    2\n  ]\n}'

    rendered = preview(client, artifact, "README.md").find(class_="markdown-body")
    assert rendered.find("h1").get_text() == "Title" and rendered.find("em").get_text() == "hi"
    assert rendered.find("script") is None and rendered.find("img") is None
    assert not any((a.get("href") or "").startswith("javascript:") for a in rendered.find_all("a"))
    assert not any(name.startswith("on") for tag in rendered.find_all(True) for name in tag.attrs)
    assert "<img src=x onerror=alert(1)>" in rendered.get_text()  # raw HTML is shown as text, not run
