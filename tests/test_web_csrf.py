"""CSRF is enforced on every HTML form (the other web tests switch it off for brevity)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bs4 import BeautifulSoup

from tests.support.html import textarea_value


pytestmark = pytest.mark.app_config(WTF_CSRF_ENABLED=True)


def soup_of(response: Any) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def token_from(client: Any, url: str) -> str:
    return soup_of(client.get(url)).select_one("input[name=csrf_token]")["value"]


def test_create_without_a_token_is_refused_and_keeps_what_was_typed(client, manager):
    typed = '{"name": "kept", "note": "typed by hand"}'

    response = client.post("/artifacts/new", data={"mode": "json", "data_json": typed})

    soup = soup_of(response)
    assert response.status_code == 400
    assert "security token was missing or expired" in soup.select_one(".alert-error").get_text()
    assert textarea_value(soup.select_one("textarea#data_json")) == typed
    assert soup.select_one("input[name=csrf_token]")["value"]  # a fresh token to send it again
    assert manager.count() == 0


def test_create_with_the_form_token_succeeds(client, manager):
    token = token_from(client, "/artifacts/new")
    response = client.post("/artifacts/new", data={"csrf_token": token, "mode": "json", "data_json": '{"name": "ok"}'})
    assert response.status_code == 302
    assert [a.data for a in manager.find_all()] == [{"name": "ok"}]


def test_a_wrong_token_is_refused(client, manager):
    response = client.post("/artifacts/new", data={"csrf_token": "forged", "mode": "json", "data_json": "{}"})
    assert response.status_code == 400
    assert manager.count() == 0


def test_edit_move_and_delete_without_a_token_change_nothing(client, manager, make_artifact):
    root = make_artifact(name="root")
    leaf = make_artifact(root, name="leaf")

    edit = client.post(f"/artifacts/{leaf.id}/edit", data={"mode": "json", "data_json": '{"name": "changed"}'})
    move = client.post(f"/artifacts/{leaf.id}/move", data={"parent_id": ""})
    delete = client.post(f"/artifacts/{leaf.id}/delete")

    assert [edit.status_code, move.status_code, delete.status_code] == [400, 400, 400]
    assert json.loads(textarea_value(soup_of(edit).select_one("textarea#data_json"))) == {"name": "changed"}
    assert soup_of(move).select_one("input#parent_id").get("value", "") == ""
    assert "security token" in soup_of(delete).get_text()
    assert manager.get(leaf.id).model_dump(include={"parent_id", "data"}) == {"parent_id": root.id, "data": {"name": "leaf"}}


def test_the_htmx_header_token_of_the_layout_is_accepted(client, manager, make_artifact):
    leaf = make_artifact(name="leaf")
    headers = json.loads(soup_of(client.get("/")).body["hx-headers"])

    response = client.post(f"/artifacts/{leaf.id}/delete", headers=headers)

    assert response.status_code == 302
    assert manager.count() == 0


def test_a_form_without_a_token_for_a_missing_artifact_is_a_404_page(client):
    response = client.post("/artifacts/01K9ZQ4M7E2V6S3T8W5X0Y1Z2A/edit", data={"mode": "json", "data_json": "{}"})
    assert response.status_code == 404
    assert "Artifact not found" in soup_of(response).h1.get_text()


def test_a_move_confirmation_needs_the_token_of_its_page(client, manager, make_artifact):
    root = make_artifact(name="root")
    leaf = make_artifact(root, name="leaf")
    url = f"/artifacts/{leaf.id}/move"
    asked = client.post(url, data={"csrf_token": token_from(client, url), "parent_id": ""})
    form = soup_of(asked).select_one(".confirm-move form")
    confirmation = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}

    forged = client.post(url, data={**confirmation, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert manager.get(leaf.id).parent_id == root.id

    done = client.post(url, data=confirmation)
    assert done.status_code == 302
    assert (manager.get(leaf.id).parent_id, manager.get(leaf.id).level) == (None, 0)
