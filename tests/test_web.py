"""The HTML pages and htmx fragments, through the test client, asserting on parsed HTML."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from bs4 import BeautifulSoup
from werkzeug.exceptions import abort

from tests.support.downloads import download_names
from tests.support.html import html, textarea_value, texts
from webapp.artifacts import ArtifactOut, ArtifactUpdate
from webapp.web import views

HX = {"HX-Request": "true"}
HOSTILE = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def assert_full_page(soup: BeautifulSoup) -> None:
    assert soup.find("html") is not None and soup.select_one("header.site-header") is not None


def assert_fragment(soup: BeautifulSoup) -> None:
    assert soup.find("html") is None and soup.find("body") is None


def assert_no_injected_markup(soup: BeautifulSoup) -> None:
    """Only our own external scripts exist, and no element carries an event handler."""
    for script in soup.find_all("script"):
        assert script.get("src", "").startswith("/static/"), script
        assert not script.string
    for element in soup.find_all(True):
        assert not [name for name in element.attrs if name.lower().startswith("on")], element
    assert soup.find("img") is None


def post_form(client: Any, url: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(url, data=data, **kwargs)


@pytest.fixture
def lineage(make_artifact: Any) -> dict[str, ArtifactOut]:
    experiment = make_artifact(experiment_name="weather_forecast", started_at="2025-10-18")
    model = make_artifact(experiment, model_type="LinearRegression", metrics={"rmse": 0.25})
    predictions = make_artifact(model, prediction_date="2025-10-20", num_predictions=1000)
    return {"experiment": experiment, "model": model, "predictions": predictions}


# Home page ------------------------------------------------------------------------------


def test_index_lists_roots_newest_first_with_label_title_summary_and_child_count(client, make_artifact):
    older = make_artifact(name="older project")
    make_artifact(older, title="a document")
    make_artifact(older, title="another document")
    make_artifact(name="newer project", owner="ana")

    soup = html(client.get("/"))

    assert_full_page(soup)
    rows = soup.select("#listing ul.roots > li.node")
    assert texts(r.select_one(".node-link") for r in rows) == ["newer project", "older project"]
    assert texts(r.select_one(".badge") for r in rows) == ["experiment", "experiment"]
    assert texts(r.select_one(".count") for r in rows) == ["no children", "2 children"]
    assert texts([rows[0].select_one(".node-summary")]) == ["owner: ana"]
    assert rows[1].select_one(".node-link")["href"] == f"/artifacts/{older.id}"
    assert "2 root artifacts" in soup.select_one("#listing-count").get_text()


def test_index_filters_by_text_in_the_data(client, make_artifact):
    make_artifact(name="weather_forecast")
    make_artifact(name="sales")

    soup = html(client.get("/?q=weath"))

    assert texts(soup.select("#listing .node-link")) == ["weather_forecast"]
    assert soup.select_one("input#q")["value"] == "weath"
    assert "matching “weath”" in soup.select_one("#listing-count").get_text()


def test_index_filter_fragment_for_htmx_and_full_page_for_history_restore(client, make_artifact):
    make_artifact(name="weather_forecast")

    fragment = html(client.get("/?q=weather", headers={**HX, "HX-Target": "listing"}))
    restored = html(client.get("/?q=weather", headers={**HX, "HX-History-Restore-Request": "true"}))

    assert_fragment(fragment)
    assert fragment.select_one("section#listing") is not None
    assert texts(fragment.select(".node-link")) == ["weather_forecast"]
    assert_full_page(restored)


def test_index_shows_when_nothing_matches_and_when_empty(client, make_artifact):
    empty = html(client.get("/"))
    assert "No artifacts yet" in empty.select_one(".empty-state").get_text()

    make_artifact(name="x")
    none = html(client.get("/?q=zzz"))
    assert "No root artifact contains “zzz”" in none.select_one(".empty-state").get_text()


@pytest.mark.app_config(DEFAULT_PAGE_SIZE=2)
def test_index_paginates_with_the_filter_kept(app, client, make_artifact):
    for number in range(5):
        make_artifact(name=f"run {number}")

    first = html(client.get("/?q=run"))
    last = html(client.get("/?q=run&page=3"))

    assert texts(first.select(".node-link")) == ["run 4", "run 3"]
    assert first.select_one("a[rel=next]")["href"] == "/?page=2&q=run"
    assert texts(last.select(".node-link")) == ["run 0"]
    assert last.select_one("a[rel=prev]")["href"] == "/?page=2&q=run"
    assert "Page 3 of 3" in last.select_one(".pagination").get_text()


@pytest.mark.parametrize("page", ["abc", "-4", "0", "99", str(10**30)])
def test_index_survives_any_page_number(client, make_artifact, page):
    make_artifact(name="only")
    response = client.get(f"/?page={page}")
    assert response.status_code == 200
    html(response)


# Artifact page ------------------------------------------------------------------------------


def test_detail_shows_breadcrumbs_metadata_data_and_children(client, lineage):
    model = lineage["model"]

    soup = html(client.get(f"/artifacts/{model.id}"))

    crumbs = texts(soup.select("nav.breadcrumbs li"))
    assert crumbs == ["Artifacts", "experiment weather_forecast", "model LinearRegression"]
    assert soup.select("nav.breadcrumbs a")[1]["href"] == f"/artifacts/{lineage['experiment'].id}"
    assert soup.select_one("nav.breadcrumbs [aria-current=page]") is not None
    assert soup.h1.get_text(strip=True) == "LinearRegression"
    meta = dict(zip(texts(soup.select(".meta dt")), texts(soup.select(".meta dd"))))
    assert meta["Id"] == str(model.id)
    assert meta["Level"] == "1 · model"
    assert meta["Parent"] == "weather_forecast"
    assert meta["Children"] == "1"
    assert meta["Created"].endswith("UTC")
    keys = texts(soup.select(".data-root > .json-entry > dt"))
    assert sorted(keys) == ["metrics", "model_type"]  # in stored order, which PostgreSQL's jsonb chooses
    children = soup.select("#children .tree > li.node")
    assert texts(c.select_one(".node-link") for c in children) == ["prediction_date 2025-10-20"]
    actions = {a.get_text(strip=True): a["href"] for a in soup.select(".page-head .actions a")}
    assert actions["Edit"] == f"/artifacts/{model.id}/edit"
    assert actions["Add child"] == f"/artifacts/new?parent={model.id}"
    assert actions["Move"] == f"/artifacts/{model.id}/move"
    assert actions["Delete"] == f"/artifacts/{model.id}/delete"


def test_detail_shows_nested_objects_as_collapsible_views(client, make_artifact):
    artifact = make_artifact(name="n", config={"optimizer": {"name": "adam", "betas": [0.9, 0.999]}}, ok=True, gone=None)

    soup = html(client.get(f"/artifacts/{artifact.id}"))

    entries = {e.dt.get_text(): e.dd for e in soup.select(".data-root > .json-entry")}
    config = entries["config"].select_one(":scope > details.json-node")
    assert config is not None and config.has_attr("open")
    assert config.summary.get_text(strip=True) == "{1 key}"
    betas = config.select("details.json-node details.json-node")[-1]
    assert texts(betas.select(".json-number")) == ["0.9", "0.999"]
    assert texts(soup.select(".json-bool")) == ["true"]
    assert texts(soup.select(".json-null")) == ["null"]


def test_detail_truncates_long_strings_with_links_to_all_of_it(client, make_artifact):
    payload = base64.b64encode(bytes(range(256)) * 4).decode()
    artifact = make_artifact(name="model", model=payload, notes="Not base64! " * 100)

    soup = html(client.get(f"/artifacts/{artifact.id}"))

    shown = soup.select(".json-string.truncated")
    assert [len(s.get_text()) for s in shown] == [201, 201]  # 200 characters and an ellipsis
    model_actions, notes_actions = soup.select(".value-actions")
    assert texts(notes_actions.select("a")) == ["view all", "download"]
    links = {a.get_text(strip=True): a["href"] for a in model_actions.select("a")}
    assert links["download decoded bytes"] == f"/artifacts/{artifact.id}/value?pointer=/model&decode=base64"

    full = client.get(links["view all"])
    assert full.mimetype == "text/plain" and full.get_data(as_text=True) == payload
    download = client.get(links["download"])
    assert download.headers["Content-Disposition"] == f"attachment; filename={artifact.id}-model.txt"
    decoded = client.get(links["download decoded bytes"])
    assert decoded.data == bytes(range(256)) * 4
    assert decoded.headers["Content-Disposition"].startswith("attachment")


def test_value_endpoint_serves_json_for_objects_and_refuses_what_is_not_there(client, make_artifact):
    artifact = make_artifact(name="n", a={"b/c": [1, {"~d": "deep"}]})

    whole = client.get(f"/artifacts/{artifact.id}/value")
    nested = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": "/a/b~1c/1/~0d"})
    missing = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": "/nope"})
    not_base64 = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": "/name", "decode": "base64"})

    assert whole.mimetype == "application/json" and whole.get_json() == artifact.data
    assert nested.get_data(as_text=True) == "deep"
    assert missing.status_code == 404 and "no value at '/nope'" in html(missing).get_text()
    assert not_base64.status_code == 400


def test_detail_renders_a_frame_shaped_value_as_an_escaped_table_of_the_first_50_rows(client, make_artifact):
    rows = [[i, f"<b>row {i}</b>", None] for i in range(60)]
    artifact = make_artifact(name="frame", results={"columns": ["n", "<i>label</i>", "empty"], "data": rows})

    soup = html(client.get(f"/artifacts/{artifact.id}"))

    table = soup.select_one("figure.frame table")
    assert texts(table.select("thead th")) == ["n", "<i>label</i>", "empty"]
    body_rows = table.select("tbody tr")
    assert len(body_rows) == 50
    assert texts(body_rows[3].select("td")) == ["3", "<b>row 3</b>", "empty"]
    assert table.find("b") is None and table.find("i") is None
    assert "60 rows × 3 columns, first 50 shown" in table.caption.get_text(" ", strip=True)


def test_a_dataframe_value_shows_as_one_table_once(client, make_artifact):
    """Either the DataFrame feature's panel or the macro shows it, never both."""
    frame = {"columns": ["<i>x</i>", "y"], "data": [[1, "<b>a</b>"], [2, "b"]]}
    artifact = make_artifact(name="frame", dataframe=frame)

    soup = html(client.get(f"/artifacts/{artifact.id}"))

    rows_shown = [t for t in soup.select("section.data table") if "<b>a</b>" in t.get_text()]
    tables_with_rows = [t for t in rows_shown if not t.find_parent(class_="frame-columns")]  # not a chart's counts
    assert len(tables_with_rows) == 1 and len(rows_shown) == 2  # the rows, and the counts of column y
    assert "<i>x</i>" in tables_with_rows[0].thead.get_text()
    assert soup.select_one("section.data b") is None and soup.select_one("section.data i") is None


