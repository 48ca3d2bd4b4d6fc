"""The web UI in Debian's chromium against a real gunicorn: the journeys a user makes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HOSTILE_SCRIPT = "<script>window.__pwned = 'script'; alert('script')</script>"
HOSTILE_IMG = "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">"


def settled(page) -> None:
    """Wait until htmx has finished swapping and settling (new content is then live)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def node(page: Any, name: str) -> Any:
    """The tree row whose own link reads `name`."""
    return page.locator("li.node").filter(has=page.locator(":scope > .node-row .node-link", has_text=name))


def fill_json(page: Any, text: str) -> None:
    page.get_by_label("Data (a JSON object)").fill(text)


def test_create_expand_collapse_edit_and_delete(page, watch, live_server, database_url, screenshots):
    # A root through the form.
    page.goto(live_server)
    page.get_by_role("link", name="New root artifact").click()
    fill_json(page, '{"experiment_name": "browser run", "seed": 7}')
    expect(page.locator("#data_json-live")).to_have_text("Valid JSON object with 2 key(s).")
    page.get_by_role("button", name="Create artifact").click()
    expect(page.locator(".flash-success")).to_have_text("Created experiment “browser run”.")
    root_url = page.url

    # A child, typed as key/value rows for people who do not write JSON.
    page.get_by_role("link", name="Add child").first.click()
    page.get_by_role("button", name="Key / value fields").click()
    page.get_by_label("Key 1").fill("model_type")
    page.get_by_label("Value 1").fill("Ridge")
    page.get_by_label("Key 2").fill("alpha")
    page.get_by_label("Type of row 2").select_option("number")
    page.get_by_label("Value 2").fill("0.5")
    page.get_by_role("button", name="Create child").click()
    expect(page.locator(".flash-success")).to_have_text("Created model “Ridge”.")
    expect(page.locator(".data-root")).to_contain_text("0.5")
    child_url = page.url

    # A grandchild, with a typo first: the error shows inline and the text stays.
    page.get_by_role("link", name="Add child").first.click()
    fill_json(page, '{"prediction_date": "2025-10-20",}')
    page.get_by_role("button", name="Create child").click()
    expect(page.locator("#data_json-error")).to_contain_text("Line 1, column 34")
    expect(page.get_by_label("Data (a JSON object)")).to_have_value('{"prediction_date": "2025-10-20",}')
    fill_json(page, '{"prediction_date": "2025-10-20", "rows": 1000}')
    page.get_by_role("button", name="Create child").click()
    expect(page.locator(".flash-success")).to_contain_text("Created predictions")
    expect(page.locator("nav.breadcrumbs li")).to_have_text(
        ["Artifacts", "experiment browser run", "model Ridge", re.compile(r"predictions prediction_date 2025-10-20")]
    )
    grandchild_url = page.url

    # The tree opens lazily, one level per request, and closes without a request.
    page.goto(live_server)
    root, child = node(page, "browser run"), node(page, "Ridge")
    grandchild = node(page, "prediction_date 2025-10-20")
    expect(child).to_have_count(0)
    root_toggle = root.locator(":scope > .node-row button.twisty")
    expect(root_toggle).to_have_attribute("aria-expanded", "false")
    with page.expect_response(lambda r: r.url.endswith("/children") and r.status == 200):
        root_toggle.click()
    expect(child).to_be_visible()
    expect(root_toggle).to_have_attribute("aria-expanded", "true")
    expect(grandchild).to_have_count(0)  # only one level was fetched
    assert len(watch.fragment_requests()) == 1

    child_toggle = child.locator(":scope > .node-row button.twisty")
    settled(page)  # htmx wires up swapped-in buttons while it settles; press only after that
    child_toggle.focus()
    with page.expect_response(lambda r: r.url.endswith("/children") and r.status == 200):
        page.keyboard.press("Enter")
    expect(grandchild).to_be_visible()
    assert len(watch.fragment_requests()) == 2
    page.screenshot(path=screenshots / f"home-{backend(database_url)}.png", full_page=True)

    root_toggle.click()
    expect(child).to_be_hidden()
    expect(grandchild).to_be_hidden()
    expect(root_toggle).to_have_attribute("aria-expanded", "false")
    root_toggle.click()
    expect(grandchild).to_be_visible()  # the child stayed open inside
    page.wait_for_timeout(300)
    assert len(watch.fragment_requests()) == 2  # collapsing and re-opening asked nothing

    # Edit the child's data.
    page.goto(child_url)
    page.get_by_role("link", name="Edit").click()
    fill_json(page, '{"model_type": "Lasso", "alpha": 0.1}')
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash-success")).to_have_text("Saved model “Lasso”.")
    expect(page.locator("h1")).to_have_text("Lasso")

    # Deleting a parent is refused with an explanation and nothing to click that destroys.
    page.goto(root_url)
    page.screenshot(path=screenshots / f"artifact-{backend(database_url)}.png", full_page=True)
    page.get_by_role("link", name="Delete", exact=True).click()
    expect(page.locator(".alert-warning")).to_contain_text("cannot be deleted: it has 1 child")
    expect(page.get_by_role("button", name="Delete permanently")).to_have_count(0)

    # Deleting a leaf, after confirming, returns to its parent.
    page.goto(grandchild_url)
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.locator(".flash-success")).to_contain_text("Deleted predictions")
    assert page.url == child_url
    expect(page.locator("#children")).to_contain_text("No children yet.")
    assert watch.dialogs == []


