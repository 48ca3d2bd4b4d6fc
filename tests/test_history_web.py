"""History pages: the artifact's History section, diffs, Revert (CSRF, version check), Recently deleted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.html import html, texts
from webapp.artifacts import ArtifactIn, ArtifactUpdate

pytestmark = pytest.mark.app_config(WTF_CSRF_ENABLED=True)


def token(client: Any, url: str) -> str:
    return html(client.get(url)).select_one("input[name=csrf_token]")["value"]


def test_the_artifact_page_lists_its_revisions_with_what_changed(client, manager):
    artifact = manager.create(ArtifactIn(data={"name": "model", "rmse": 0.31}))
    manager.update(artifact.id, ArtifactUpdate(data={"name": "model", "rmse": 0.27}))
    page = html(client.get(f"/artifacts/{artifact.id}"))
    rows = page.select("#history tr.revision")
    assert [row["id"] for row in rows] == ["revision-2", "revision-1"]
    assert texts(rows[0].select(".action")) == ["updated"] and "changed /rmse" in rows[0].get_text()
    assert "anonymous" in rows[0].get_text() and rows[0].select_one("time")
    assert page.select_one("#history a[href$='/history']")


def test_the_diff_page_highlights_changed_fields_and_shows_long_text_as_lines(client, manager):
    artifact = manager.create(ArtifactIn(data={"name": "doc", "body": "one\ntwo\nthree", "gone": 1}))
    manager.update(artifact.id, ArtifactUpdate(data={"name": "doc", "body": "one\n2\nthree", "new": True}))
    page = html(client.get(f"/artifacts/{artifact.id}/diff"))
    assert {c["class"][1] for c in page.select("li.change")} == {"change-replace", "change-remove", "change-add"}
    assert texts(page.select(".line-removed")) == ["-two"] and texts(page.select(".line-added")) == ["+2"]
    assert texts(page.select(".change-remove pre.old")) == ["1"]
    assert page.select_one("form[action$='/revert'] input[name=revision]")["value"] == "1"
    other = html(client.get(f"/artifacts/{artifact.id}/diff?from=2&to=2"))
    assert other.select_one(".no-changes")


def test_revert_needs_the_token_and_the_version_it_was_shown(client, manager):
    artifact = manager.create(ArtifactIn(data={"v": 1}))
    manager.update(artifact.id, ArtifactUpdate(data={"v": 2}))
    page = html(client.get(f"/artifacts/{artifact.id}/diff"))
    form = {field["name"]: field["value"] for field in page.select("form[action$='/revert'] input")}
    refused = client.post(f"/artifacts/{artifact.id}/revert", data={**form, "csrf_token": "nope"})
    assert refused.status_code == 400 and manager.get(artifact.id).revision == 2
    manager.update(artifact.id, ArtifactUpdate(data={"v": 3}))  # someone else, meanwhile
    stale = client.post(f"/artifacts/{artifact.id}/revert", data=form)
    assert stale.status_code == 409 and "someone changed this artifact" in stale.get_data(as_text=True)
    assert manager.get(artifact.id).data == {"v": 3}
    fresh = {field["name"]: field["value"] for field in html(stale).select("form[action$='/revert'] input")}
    done = client.post(f"/artifacts/{artifact.id}/revert", data={**fresh, "revision": "1"})
    assert done.status_code == 302
    assert manager.get(artifact.id).data == {"v": 1} and manager.get(artifact.id).revision == 4


def test_a_document_version_opens_against_its_previous_sibling(client, manager):
    paper = manager.create(ArtifactIn(data={"name": "paper"}))
    first = manager.create(ArtifactIn(parent_id=paper.id, data={"name": "v1", "text": "a"}))
    second = manager.create(ArtifactIn(parent_id=paper.id, data={"name": "v2", "text": "b"}))
    link = html(client.get(f"/artifacts/{second.id}")).select_one("a.compare-previous")
    assert link["href"] == f"/diff?a={first.id}&b={second.id}"
    compared = html(client.get(link["href"]))
    assert {c.get_text() for c in compared.select("code.path")} == {"/name", "/text"}
    assert not html(client.get(f"/artifacts/{first.id}")).select_one("a.compare-previous")


def test_recently_deleted_lists_newest_first_and_restores(client, manager):
    parent = manager.create(ArtifactIn(data={"name": "parent"}))
    child = manager.create(ArtifactIn(parent_id=parent.id, data={"name": "child"}))
    manager.delete(child.id)
    manager.delete(parent.id)
    page = html(client.get("/deleted"))
    assert [li["id"] for li in page.select("li.deleted")] == [f"deleted-{parent.id}", f"deleted-{child.id}"]
    csrf = token(client, "/deleted")
    refused = client.post(f"/artifacts/{child.id}/restore", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "restore that first" in refused.get_data(as_text=True)
    assert client.post(f"/artifacts/{child.id}/restore").status_code == 400  # no token
    assert client.post(f"/artifacts/{parent.id}/restore", data={"csrf_token": csrf}).status_code == 302
    restored = client.post(f"/artifacts/{child.id}/restore", data={"csrf_token": csrf})
    assert restored.status_code == 302 and restored.headers["Location"] == f"/artifacts/{child.id}"
    assert manager.count() == 2
    assert html(client.get("/deleted")).select("li.deleted") == []


def test_the_history_page_of_a_deleted_artifact(client, manager):
    artifact = manager.create(ArtifactIn(data={"name": "gone"}))
    manager.delete(artifact.id)
    page = html(client.get(f"/artifacts/{artifact.id}/history"))
    assert "(deleted)" in page.select_one("h1").get_text()
    assert texts(page.select("tr.revision .action")) == ["deleted", "created"]
    assert client.get("/artifacts/01M8TVCFAJR1J6X0ZRVJDDHBGE/history").status_code == 404
    assert client.get("/artifacts/nope/diff").status_code == 400