def test_detail_of_unknown_artifact_is_a_404_page_in_the_layout(client):
    response = client.get("/artifacts/01K9ZQ4M7E2V6S3T8W5X0Y1Z2A")
    soup = html(response)
    assert response.status_code == 404
    assert_full_page(soup)
    assert "Artifact not found" in soup.h1.get_text()


def test_detail_with_an_invalid_id_is_a_400_page(client):
    response = client.get("/artifacts/not-a-ulid")
    assert response.status_code == 400
    assert "Invalid ULID" in html(response).h1.get_text()


def test_pages_send_a_content_security_policy(client, lineage):
    response = client.get(f"/artifacts/{lineage['model'].id}")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "HX-Request" in response.headers["Vary"]


# Tree fragments --------------------------------------------------------------------------


def test_children_fragment_returns_one_level_of_lazy_nodes(client, lineage):
    experiment, model = lineage["experiment"], lineage["model"]

    soup = html(client.get(f"/artifacts/{experiment.id}/children", headers=HX))

    assert_fragment(soup)
    nodes = soup.select("li.node")
    assert [n["id"] for n in nodes] == [f"node-{model.id}"]  # predictions (a grandchild) is not sent
    button = nodes[0].select_one("button.twisty")
    assert button["aria-expanded"] == "false"
    assert button["aria-controls"] == f"children-{model.id}"
    assert button["hx-get"] == f"/artifacts/{model.id}/children"
    assert button["hx-trigger"] == "click once"
    assert nodes[0].select_one(f"ul#children-{model.id}").has_attr("hidden")
    assert texts([nodes[0].select_one(".count")]) == ["1 child"]


