"""How artifact data reads on a page: titles, summaries, JSON pointers (pure functions)."""

from __future__ import annotations

import pytest

from webapp.web import presenters


@pytest.mark.parametrize(
    ("data", "title"),
    [
        ({"experiment_name": "weather_forecast", "started_at": "2025-10-18"}, "weather_forecast"),
        ({"started_at": "2025-10-18", "experiment_name": "weather_forecast"}, "weather_forecast"),
        ({"title": "Authentication Guide"}, "Authentication Guide"),
        ({"model_type": "LinearRegression", "metrics": {"rmse": 0.25}}, "LinearRegression"),
        ({"dataset_name": "sales"}, "sales"),
        ({"version": "1.0", "content": "..."}, "version 1.0"),
        ({"num_predictions": 1000, "prediction_date": "2025-10-20"}, "prediction_date 2025-10-20"),
        ({"count": 3}, "count 3"),
        ({"name": "  ", "label": "fallback"}, "fallback"),
        ({"name": "multi\nline   name"}, "multi line name"),
        ({"flag": True, "nested": {"a": 1}}, None),
        ({}, None),
        ([1, 2], None),
    ],
)
def test_title_of_prefers_names_and_never_depends_on_key_order(data, title):
    assert presenters.title_of(data) == title


def test_long_titles_are_cut_with_an_ellipsis():
    title = presenters.title_of({"name": "x" * 500})
    assert len(title) == presenters.TITLE_LENGTH and title.endswith("…")


def test_summary_names_the_other_fields_briefly():
    data = {
        "name": "run",
        "metrics": {"rmse": 0.25, "mae": 0.1},
        "tags": ["a"],
        "frame": {"columns": ["a", "b"], "data": [[1, 2], [3, 4], [5, 6]]},
        "notes": "n" * 100,
        "extra": 1,
    }
    summary = presenters.summary_of(data)
    parts = summary.split(" · ")
    assert parts[:3] == ["metrics: {2 keys}", "tags: [1 item]", "frame: table 3 × 2"]
    assert parts[3] == "+2 more fields"
    assert presenters.summary_of({"name": "only"}) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"columns": ["a"], "data": [[1], [2]]}, True),
        ({"columns": [], "data": []}, True),
        ({"columns": ["a"], "data": [1, 2]}, False),
        ({"columns": "a", "data": []}, False),
        ([["a"]], False),
    ],
)
def test_is_frame_recognises_the_pandas_dataframe_shape(value, expected):
    assert presenters.is_frame(value) is expected


def test_json_pointers_round_trip_through_awkward_keys():
    document = {"a/b": [0, {"~c": {"": "empty key"}}]}
    pointer = ""
    for token in ("a/b", 1, "~c", ""):
        pointer = presenters.pointer_append(pointer, token)
    assert pointer == "/a~1b/1/~0c/"
    assert presenters.resolve_pointer(document, pointer) == "empty key"
    assert presenters.resolve_pointer(document, "") is document


@pytest.mark.parametrize("pointer", ["/missing", "/a~1b/9", "/a~1b/x", "no-slash", "/a~1b/0/deeper"])
def test_resolve_pointer_raises_lookup_error_for_what_is_not_there(pointer):
    with pytest.raises(LookupError):
        presenters.resolve_pointer({"a/b": [0]}, pointer)


def test_looks_base64_only_for_long_base64_text():
    assert presenters.looks_base64("QUJD" * 60)
    assert not presenters.looks_base64("QUJD" * 10)  # short
    assert not presenters.looks_base64("not base64 at all! " * 20)
    assert not presenters.looks_base64(12345)


def test_download_names_are_safe_file_names():
    assert presenters.pointer_filename("01ABC", "/model", ".txt") == "01ABC-model.txt"
    assert presenters.pointer_filename("01ABC", "", ".json") == "01ABC.json"
    assert presenters.pointer_filename("01ABC", '/../"x y"/0', ".txt") == "01ABC-..-_x_y_-0.txt"
