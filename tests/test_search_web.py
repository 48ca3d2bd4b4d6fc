"""The search, children-table and compare pages (HTML, no JavaScript needed)."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup


@pytest.fixture
def sweep(make_artifact: Any) -> dict[str, Any]:
    experiment = make_artifact(name="sweep", framework="xgboost")
    models = [
        make_artifact(experiment, name=f"m{n}", metrics={"rmse": rmse, "val_acc": acc}, hyperparameters={"depth": n},
                      curve=[1.0, rmse * 2, rmse], notes="<script>alert(1)</script>")
        for n, (rmse, acc) in enumerate([(0.4, 0.7), (0.2, 0.9), (0.3, 0.8)])
    ]
    make_artifact(models[1], name="p1", rows=10)
    return {"experiment": experiment, "models": models}


def soup(answer: Any) -> BeautifulSoup:
    return BeautifulSoup(answer.data, "html.parser")


def test_plain_words_search_every_level_with_breadcrumbs_and_labels(client: Any, sweep: dict[str, Any]) -> None:
    page = soup(client.get("/search", query_string={"q": "xgboost"}))
    assert [a.get_text(" ", strip=True) for a in page.select(".result-title")] == ["experiment sweep"]
    page = soup(client.get("/search", query_string={"q": "p1"}))
    (result,) = page.select(".result")
    assert "predictions" in result.select_one(".level-badge").text
    assert [li.get_text(" ", strip=True) for li in result.select(".breadcrumbs li")] == ["experiment sweep", "model m1"]


def test_the_language_facets_and_narrowing(client: Any, sweep: dict[str, Any]) -> None:
    answer = client.get("/search", query_string={"q": "data.metrics.rmse < 0.35", "facet": "data.hyperparameters.depth"})
    page = soup(answer)
    assert sorted(a.text.split()[-1] for a in page.select(".result-title")) == ["m1", "m2"]
    facets = {s.h2.text: [li.a.text for li in s.select("li")] for s in page.select(".facet")}
    assert facets == {"level_label": ["model"], "data.hyperparameters.depth": ["1", "2"]}
    link = page.select(".facet")[1].select_one("li a")["href"]
    narrowed = soup(client.get(link))
    assert [a.text.split()[-1] for a in narrowed.select(".result-title")] == ["m1"]
    assert "data.hyperparameters.depth = 1" in narrowed.select_one(".narrowed").text
    assert "Filter syntax" in page.select_one("#syntax-help summary").text


def test_a_syntax_error_points_at_the_position(client: Any, sweep: dict[str, Any]) -> None:
    answer = client.get("/search", query_string={"q": "data.metrics.rmse < "})
    assert answer.status_code == 400
    pointer = soup(answer).select_one(".filter-pointer").text.splitlines()
    assert pointer[1].index("^") == 19 and "expected a literal" in pointer[1]


def test_children_table_columns_sorting_and_choice(client: Any, sweep: dict[str, Any]) -> None:
    url = f"/artifacts/{sweep['experiment'].id}/children/table"
    page = soup(client.get(url, query_string={"sort": "data.metrics.rmse", "order": "desc"}))
    headings = [th.get_text(" ", strip=True) for th in page.select("thead th")][2:]
    assert headings[:3] == ["metrics.rmse ▼", "metrics.val_acc", "hyperparameters.depth"]  # metrics first
    assert [th.text for th in page.select("tbody th")] == ["m0", "m2", "m1"]
    page = soup(client.get(url, query_string={"columns": ["name", "metrics.val_acc"], "sort": "data.metrics.val_acc"}))
    assert [th.get_text(" ", strip=True) for th in page.select("thead th")][2:] == ["name", "metrics.val_acc ▲"]
    assert [td.text for td in page.select("tbody td:nth-of-type(3)")] == ["0.7", "0.8", "0.9"]
    assert b"<script>alert" not in client.get(url).data


def test_compare_highlights_marks_and_charts(client: Any, sweep: dict[str, Any]) -> None:
    ids = [str(m.id) for m in sweep["models"]]
    page = soup(client.get("/compare", query_string={"ids": ids}))
    rows = {tr.th.get_text(" ", strip=True).replace(" (differs)", ""): tr for tr in page.select(".compare-table tbody tr")}
    assert "differs" in rows["metrics.rmse"]["class"] and "differs" not in (rows["notes"].get("class") or [])
    rmse = rows["metrics.rmse"].select("td")
    assert "worst" in rmse[1]["class"] and "best" in rmse[0]["class"]  # 0.2 lowest, 0.4 highest
    svg = page.select_one("#chart svg")
    assert page.select_one("#chart-heading").text == "metrics.rmse" and len(svg.select("rect")) == 3
    assert [td.text for td in page.select(".chart-values tbody td:nth-of-type(3)")] == ["0.4", "0.2", "0.3"]  # text fallback
    curve = soup(client.get("/compare", query_string={"ids": ",".join(ids), "chart": "curve"}))
    assert len(curve.select("#chart svg polyline")) == 3
    only = soup(client.get("/compare", query_string={"ids": ",".join(ids), "differing": "1"}))
    assert "notes" not in only.select_one(".compare-table").text
    assert client.get("/compare", query_string={"ids": ids[0]}).status_code == 422