def test_leaf_nodes_have_no_expand_button(client, lineage):
    soup = html(client.get(f"/artifacts/{lineage['model'].id}/children", headers=HX))
    assert soup.select_one("li.node button") is None
    assert texts(soup.select(".count")) == ["no children"]


def test_children_without_htmx_redirect_to_the_artifact_page(client, lineage):
    response = client.get(f"/artifacts/{lineage['experiment'].id}/children?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/artifacts/{lineage['experiment'].id}?page=2#children"


def test_children_come_in_pages_with_a_show_more_link(client, make_artifact):
    parent = make_artifact(name="big")
    for number in range(views.CHILD_PAGE_SIZE + 5):
        make_artifact(parent, name=f"child {number:02d}")

    first = html(client.get(f"/artifacts/{parent.id}/children", headers=HX))
    more = first.select_one("li.more a")
    second = html(client.get(more["hx-get"], headers=HX))
    detail_page_two = html(client.get(more["href"]))

    assert len(first.select("li.node")) == views.CHILD_PAGE_SIZE
    assert more["hx-get"] == f"/artifacts/{parent.id}/children?page=2"
    assert more["href"] == f"/artifacts/{parent.id}?page=2#children"
    assert "5 not shown yet" in more.get_text()
    assert texts(second.select(".node-link")) == [f"child {n}" for n in range(50, 55)]
    assert second.select_one("li.more") is None
    assert texts(detail_page_two.select("#children .node-link")) == [f"child {n}" for n in range(50, 55)]


def test_children_fragment_of_a_missing_artifact_is_an_error_fragment(client):
    response = client.get("/artifacts/01K9ZQ4M7E2V6S3T8W5X0Y1Z2A/children", headers=HX)
    soup = html(response)
    assert response.status_code == 404
    assert_fragment(soup)
    assert "Artifact not found" in soup.get_text()


def test_a_history_restore_onto_an_error_is_a_whole_page(client):
    """"Back" onto an error that htmx no longer caches: htmx asks again, and must get the page."""
    headers = {**HX, "HX-History-Restore-Request": "true"}
    response = client.get("/artifacts/01K9ZQ4M7E2V6S3T8W5X0Y1Z2A/children", headers=headers)
    soup = html(response)
    assert response.status_code == 404
    assert_full_page(soup)
    assert "Artifact not found" in soup.get_text()


# Create ---------------------------------------------------------------------------------


def test_create_a_root_from_json(client, manager):
    response = post_form(client, "/artifacts/new", {"mode": "json", "data_json": '{"name": "exp", "n": 3}'})

    assert response.status_code == 302
    created = manager.find_paginated()[0]
    assert [(a.level, a.data) for a in created] == [(0, {"name": "exp", "n": 3})]
    assert response.headers["Location"] == f"/artifacts/{created[0].id}"
    page = html(client.get(response.headers["Location"]))
    assert texts(page.select(".flash-success")) == ["Created experiment “exp”."]


def test_create_a_child_under_the_parent_from_the_query(client, manager, lineage):
    model = lineage["model"]
    form = html(client.get(f"/artifacts/new?parent={model.id}"))
    assert form.select_one("input[name=parent_id]")["value"] == str(model.id)
    assert "New child of LinearRegression" in form.h1.get_text()

    response = post_form(client, "/artifacts/new", {"mode": "json", "data_json": '{"version": 2}', "parent_id": str(model.id)})

    child = manager.get(response.headers["Location"].rsplit("/", 1)[1])
    assert (child.parent_id, child.level, child.data) == (model.id, 2, {"version": 2})


def test_new_child_of_a_missing_parent_is_a_404(client):
    assert client.get("/artifacts/new?parent=01K9ZQ4M7E2V6S3T8W5X0Y1Z2A").status_code == 404


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('{"name": "exp",}', "Line 1, column 16: Expecting property name enclosed in double quotes."),
        ('[1, 2]', "The data must be a JSON object"),
        ('{"n": NaN}', "NaN is not valid JSON"),
        ('{"a": "\\u0000"}', "strings may not contain the NUL character"),
    ],
)
def test_invalid_json_is_refused_inline_keeping_the_input(client, manager, typed, message):
    response = post_form(client, "/artifacts/new", {"mode": "json", "data_json": typed})

    soup = html(response)
    assert response.status_code == 422
    assert message in soup.select_one("#data_json-error").get_text()
    assert soup.select_one("textarea#data_json").get_text().strip() == typed
    assert soup.select_one("textarea#data_json")["aria-invalid"] == "true"
    assert manager.count() == 0


