"""History in Debian's chromium against a real gunicorn: two edits, the History section, a
diff between two revisions (changed fields highlighted, a long text as a line diff),
Revert (its CSRF token and version check), then delete, "Recently deleted" and Restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTES = "\n".join(f"line {number}: observation" for number in range(1, 13))


def edit(page: Any, live_server: str, artifact_id: str, data: dict[str, Any]) -> None:
    """Open the artifact's edit form, type its new data as JSON, save."""
    page.goto(f"{live_server}/artifacts/{artifact_id}/edit?mode=json")
    page.get_by_label("Data (a JSON object)").fill(json.dumps(data, indent=2))
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(f"{live_server}/artifacts/{artifact_id}")


def test_edit_diff_revert_delete_restore(page: Any, live_server: str, screenshots: Path) -> None:
    api = f"{live_server}/api/v1/artifacts"
    first = {"name": "forecast", "metrics": {"rmse": 0.31}, "notes": NOTES}
    artifact = requests.post(api, json={"data": first}, timeout=10).json()
    key = artifact["id"]
    edited = NOTES.replace("line 6: observation", "line 6: a storm came through")
    edit(page, live_server, key, {**first, "metrics": {"rmse": 0.27}, "notes": edited})
    edit(page, live_server, key, {**first, "metrics": {"rmse": 0.27}, "notes": edited, "owner": "ana"})

    # The History section lists the three revisions, newest first, with what changed.
    page.goto(f"{live_server}/artifacts/{key}")
    history = page.locator("#history")
    expect(history).to_contain_text("3 revisions")
    rows = history.locator("tr.revision")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("changed /owner")
    expect(rows.nth(1)).to_contain_text("/metrics/rmse")
    expect(rows.nth(2)).to_contain_text("created")

    # Revision 1 → 2: the changed fields, highlighted; the long text as a line diff.
    page.goto(f"{live_server}/artifacts/{key}/diff?from=1&to=2")
    expect(page.get_by_role("heading", name="Revision 1 → 2")).to_be_visible()
    rmse = page.locator("li.change", has_text="/metrics/rmse")
    expect(rmse.locator("pre.old")).to_have_text("0.31")
    expect(rmse.locator("pre.new")).to_have_text("0.27")
    assert rmse.evaluate("li => getComputedStyle(li.querySelector('pre.new')).backgroundColor") != "rgba(0, 0, 0, 0)"
    notes = page.locator("li.change", has_text="/notes")
    expect(notes.locator(".line-removed")).to_have_text("-line 6: observation")
    expect(notes.locator(".line-added")).to_have_text("+line 6: a storm came through")
    expect(notes.locator(".line-same").first).to_be_visible()
    page.screenshot(path=str(screenshots / "history-diff.png"), full_page=True)

    # Someone saves meanwhile: the Revert is refused (version check), shown what would change now.
    current = requests.get(f"{api}/{key}", timeout=10)
    changed = requests.put(f"{api}/{key}", json={"data": {**current.json()["data"], "owner": "bo"}},
                           headers={"If-Match": current.headers["ETag"]}, timeout=10)
    assert changed.status_code == 200
    page.get_by_role("button", name="Revert to revision 1").click()
    expect(page.get_by_role("alert")).to_contain_text("someone changed this artifact")
    # The refused page's form holds the new version and a fresh CSRF token: reverting again works.
    page.get_by_role("button", name="Revert to revision 1").click()
    expect(page).to_have_url(f"{live_server}/artifacts/{key}")
    expect(page.locator(".flash-success")).to_contain_text("Reverted to revision 1 (now revision 5)")
    assert requests.get(f"{api}/{key}", timeout=10).json()["data"] == first

    # A Revert without its CSRF token changes nothing.
    refused = requests.post(f"{live_server}/artifacts/{key}/revert", data={"revision": "2"}, timeout=10)
    assert refused.status_code == 400
    assert requests.get(f"{api}/{key}", timeout=10).json()["revision"] == 5

    # Delete it from its page, find it on "Recently deleted", restore it.
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete permanently").click()
    assert requests.get(f"{api}/{key}", timeout=10).status_code == 404
    page.get_by_role("link", name="Recently deleted").click()
    entry = page.locator(f"#deleted-{key}")
    expect(entry).to_contain_text("forecast")
    page.screenshot(path=str(screenshots / "history-deleted.png"), full_page=True)
    entry.get_by_role("button", name="Restore").click()
    expect(page).to_have_url(f"{live_server}/artifacts/{key}")
    expect(page.locator(".flash-success")).to_contain_text("Restored")
    restored = requests.get(f"{api}/{key}", timeout=10).json()
    assert restored["data"] == first and restored["revision"] == 7
    expect(page.locator("#history tr.revision").first).to_contain_text("restored")
