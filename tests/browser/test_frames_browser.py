"""A CSV's journey in Debian's chromium against a real gunicorn: upload, page, sort, download."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import requests
import pytest
from playwright.sync_api import expect

from tests.support.frames import SAMPLE_ROWS, expected_frame, sample_csv
from webapp.artifacts import PandasDataFrame
from webapp.artifacts.schemas import restore_dtypes
from webapp.frames.service import QUICK_CHART_CELLS

pytestmark = pytest.mark.browser


def first_column(page: Any) -> list[int]:
    return [int(text) for text in page.locator("table.frame-rows tbody tr td:first-child").all_inner_texts()]


def expected_ids(column: str, ascending: bool) -> list[int]:
    frame = expected_frame().sort_values([column, "id"], ascending=[ascending, True], na_position="last")
    return frame["id"].tolist()


def upload_sample(page: Any, live_server: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "sales.csv"
    csv_file.write_bytes(sample_csv())
    page.goto(live_server)
    page.get_by_role("link", name="Upload CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash-success")).to_have_text("Uploaded “sales.csv”: 120 rows × 6 columns.")


def test_upload_page_sort_and_download_a_csv(page, watch, live_server, tmp_path, screenshots):
    upload_sample(page, live_server, tmp_path)
    status = page.locator(".frame-status")
    expect(status).to_have_text("Rows 1–50 of 120")
    assert first_column(page) == list(range(50))
    expect(page.locator("th .dtype")).to_have_text(["int64", "float64", "str", "datetime64[ms]", "datetime64[ms]", "bool"])

    # Next page: htmx swaps the table and puts the page in the address bar.
    page.get_by_role("link", name="Next ›").first.click()
    expect(status).to_have_text("Rows 51–100 of 120")
    assert first_column(page) == list(range(50, 100))
    assert "table_page=2" in page.url
    assert len(watch.fragment_requests("/table")) == 1

    # Sort by score: ascending, then descending; each sort starts again at page 1.
    page.locator("th").get_by_role("link", name="score").click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("score")
    assert first_column(page) == expected_ids("score", ascending=True)[:50]
    page.locator("th").get_by_role("link", name="score").click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("score")
    expect(status).to_contain_text("Rows 1–50 of 120 · sorted by score descending")
    page.get_by_role("link", name="Last »").first.click()
    expect(status).to_contain_text("Rows 101–120 of 120")
    assert first_column(page) == expected_ids("score", ascending=False)[100:]
    assert "table_sort=score" in page.url and "table_order=desc" in page.url and "table_page=3" in page.url
    page.screenshot(path=str(screenshots / "frames-sorted-last-page.png"), full_page=True)

    # The address is a working link: a reload shows the same rows; Back the page before.
    page.reload()
    expect(status).to_contain_text("Rows 101–120 of 120 · sorted by score descending")
    page.go_back()
    expect(status).to_contain_text("Rows 1–50 of 120 · sorted by score descending")

    # Downloads re-read by pandas into the frame that was uploaded.
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download table as CSV").click()
    content = Path(csv_download.value.path()).read_bytes()
    assert csv_download.value.suggested_filename == "sales.csv"
    dtypes = dict(zip(expected_frame().columns, expected_frame().dtypes.astype(str), strict=True))
    frame = restore_dtypes(pd.read_csv(io.BytesIO(content)), dtypes)
    pd.testing.assert_frame_equal(frame, expected_frame(), check_exact=True)
    with page.expect_download() as json_download:
        page.get_by_role("link", name="Download table as JSON").click()
    document = json.loads(Path(json_download.value.path()).read_bytes())
    assert len(document["data"]) == SAMPLE_ROWS
    pd.testing.assert_frame_equal(PandasDataFrame(**document).to_dataframe(dtypes), expected_frame(), check_exact=True)


def test_paging_and_sorting_work_without_javascript(no_js_page, watch, live_server, tmp_path):
    page = no_js_page
    upload_sample(page, live_server, tmp_path)
    page.get_by_role("link", name="Next ›").first.click()
    expect(page.locator(".frame-status")).to_have_text("Rows 51–100 of 120")
    page.locator("th").get_by_role("link", name="id").click()
    page.locator("th").get_by_role("link", name="id").click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("id")
    assert first_column(page) == list(range(119, 69, -1))
    assert watch.fragment_requests("/table") == []  # plain page loads only


def test_a_refused_file_says_why_and_keeps_the_form(page, live_server, tmp_path):
    bad = tmp_path / "ragged.csv"
    bad.write_bytes(b"a,b,c\n1,2,3\n4,5\n")
    page.goto(f"{live_server}/artifacts/upload")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".field-errors")).to_contain_text("Expected 3 columns, got 2")
    page.goto(live_server)
    expect(page.locator("body")).not_to_contain_text("ragged.csv")


def test_a_table_with_missing_values_fits_a_phone_and_ends_at_the_footer(phone_page, live_server, screenshots):
    """The cells' hidden "empty" labels once sat outside the table's scroll box: the page
    became wider than the phone and went on below the footer."""
    page = phone_page
    page.set_viewport_size({"width": 375, "height": 740})
    columns = [f"column_{i}" for i in range(12)]
    rows = [[row, *[None if (row + i) % 3 == 0 else row * i for i in range(1, 12)]] for row in range(50)]
    data = {"name": "gaps", "dataframe": {"columns": columns, "data": rows}}
    created = requests.post(f"{live_server}/api/v1/artifacts", json={"data": data}, timeout=10).json()

    page.goto(f"{live_server}/artifacts/{created['id']}")

    expect(page.locator("table.frame-rows td.null").first).to_be_attached()
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth, visualViewport.width]")
    # innerWidth too: on a phone it grows with content wider than the screen
    assert max(sizes) <= 375, f"the page is wider than the screen: scrollWidth, innerWidth, visible = {sizes}"
    below = page.evaluate(
        "document.documentElement.scrollHeight"
        " - (document.querySelector('.site-footer').getBoundingClientRect().bottom + window.scrollY)"
    )
    assert below <= 1, f"{below}px of page below the footer"
    page.screenshot(path=screenshots / "phone-table-with-gaps.png", full_page=True)


def upload_big(live_server: str) -> tuple[str, int]:
    """A table past the values charted with the page: its charts come after it."""
    rows = 1 + QUICK_CHART_CELLS // 2
    content = b"n,word\n" + b"".join(b"%d,%s\n" % (row % 37, b"even" if row % 2 == 0 else b"odd") for row in range(rows))
    files = {"file": ("big.csv", io.BytesIO(content), "text/csv")}
    response = requests.post(f"{live_server}/api/v1/artifacts/$upload", files=files, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"], rows


def test_every_column_is_charted_and_a_big_tables_charts_arrive_after_the_page(page, watch, live_server, tmp_path, screenshots):
    upload_sample(page, live_server, tmp_path)
    charts = page.locator("figure.column-chart")
    expect(charts.locator("figcaption strong")).to_have_text(["id", "score", "city", "day", "seen_at", "flag"])
    expect(page.get_by_role("img", name="Histogram of score")).to_be_visible()
    expect(page.get_by_role("img", name="Values of city")).to_be_visible()
    assert page.locator("figure.column-chart svg").count() == 6
    bars = page.get_by_role("img", name="Histogram of id").locator("rect.bar")
    assert bars.count() >= 2 and all(float(bar.get_attribute("height")) > 0 for bar in bars.all())
    box = page.get_by_role("img", name="Histogram of id").bounding_box()
    assert box["width"] > 200 and box["height"] > 80  # drawn, not collapsed
    city = charts.filter(has_text="city")
    city.get_by_text("Counts as a table").click()
    expect(city.locator("tbody tr")).to_have_count(5)
    page.locator("section.frame-columns").screenshot(path=str(screenshots / "column-charts.png"))

    # Paging the rows swaps the table only: the charts stay.
    page.get_by_role("link", name="Next ›").first.click()
    expect(page.locator(".frame-status")).to_have_text("Rows 51–100 of 120")
    expect(page.locator("figure.column-chart svg")).to_have_count(6)

    artifact_id, rows = upload_big(live_server)
    page.goto(f"{live_server}/artifacts/{artifact_id}")
    expect(page.get_by_role("img", name="Histogram of n")).to_be_visible()  # fetched by htmx
    expect(page.get_by_role("img", name="Values of word")).to_be_visible()
    assert len(watch.fragment_requests("/table/columns")) == 1
    word = charts.filter(has_text="word")
    word.get_by_text("Counts as a table").click()
    expect(word.locator("tbody tr td.num")).to_have_text([f"{rows // 2 + 1:,}", f"{rows // 2:,}"])


def test_a_big_tables_charts_are_a_link_without_javascript(no_js_page, watch, live_server):
    page = no_js_page
    artifact_id, _ = upload_big(live_server)
    page.goto(f"{live_server}/artifacts/{artifact_id}")
    expect(page.locator("figure.column-chart")).to_have_count(0)
    page.get_by_role("link", name="Show the charts of the columns").click()
    expect(page.locator("figure.column-chart svg")).to_have_count(2)
    assert "table_charts=1" in page.url
    assert watch.fragment_requests("/table/columns") == []