@pytest.mark.app_config(MAX_JSON_DEPTH=3)
def test_too_deeply_nested_data_is_refused(app, client, manager):
    response = post_form(client, "/artifacts/new", {"mode": "json", "data_json": '{"a": {"b": {"c": {"d": 1}}}}'})
    assert response.status_code == 422
    assert "nested deeper than 3 levels" in html(response).select_one("#data_json-error").get_text()
    assert manager.count() == 0


def test_create_from_key_value_rows_with_types(client, manager):
    rows = {
        "mode": "fields",
        "rows-0-key": "name", "rows-0-kind": "text", "rows-0-value": "line one\r\nline two",
        "rows-1-key": "epochs", "rows-1-kind": "number", "rows-1-value": " 12 ",
        "rows-2-key": "lr", "rows-2-kind": "number", "rows-2-value": "1e-3",
        "rows-3-key": "done", "rows-3-kind": "boolean", "rows-3-value": "true",
        "rows-4-key": "note", "rows-4-kind": "null", "rows-4-value": "",
        "rows-5-key": "tags", "rows-5-kind": "json", "rows-5-value": '["a", "b"]',
        "rows-6-key": "", "rows-6-kind": "text", "rows-6-value": "",
    }
    response = post_form(client, "/artifacts/new", rows)

    assert response.status_code == 302
    [artifact] = manager.find_all()
    assert artifact.data == {
        "name": "line one\nline two", "epochs": 12, "lr": 0.001, "done": True, "note": None, "tags": ["a", "b"],
    }


def test_key_value_errors_point_at_their_rows_and_keep_every_row(client, manager):
    rows = {
        "mode": "fields",
        "rows-0-key": "a", "rows-0-kind": "number", "rows-0-value": "twelve",
        "rows-1-key": "a", "rows-1-kind": "text", "rows-1-value": "again",
        "rows-2-key": "", "rows-2-kind": "text", "rows-2-value": "orphan value",
        "rows-3-key": "flag", "rows-3-kind": "boolean", "rows-3-value": "maybe",
    }
    response = post_form(client, "/artifacts/new", rows)

    soup = html(response)
    assert response.status_code == 422
    assert texts(soup.select(".kv-row .error")) == [
        "Row 1 “a”: 'twelve' is not a number.",
        "The key 'a' is used twice.",
        "Give this value a key.",
        "Row 4 “flag”: write true or false, not 'maybe'.",
    ]
    assert [i.get("value") for i in soup.select(".kv-row input")] == ["a", "a", "", "flag"]
    assert texts(soup.select(".kv-row textarea")) == ["twelve", "again", "orphan value", "maybe"]
    assert manager.count() == 0


def test_key_value_rows_infer_the_type_unless_one_is_chosen(client, manager):
    typed = {
        "epochs": "10", "lr": " 1e-3 ", "delta": "-2.5", "done": "true", "off": "false", "note": "null",
        "answer": "yes", "zip": "007", "plus": "+5", "capital": "True", "name": "weather", "blank": "",
    }
    rows = {"mode": "fields"}
    for index, (key, value) in enumerate(typed.items()):
        rows |= {f"rows-{index}-key": key, f"rows-{index}-kind": "auto", f"rows-{index}-value": value}
    rows |= {"rows-20-key": "as_text", "rows-20-kind": "text", "rows-20-value": "10"}

    response = post_form(client, "/artifacts/new", rows)

    assert response.status_code == 302
    [artifact] = manager.find_all()
    assert artifact.data == {
        "epochs": 10, "lr": 0.001, "delta": -2.5, "done": True, "off": False, "note": None,
        "answer": "yes", "zip": "007", "plus": "+5", "capital": "True", "name": "weather", "blank": "",
        "as_text": "10",
    }
    assert type(artifact.data["epochs"]) is int


def test_new_rows_start_with_the_inferred_type(client):
    soup = html(client.get("/artifacts/new?mode=fields"))
    kinds = [row.select_one("select option[selected]")["value"] for row in soup.select(".kv-row")]
    assert kinds and set(kinds) == {"auto"}


def test_a_number_too_large_to_store_is_refused_not_turned_into_text(client, manager):
    response = post_form(client, "/artifacts/new", {"mode": "fields", "rows-0-key": "big", "rows-0-kind": "auto",
                                                    "rows-0-value": "1e400"})
    assert response.status_code == 422
    assert "Row 1 “big”: '1e400' is too large" in html(response).select_one(".kv-row .error").get_text()
    assert manager.count() == 0


