"""Three hierarchies side by side in Debian's chromium against a real gunicorn: each seeded tree
reads with its own labels, the home page narrows to one, and a new root is created in another."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def create(base: str, data: dict[str, Any], parent: str | None = None, hierarchy: str | None = None) -> str:
    body: dict[str, Any] = {"data": data, "parent_id": parent}
    if hierarchy:
        body["hierarchy"] = hierarchy
    response = requests.post(f"{base}/api/v1/artifacts", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def seed_three(base: str) -> dict[str, str]:
    """The spec's three examples, each in its hierarchy; returns the leaf of each by hierarchy."""
    experiment = create(base, {"experiment_name": "weather_forecast"}, hierarchy="ml_pipeline")
    model = create(base, {"model_type": "LinearRegression"}, experiment)
    project = create(base, {"name": "API Documentation"}, hierarchy="document_versions")
    document = create(base, {"title": "Authentication Guide"}, project)
    dataset = create(base, {"name": "customer_data"}, hierarchy="datasets")
    version = create(base, {"version": "2025-10", "rows": 1000000}, dataset)
    return {
        "ml_pipeline": create(base, {"prediction_date": "2025-10-20"}, model),
        "document_versions": create(base, {"version": "1.0", "content": "..."}, document),
        "datasets": create(base, {"partition": "train", "rows": 800000}, version),
    }


def test_each_seeded_tree_shows_its_own_labels(page, live_server, screenshots):
    leaves = seed_three(live_server)
    page.goto(live_server)
    for hierarchy in ("ml_pipeline", "document_versions", "datasets"):
        expect(page.locator(".roots .hierarchy-tag", has_text=hierarchy)).to_have_count(1)
    expect(page.locator(".roots > li .node-row .badge")).to_have_text(["dataset", "project", "experiment"])
    page.screenshot(path=str(screenshots / "hierarchies-home.png"), full_page=True)
    expected = {
        "ml_pipeline": ["experiment", "model", "predictions"],
        "document_versions": ["project", "document", "version"],
        "datasets": ["dataset", "version", "partition"],
    }
    for hierarchy, labels in expected.items():
        page.goto(f"{live_server}/artifacts/{leaves[hierarchy]}")
        expect(page.locator(".breadcrumbs .crumb-label")).to_have_text(labels)

    page.goto(live_server)
    page.locator(".hierarchy-filter a", has_text="document_versions").click()
    expect(page).to_have_url(f"{live_server}/?hierarchy=document_versions")
    expect(page.locator(".roots > li")).to_have_count(1)
    page.get_by_role("link", name="New root artifact").click()
    expect(page.get_by_label("Hierarchy")).to_have_value("document_versions")
    page.get_by_label("Data (a JSON object)").fill('{"name": "Handbook"}')
    page.get_by_role("button", name="Create artifact").click()
    expect(page.locator(".flash").first).to_contain_text("Created project “Handbook”.")