def test_add_a_row_in_place_focuses_its_key_and_types_are_inferred(page, watch, live_server):
    page.goto(f"{live_server}/artifacts/new?mode=fields")
    rows = page.locator(".kv-row")
    expect(rows).to_have_count(2)
    page.get_by_label("Key 1").fill("epochs")
    page.get_by_label("Value 1").fill("10")
    page.evaluate("window.__samePage = true")

    page.get_by_role("button", name="Add a row").click()
    page.get_by_role("button", name="Add a row").click()

    expect(rows).to_have_count(4)
    assert page.evaluate("window.__samePage") is True  # no reload: typed rows and scroll stay
    assert [url for url in watch.requests if "/artifacts/new" in url] == [f"{live_server}/artifacts/new?mode=fields"]
    assert page.evaluate("document.activeElement.name") == "rows-3-key"
    expect(page.get_by_label("Key 4")).to_be_focused()
    page.keyboard.type("done")
    page.get_by_label("Value 4").fill("true")
    expect(page.get_by_label("Type of row 4")).to_have_value("auto")
    expect(page.get_by_label("Key 1")).to_have_value("epochs")
    page.get_by_role("button", name="Create artifact").click()

    expect(page.locator(".flash-success")).to_contain_text("Created experiment")
    artifact_id = page.url.rsplit("/", 1)[1]
    stored = requests.get(f"{live_server}/api/v1/artifacts/{artifact_id}", timeout=10).json()
    assert stored["data"] == {"epochs": 10, "done": True}


def test_add_a_row_without_javascript_posts_the_form(no_js_page, live_server):
    page = no_js_page
    page.goto(f"{live_server}/artifacts/new?mode=fields")
    page.get_by_label("Key 1").fill("epochs")
    page.get_by_role("button", name="Add a row").click()
    expect(page.locator(".kv-row")).to_have_count(3)
    expect(page.get_by_label("Key 1")).to_have_value("epochs")
    expect(page.get_by_label("Key 3")).to_be_focused()  # autofocus, from the server