@pytest.mark.parametrize("word", ["yes", "no", "1", "0", "True", "FALSE", ""])
def test_the_true_false_type_takes_only_true_or_false(client, manager, word):
    response = post_form(client, "/artifacts/new", {
        "mode": "fields", "rows-0-key": "name", "rows-0-kind": "text", "rows-0-value": "run",
        "rows-1-key": "done", "rows-1-kind": "boolean", "rows-1-value": word,
    })
    soup = html(response)
    assert response.status_code == 422
    assert texts(soup.select(".kv-row .error")) == [f"Row 2 “done”: write true or false, not {word!r}."]
    assert manager.count() == 0


@pytest.mark.parametrize(
    "form",
    [
        {"mode": "fields"},
        {"mode": "fields", "rows-0-key": "", "rows-0-kind": "auto", "rows-0-value": " "},
        {"mode": "json", "data_json": "{}"},
        {"mode": "json", "data_json": " { } "},
        {"mode": "json", "data_json": ""},
    ],
)
def test_an_empty_form_is_refused_on_the_pages(client, manager, make_artifact, form):
    created = post_form(client, "/artifacts/new", form)
    artifact = make_artifact(name="kept")
    edited = post_form(client, f"/artifacts/{artifact.id}/edit", form)

    for response in (created, edited):
        assert response.status_code == 422
        assert "Nothing to save: " in html(response).get_text()
    assert [a.data for a in manager.find_all()] == [{"name": "kept"}]
    assert client.post("/api/v1/artifacts", json={"data": {}}).status_code == 201  # the API takes {}


def test_switching_modes_converts_the_data_both_ways_and_saves_nothing(client, manager):
    typed = '{"name": "exp", "n": 1.5, "ok": false, "nested": {"k": [1]}, "none": null}'
    to_fields = html(client.post("/artifacts/new", data={"mode": "json", "data_json": typed, "switch_to": "fields"}))

    assert to_fields.select_one("input[name=mode]")["value"] == "fields"
    form = {"mode": "fields"}
    for row in to_fields.select(".kv-row"):
        for element in row.select("input, textarea"):
            form[element["name"]] = element.get("value") or textarea_value(element)
        select = row.select_one("select")
        form[select["name"]] = select.select_one("option[selected]")["value"]
    back = html(client.post("/artifacts/new", data={**form, "switch_to": "json"}))

    assert json.loads(back.select_one("textarea#data_json").get_text()) == json.loads(typed)
    assert manager.count() == 0


def test_switching_to_fields_with_broken_json_stays_and_says_why(client):
    soup = html(client.post("/artifacts/new", data={"mode": "json", "data_json": "{oops", "switch_to": "fields"}))
    assert soup.select_one("input[name=mode]")["value"] == "json"
    assert "Fix it before switching to fields." in soup.select_one("#data_json-error").get_text()
    assert soup.select_one("textarea#data_json").get_text().strip() == "{oops"


def test_add_row_keeps_the_rows_typed_so_far(client):
    soup = html(client.post("/artifacts/new", data={
        "mode": "fields", "rows-0-key": "a", "rows-0-kind": "text", "rows-0-value": "1", "add_row": "1",
    }))
    rows = soup.select(".kv-row")
    assert len(rows) == 2
    assert soup.select_one(".kv-row input")["value"] == "a"
    new_key = rows[1].select_one("input")
    assert new_key.has_attr("autofocus") and not rows[0].select_one("input").has_attr("autofocus")


def test_create_under_a_parent_that_vanished_shows_the_refusal_and_keeps_input(client, manager):
    response = post_form(client, "/artifacts/new", {
        "mode": "json", "data_json": '{"name": "orphan"}', "parent_id": "01K9ZQ4M7E2V6S3T8W5X0Y1Z2A",
    })
    soup = html(response)
    assert response.status_code == 422
    assert "Parent artifact 01K9ZQ4M7E2V6S3T8W5X0Y1Z2A not found." in soup.select_one(".alert-error").get_text()
    assert soup.select_one("textarea#data_json").get_text().strip() == '{"name": "orphan"}'
    assert manager.count() == 0


def test_create_with_a_tampered_parent_id_is_refused(client, manager):
    response = post_form(client, "/artifacts/new", {"mode": "json", "data_json": "{}", "parent_id": "nope"})
    assert response.status_code == 422
    assert manager.count() == 0


# Edit ------------------------------------------------------------------------------------


def test_edit_form_is_prefilled_and_saves(client, manager, lineage):
    model = lineage["model"]
    form = html(client.get(f"/artifacts/{model.id}/edit"))
    assert json.loads(form.select_one("textarea#data_json").get_text()) == model.data

    response = post_form(client, f"/artifacts/{model.id}/edit", {"mode": "json", "data_json": '{"model_type": "Ridge"}'})

    assert response.status_code == 302
    saved = manager.get(model.id)
    assert saved.data == {"model_type": "Ridge"}
    assert (saved.parent_id, saved.level) == (model.parent_id, model.level)
    assert "Saved model “Ridge”." in html(client.get(response.headers["Location"])).select_one(".flash").get_text()


def test_edit_in_key_value_mode_starts_from_the_data(client, lineage):
    soup = html(client.get(f"/artifacts/{lineage['model'].id}/edit?mode=fields"))
    rows = [(r.select_one("input")["value"], textarea_value(r.select_one("textarea"))) for r in soup.select(".kv-row")]
    assert sorted(rows[:2]) == [("metrics", '{"rmse": 0.25}'), ("model_type", "LinearRegression")]
    assert rows[2:] == [("", ""), ("", "")]  # blank rows to add more


