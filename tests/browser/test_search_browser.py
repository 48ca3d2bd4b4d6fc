"""Search, children table, compare and chart in Debian's chromium against a real gunicorn."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def seed(base: str) -> dict[str, Any]:
    api = f"{base}/api/v1/artifacts"
    experiment = requests.post(api, json={"data": {"name": "sweep", "framework": "xgboost"}}, timeout=10).json()
    models = [
        requests.post(api, json={"parent_id": experiment["id"], "data": {
            "name": f"model {n}", "metrics": {"rmse": rmse}, "hyperparameters": {"depth": n}, "curve": [1, rmse * 2, rmse],
        }}, timeout=10).json()
        for n, rmse in enumerate([0.4, 0.2, 0.3])
    ]
    return {"experiment": experiment, "models": models}


def test_search_table_compare_and_chart(page: Any, live_server: str, screenshots: Any) -> None:
    trees = seed(live_server)
    page.goto(f"{live_server}/search")
    page.get_by_label("Search or filter").fill("data.metrics.rmse < 0.35")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-count")).to_contain_text("2 artifacts")
    assert "q=data.metrics.rmse" in page.url  # the state is in the URL
    page.screenshot(path=str(screenshots / "search.png"), full_page=True)

    page.get_by_label("Search or filter").fill("xgboost")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".result-title")).to_have_count(1)
    page.locator(".result-title").click()
    page.get_by_role("link", name="Show as a table").click()
    page.get_by_role("link", name="metrics.rmse").click()
    expect(page.locator("tbody th")).to_have_text(["model 1", "model 2", "model 0"])
    page.get_by_role("link", name="metrics.rmse ▲").click()  # again: descending
    expect(page.locator("tbody th")).to_have_text(["model 0", "model 2", "model 1"])
    page.screenshot(path=str(screenshots / "children-table.png"), full_page=True)

    for name in ("model 0", "model 1", "model 2"):
        page.get_by_label(f"Compare {name}").check()
    page.get_by_role("button", name="Compare ticked").click()
    expect(page.get_by_role("heading", name="Compare 3 artifacts")).to_be_visible()
    expect(page.locator("#chart svg rect")).to_have_count(3)
    expect(page.locator(".compare-table tr.differs")).to_have_count(4)  # name, rmse, depth, curve
    page.get_by_label("Chart").select_option("curve")
    page.get_by_role("button", name="Draw").click()
    expect(page.locator("#chart svg polyline")).to_have_count(3)
    page.screenshot(path=str(screenshots / "compare.png"), full_page=True)
    assert {str(m["id"]) for m in trees["models"]} <= set(page.url.replace("%2C", ",").split("ids=")[1].split("&")[0].split(","))