def test_move_by_picking_the_new_parent_in_the_tree(page, watch, live_server, screenshots):
    api = f"{live_server}/api/v1/artifacts"

    def create(data: dict[str, Any], parent: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"data": data, **({"parent_id": parent["id"]} if parent else {})}
        response = requests.post(api, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    experiment = create({"experiment_name": "picker run"})
    model = create({"model_type": "Ridge"}, experiment)
    create({"prediction_date": "2025-10-20"}, model)
    better = create({"model_type": "Lasso"}, experiment)

    page.goto(f"{live_server}/artifacts/{model['id']}/move")
    with page.expect_response(lambda r: f"move={model['id']}" in r.url):
        node(page, "picker run").locator(".twisty").first.click()
    settled(page)
    moving = node(page, "Ridge")
    expect(moving).to_contain_text("the artifact you are moving")
    expect(moving.locator(".twisty")).to_have_count(0)  # its own subtree is never offered
    page.screenshot(path=str(screenshots / "move-picker.png"), full_page=True)
    node(page, "Lasso").get_by_role("button", name="Move it under Lasso").click()

    confirm = page.locator(".confirm-move")  # a level changes: nothing moves before the user agrees
    expect(confirm).to_contain_text("It will be a predictions (level 2, now level 1).")
    expect(confirm).to_contain_text("2 artifacts move: it and its 1 descendant, each 1 level deeper.")
    assert requests.get(f"{api}/{model['id']}", timeout=10).json()["level"] == 1
    page.screenshot(path=str(screenshots / "move-confirm.png"), full_page=True)
    confirm.get_by_role("button", name="Move 2 artifacts").click()

    expect(page.locator(".flash-success")).to_have_text("Moved “Ridge”: it is now a predictions.")
    moved = requests.get(f"{api}/{model['id']}", timeout=10).json()
    assert (moved["parent_id"], moved["level"]) == (better["id"], 2)
    assert watch.dialogs == []


def test_live_filter_swaps_the_listing(page, watch, live_server):
    for name in ("weather_forecast", "sales_forecast", "inventory"):
        requests.post(f"{live_server}/api/v1/artifacts", json={"data": {"name": name}}, timeout=10).raise_for_status()

    page.goto(live_server)
    expect(page.locator("#listing .node-link")).to_have_count(3)
    with page.expect_response(lambda r: "q=forecast" in r.url and r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Filter by text in the data").type("forecast")
    expect(page.locator("#listing .node-link")).to_have_text(["sales_forecast", "weather_forecast"])
    expect(page).to_have_url(re.compile(r"\?q=forecast$"))
    expect(page.locator("#listing-count")).to_contain_text("2 root artifacts matching “forecast”")


def test_stored_script_and_onerror_data_never_run(page, watch, live_server):
    hostile = {"name": HOSTILE_SCRIPT, "caption": HOSTILE_IMG, HOSTILE_IMG: [HOSTILE_SCRIPT],
               "frame": {"columns": [HOSTILE_IMG], "data": [[HOSTILE_SCRIPT]]}}
    created = requests.post(f"{live_server}/api/v1/artifacts", json={"data": hostile}, timeout=10).json()
    requests.post(f"{live_server}/api/v1/artifacts", json={"parent_id": created["id"], "data": {"title": HOSTILE_IMG}},
                  timeout=10).raise_for_status()
    artifact_url = f"{live_server}/artifacts/{created['id']}"

    page.goto(live_server)
    expect(page.locator("#listing .node-link")).to_have_text([HOSTILE_SCRIPT])
    page.locator("button.twisty").first.click()
    expect(page.locator("#listing .node-link").nth(1)).to_have_text(HOSTILE_IMG)
    for url in (artifact_url, f"{artifact_url}/edit", f"{artifact_url}/edit?mode=fields", f"{artifact_url}/delete",
                f"{live_server}/?q=script"):
        page.goto(url)
        expect(page.locator("main")).to_contain_text("<script>window.__pwned")
    page.goto(artifact_url)
    expect(page.locator(".data-root")).to_contain_text(HOSTILE_IMG)
    expect(page.locator("main img")).to_have_count(0)
    page.wait_for_timeout(500)  # an onerror would fire right after the failed image load
    assert page.evaluate("window.__pwned") is None
    assert watch.dialogs == []


def test_pages_work_without_javascript(no_js_page, live_server):
    page = no_js_page
    parent = requests.post(f"{live_server}/api/v1/artifacts", json={"data": {"name": "parent"}}, timeout=10).json()
    requests.post(f"{live_server}/api/v1/artifacts", json={"parent_id": parent["id"], "data": {"name": "kid"}},
                  timeout=10).raise_for_status()

    page.goto(live_server)
    expect(page.locator("button.twisty")).to_be_hidden()  # nothing that would need a script
    page.get_by_role("link", name="1 child").click()
    expect(page.locator("#children .node-link")).to_have_text(["kid"])
    page.get_by_role("link", name="kid").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Data (a JSON object)").fill('{"name": "kid 2"}')
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash-success")).to_have_text("Saved model “kid 2”.")


def test_phone_layout_fits_the_screen(phone_page, live_server, database_url, screenshots):
    page = phone_page
    data = {"experiment_name": "a rather long experiment name that has to wrap on a phone",
            "notes": "x" * 600, "frame": {"columns": [f"column_{i}" for i in range(12)], "data": [list(range(12))] * 3}}
    created = requests.post(f"{live_server}/api/v1/artifacts", json={"data": data}, timeout=10).json()

    for name, url in (("home", live_server), ("artifact", f"{live_server}/artifacts/{created['id']}"),
                      ("form", f"{live_server}/artifacts/{created['id']}/edit?mode=fields")):
        page.goto(url)
        # Against the screen's width: on a phone, innerWidth grows with content wider than the screen.
        overflow = page.evaluate("document.documentElement.scrollWidth") - page.viewport_size["width"]
        assert overflow <= 0, f"{name} page scrolls sideways by {overflow}px"
        page.screenshot(path=screenshots / f"phone-{name}-{backend(database_url)}.png", full_page=True)