def test_invalid_edit_changes_nothing_and_keeps_input(client, manager, lineage):
    model = lineage["model"]
    response = post_form(client, f"/artifacts/{model.id}/edit", {"mode": "json", "data_json": '{"x": }'})
    assert response.status_code == 422
    assert html(response).select_one("textarea#data_json").get_text().strip() == '{"x": }'
    assert manager.get(model.id).data == model.data


def test_data_too_large_for_a_textarea_is_not_offered_for_editing(client, lineage, monkeypatch):
    monkeypatch.setattr(views, "EDITABLE_JSON_CHARS", 10)
    soup = html(client.get(f"/artifacts/{lineage['model'].id}/edit"))
    assert soup.select_one("form.artifact-form") is None
    assert "too large to edit in the browser" in soup.select_one(".alert-info").get_text()


def test_edit_does_not_overwrite_a_change_made_after_the_form_opened(client, manager, lineage):
    model = lineage["model"]
    opened = html(client.get(f"/artifacts/{model.id}/edit"))
    version = opened.select_one("input[name=version]")["value"]
    manager.update(model.id, ArtifactUpdate(data={"model_type": "theirs"}))  # someone else saves first

    mine = {"mode": "json", "data_json": '{"model_type": "mine"}', "version": version}
    refused = post_form(client, f"/artifacts/{model.id}/edit", mine)

    assert refused.status_code == 409
    assert manager.get(model.id).data == {"model_type": "theirs"}
    soup = html(refused)
    assert "someone else changed this artifact" in soup.select_one(".alert-error").get_text()
    assert json.loads(soup.select_one(".current-data pre").get_text()) == {"model_type": "theirs"}
    assert json.loads(textarea_value(soup.select_one("textarea#data_json"))) == {"model_type": "mine"}
    # Having seen theirs, saving again is a deliberate overwrite.
    again = {**mine, "version": soup.select_one("input[name=version]")["value"]}
    assert post_form(client, f"/artifacts/{model.id}/edit", again).status_code == 302
    assert manager.get(model.id).data == {"model_type": "mine"}


def test_delete_confirmed_before_someone_changed_the_artifact_is_not_done(client, manager, make_artifact):
    artifact = make_artifact(name="old run")
    confirm_page = html(client.get(f"/artifacts/{artifact.id}/delete"))
    version = confirm_page.select_one("input[name=version]")["value"]
    manager.update(artifact.id, ArtifactUpdate(data={"name": "old run", "keep": True}))

    refused = post_form(client, f"/artifacts/{artifact.id}/delete", {"version": version})

    assert refused.status_code == 409
    assert "someone changed this artifact" in html(refused).select_one(".alert-error").get_text()
    assert manager.find_by_id(artifact.id) is not None
    again = html(refused).select_one("input[name=version]")["value"]
    assert post_form(client, f"/artifacts/{artifact.id}/delete", {"version": again}).status_code == 302
    assert manager.find_by_id(artifact.id) is None


def test_edit_of_a_missing_artifact_is_a_404(client):
    assert client.get("/artifacts/01K9ZQ4M7E2V6S3T8W5X0Y1Z2A/edit").status_code == 404


# Move ------------------------------------------------------------------------------------


def test_move_under_another_parent(client, manager, lineage, make_artifact):
    other = make_artifact(name="other experiment")
    model = lineage["model"]

    response = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": str(other.id).lower()})

    assert response.status_code == 302
    moved = manager.get(model.id)
    assert moved.parent_id == other.id
    assert manager.get(lineage["predictions"].id).level == 2
    assert "Moved “LinearRegression”: it is now a model." in html(client.get(response.headers["Location"])).get_text()


def test_move_with_empty_parent_makes_a_root_once_confirmed(client, manager, lineage):
    model = lineage["model"]
    asked = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": "  "})
    assert asked.status_code == 200
    assert "It will be a root artifact" in html(asked).select_one(".confirm-move").get_text()

    response = post_form(client, f"/artifacts/{model.id}/move", confirmation(asked))

    assert response.status_code == 302
    assert (manager.get(model.id).level, manager.get(lineage["predictions"].id).level) == (0, 1)


def confirmation(response: Any) -> dict[str, str]:
    """What the confirm button of a move preview posts."""
    form = html(response).select_one(".confirm-move form")
    assert form["method"] == "post" and form.select_one("input[name=csrf_token]") is not None
    return {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}


def test_move_to_the_parent_it_already_has_says_so_and_changes_nothing(client, manager, lineage, monkeypatch):
    model, experiment = lineage["model"], lineage["experiment"]
    monkeypatch.setattr("webapp.artifacts.manager.utcnow", lambda: model.updated_at.replace(year=2099))

    under = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": str(experiment.id)})
    assert under.status_code == 302
    assert texts(html(client.get(under.headers["Location"])).select(".flash-info")) == [
        "“LinearRegression” is already under “weather_forecast”: nothing changed."
    ]
    root = post_form(client, f"/artifacts/{experiment.id}/move", {"parent_id": ""})
    assert root.status_code == 302
    assert texts(html(client.get(root.headers["Location"])).select(".flash-info")) == [
        "“weather_forecast” is already a root artifact: nothing changed."
    ]
    assert manager.get(model.id) == model and manager.get(experiment.id) == experiment


def test_a_move_that_changes_levels_says_what_happens_and_waits_for_confirmation(
    client, manager, lineage, make_artifact
):
    model = lineage["model"]  # a model with one predictions child
    leaf = make_artifact(make_artifact(make_artifact(name="other"), name="other model"), name="other predictions")

    asked = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": str(leaf.id)})

    assert asked.status_code == 200
    preview = html(asked).select_one(".confirm-move")
    text = " ".join(preview.get_text(" ", strip=True).split())
    assert "under predictions other predictions" in text
    assert "It will be a level_3 (level 3, now level 1)" in text
    assert "Level 3 has no label in the “ml_pipeline” hierarchy." in text
    assert "2 artifacts move: it and its 1 descendant, each 2 levels deeper." in text
    posted = confirmation(asked)
    assert posted == {
        "csrf_token": posted["csrf_token"], "parent_id": str(leaf.id), "version": model.version, "confirm": "1"
    }
    assert manager.get(model.id) == model  # nothing is written before the confirmation

    done = post_form(client, f"/artifacts/{model.id}/move", posted)

    assert done.status_code == 302
    assert (manager.get(model.id).level, manager.get(lineage["predictions"].id).level) == (3, 4)
    assert "Moved “LinearRegression”: it is now a level_3." in html(client.get(done.headers["Location"])).get_text()


def test_a_confirmed_move_of_an_artifact_changed_meanwhile_is_refused(client, manager, lineage):
    model = lineage["model"]
    asked = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": ""})
    changed = manager.update(model.id, ArtifactUpdate(data={"model_type": "Ridge"}))

    refused = post_form(client, f"/artifacts/{model.id}/move", confirmation(asked))

    assert refused.status_code == 409
    assert "Not moved: someone changed this artifact" in html(refused).select_one(".alert-error").get_text()
    assert confirmation(refused)["version"] == changed.version  # asks again, about what is stored now
    assert manager.get(model.id) == changed


def test_move_page_offers_the_tree_to_pick_a_new_parent(client, lineage, make_artifact):
    other = make_artifact(name="other experiment")
    model = lineage["model"]
    soup = html(client.get(f"/artifacts/{model.id}/move"))

    picker = soup.select_one(".picker")
    rows = {row["id"].removeprefix("node-"): row for row in picker.select("li.node")}
    assert set(rows) == {str(lineage["experiment"].id), str(other.id)}  # the roots
    offered = rows[str(other.id)].select_one("form")
    assert offered["action"] == f"/artifacts/{model.id}/move"
    assert offered.select_one("input[name=parent_id]")["value"] == str(other.id)
    assert offered.select_one("input[name=csrf_token]") is not None
    # The experiment is the model's parent: it can be opened (to pick a sibling), not offered.
    experiment = rows[str(lineage["experiment"].id)]
    assert experiment.select_one("form") is None and "its current parent" in experiment.get_text()
    assert experiment.select_one("button.twisty")["hx-get"] == (
        f"/artifacts/{lineage['experiment'].id}/children?move={model.id}"
    )


def test_picker_fragments_offer_children_but_never_open_the_moving_artifact(client, lineage, make_artifact):
    model = lineage["model"]
    sibling = make_artifact(lineage["experiment"], name="sibling model")
    fragment = html(client.get(
        f"/artifacts/{lineage['experiment'].id}/children?move={model.id}", headers={"HX-Request": "true"}
    ))
    rows = {row["id"].removeprefix("node-"): row for row in fragment.select("li.node")}
    assert set(rows) == {str(model.id), str(sibling.id)}
    assert rows[str(sibling.id)].select_one("input[name=parent_id]")["value"] == str(sibling.id)
    moving = rows[str(model.id)]  # it has a child, but none of its descendants may become its parent
    assert moving.select_one("button.twisty") is None and moving.select_one("form") is None
    assert "the artifact you are moving" in moving.get_text()


def test_picker_fragment_for_an_unknown_artifact_is_a_404(client, lineage):
    response = client.get(
        f"/artifacts/{lineage['experiment'].id}/children?move=01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", headers={"HX-Request": "true"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("predictions", "cannot be moved under"),
        ("itself", "cannot be moved under"),
        ("01K9ZQ4M7E2V6S3T8W5X0Y1Z2A", "Parent artifact 01K9ZQ4M7E2V6S3T8W5X0Y1Z2A not found."),
        ("not an id", "That is not an artifact id"),
    ],
)
def test_move_refusals_explain_and_keep_the_input(client, manager, lineage, target, message):
    model = lineage["model"]
    typed = {"predictions": str(lineage["predictions"].id), "itself": str(model.id)}.get(target, target)

    response = post_form(client, f"/artifacts/{model.id}/move", {"parent_id": typed})

    soup = html(response)
    assert response.status_code == 422
    assert message in soup.select_one("#parent_id-error").get_text()
    assert soup.select_one("input#parent_id")["value"] == typed
    assert manager.get(model.id).parent_id == lineage["experiment"].id


def test_move_page_finds_candidate_parents_by_text(client, lineage, make_artifact):
    other = make_artifact(name="weather archive")
    soup = html(client.get(f"/artifacts/{lineage['model'].id}/move?q=weather"))

    candidates = soup.select(".candidates li")
    names = texts(c.select_one("a") for c in candidates)
    assert names == ["weather archive", "weather_forecast"]
    assert candidates[0].select_one("input[name=parent_id]")["value"] == str(other.id)
    assert candidates[1].select_one("form") is None  # already the parent
    assert "current parent" in candidates[1].get_text()


# Delete ----------------------------------------------------------------------------------


def test_delete_page_of_a_parent_explains_the_refusal_and_offers_no_delete(client, lineage):
    soup = html(client.get(f"/artifacts/{lineage['model'].id}/delete"))
    assert "cannot be deleted" in soup.select_one(".alert-warning").get_text()
    assert soup.select_one("form[method=post]") is None
    assert soup.select_one("button.danger") is None


def test_delete_post_on_a_parent_is_refused_with_409_and_changes_nothing(client, manager, lineage):
    response = client.post(f"/artifacts/{lineage['model'].id}/delete")
    assert response.status_code == 409
    assert "has 1 child artifact(s)" in html(response).select_one(".alert-error").get_text()
    assert manager.count() == 3


def test_delete_a_leaf_after_confirmation(client, manager, lineage):
    predictions = lineage["predictions"]
    confirm = html(client.get(f"/artifacts/{predictions.id}/delete"))
    assert confirm.select_one("form[method=post] button.danger").get_text(strip=True) == "Delete permanently"

    response = client.post(f"/artifacts/{predictions.id}/delete")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/artifacts/{lineage['model'].id}"
    assert manager.find_by_id(predictions.id) is None
    flash = html(client.get(response.headers["Location"])).select_one(".flash-success").get_text()
    assert flash == "Deleted predictions “prediction_date 2025-10-20”."


def test_deleting_a_root_leaf_returns_home(client, manager, make_artifact):
    root = make_artifact(name="alone")
    response = client.post(f"/artifacts/{root.id}/delete")
    assert response.headers["Location"] == "/"
    assert manager.count() == 0


# Escaping --------------------------------------------------------------------------------


def test_hostile_strings_are_shown_as_text_everywhere(client, make_artifact):
    root = make_artifact(name=HOSTILE, **{HOSTILE: HOSTILE}, frame={"columns": [HOSTILE], "data": [[HOSTILE]]})
    child = make_artifact(root, title=HOSTILE, notes=HOSTILE * 20)

    pages = {
        "index": client.get("/"),
        "search": client.get("/", query_string={"q": HOSTILE}),
        "detail": client.get(f"/artifacts/{child.id}"),
        "root": client.get(f"/artifacts/{root.id}"),
        "fragment": client.get(f"/artifacts/{root.id}/children", headers=HX),
        "edit": client.get(f"/artifacts/{child.id}/edit?mode=fields"),
        "move": client.get(f"/artifacts/{child.id}/move", query_string={"q": "script"}),
        "delete": client.get(f"/artifacts/{root.id}/delete"),
        "refused": client.post("/artifacts/new", data={"mode": "json", "data_json": HOSTILE}),
        "flash": client.post(f"/artifacts/{child.id}/delete", follow_redirects=True),
    }

    for name, response in pages.items():
        soup = html(response)
        assert_no_injected_markup(soup)
        assert HOSTILE in soup.get_text() or name == "search", name
    assert HOSTILE in html(pages["search"]).select_one("input#q")["value"]
    assert "“" + HOSTILE + "”" in html(pages["flash"]).select_one(".flash").get_text()


# Error pages -------------------------------------------------------------------------------


@pytest.fixture
def failing_routes(app):
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    app.add_url_rule("/forbidden", "forbidden", lambda: abort(403))
    return app


@pytest.mark.parametrize(("path", "status", "title"), [
    ("/no/such/page", 404, "Not Found"),
    ("/forbidden", 403, "Forbidden"),
    ("/boom", 500, "Internal Server Error"),
])
def test_error_pages_use_the_site_layout(client, failing_routes, path, status, title):
    response = client.get(path)
    soup = html(response)
    assert response.status_code == status
    assert_full_page(soup)
    assert soup.select_one(".error-status").get_text() == str(status)
    assert soup.h1.get_text() == title


def test_a_body_over_the_limit_is_a_413_page(app, client, manager):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/artifacts/new", data={"mode": "json", "data_json": '{"a": "' + "x" * 2000 + '"}'})
    soup = html(response)
    assert response.status_code == 413
    assert_full_page(soup)
    assert "larger than this server accepts" in soup.get_text()
    assert manager.count() == 0


@pytest.mark.parametrize("key", ["日本", "данные", "😀", "a\r\nSet-Cookie: x=1"])
def test_value_downloads_of_any_key_name_the_file_in_a_valid_header(client, make_artifact, key):
    artifact = make_artifact(name="n", **{key: "text"})
    response = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": f"/{key}", "download": "1"})
    assert response.status_code == 200 and response.get_data(as_text=True) == "text"
    fallback, full = download_names(response)
    full = full or fallback  # names that are ASCII already need no filename*
    assert fallback.startswith(str(artifact.id)) and fallback.endswith(".txt")
    assert full.startswith(f"{artifact.id}-") and full.endswith(".txt")
    if key.isalnum():
        assert key in full  # the real name, for every client that reads filename*


@pytest.mark.parametrize("token", ["²", "٣", "01", "-1", "1.0", " 1"])
def test_value_pointer_indexes_are_ascii_digits_only(client, make_artifact, token):
    artifact = make_artifact(name="n", lst=["a", "b"])
    response = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": f"/lst/{token}"})
    assert response.status_code == 404 and "no value at" in response.get_data(as_text=True)
    ok = client.get(f"/artifacts/{artifact.id}/value", query_string={"pointer": "/lst/1"})
    assert ok.get_data(as_text=True) == "b"
