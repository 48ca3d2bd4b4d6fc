"""GET /artifacts with filter, sort, order and facets; GET /artifacts/$compare."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/api/v1/artifacts"


@pytest.fixture
def sweep(make_artifact: Any) -> dict[str, Any]:
    """An experiment with four models (one without rmse) and predictions under two of them."""
    experiment = make_artifact(name="sweep", framework="xgboost")
    models = [
        make_artifact(experiment, name="m1", metrics={"rmse": 0.4, "val_acc": 0.8}, params={"depth": 3}),
        make_artifact(experiment, name="m2", metrics={"rmse": 0.2, "val_acc": 0.9}, params={"depth": 5}),
        make_artifact(experiment, name="m3", metrics={"rmse": 0.25}, params={"depth": 5}, curve=[0.5, 0.4, 0.3]),
        make_artifact(experiment, name="m4", metrics={"val_acc": "n/a"}),
    ]
    predictions = [make_artifact(models[1], name="p2"), make_artifact(models[0], name="p1")]
    return {"experiment": experiment, "models": models, "predictions": predictions}


def names(answer: Any) -> list[str]:
    return [item["data"]["name"] for item in answer.json["items"]]


def test_filter_sort_and_order(client: Any, sweep: dict[str, Any]) -> None:
    answer = client.get(URL, query_string={"filter": "data.metrics.rmse < 0.3", "sort": "data.metrics.rmse"})
    assert answer.status_code == 200 and names(answer) == ["m2", "m3"] and answer.json["total"] == 2
    answer = client.get(URL, query_string={"filter": "level_label = 'model'", "sort": "data.metrics.rmse", "order": "desc"})
    assert names(answer) == ["m1", "m3", "m2", "m4"]  # missing last, even descending
    assert {(i["hierarchy"], i["level_label"]) for i in answer.json["items"]} == {("ml_pipeline", "model")}
    answer = client.get(URL, query_string={"filter": "parent.data.metrics.rmse < 0.3"})
    assert names(answer) == ["p2"]
    answer = client.get(URL, query_string={"filter": "ancestor.data.framework = 'xgboost' and data.name contains 'P'"})
    assert sorted(names(answer)) == ["p1", "p2"]
    answer = client.get(URL, query_string={"filter": "data.metrics.val_acc >= 0.85 or data.metrics.val_acc = 'n/a'"})
    assert sorted(names(answer)) == ["m2", "m4"]


def test_filter_combines_with_the_listing_filters_and_pages(client: Any, sweep: dict[str, Any]) -> None:
    experiment = sweep["experiment"]
    answer = client.get(URL, query_string={"parent_id": experiment.id, "filter": "data.params.depth = 5", "size": 1})
    assert names(answer) == ["m2"] and answer.json["total"] == 2 and answer.json["next_cursor"]
    answer = client.get(URL, query_string={"parent_id": experiment.id, "filter": "data.params.depth = 5", "size": 1,
                                           "cursor": answer.json["next_cursor"]})
    assert names(answer) == ["m3"] and answer.json["next_cursor"] is None and answer.json["page"] == 2
    answer = client.get(URL, query_string={"level": 2, "filter": "data.name = 'p1'"})
    assert names(answer) == ["p1"]


def test_facets_count_the_matched_set(client: Any, sweep: dict[str, Any]) -> None:
    answer = client.get(URL, query_string={"filter": "level = 1", "facets": "data.params.depth, level_label,level"})
    assert answer.json["facets"] == {
        "data.params.depth": [{"value": 5, "count": 2}, {"value": 3, "count": 1}],
        "level_label": [{"value": "model", "count": 4}],
        "level": [{"value": 1, "count": 4}],
    }


@pytest.mark.parametrize(
    ("params", "position", "expected"),
    [
        ({"filter": "data.x = '1'; DROP TABLE artifacts; --'"}, 12, "a field, a literal, an operator"),
        ({"filter": "foo.bar = 1"}, 0, "a field"),
        ({"filter": "created_at > 'soon'"}, 0, "a quoted ISO 8601 timestamp"),
        ({"sort": "data.a desc"}, 7, "the end of the field"),
        ({"facets": "parent.data.x"}, 0, "data.<path> or a column"),
    ],
)
def test_errors_are_problem_documents_with_position_and_expected(
    client: Any, sweep: dict[str, Any], params: dict[str, str], position: int, expected: str
) -> None:
    answer = client.get(URL, query_string=params)
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert answer.json["type"] == "urn:artifact-store:error:invalid-filter"
    assert answer.json["position"] == position and answer.json["expected"].startswith(expected)
    assert client.get(URL).json["total"] == 7  # the table is still there


def test_compare(client: Any, sweep: dict[str, Any]) -> None:
    m1, m2, m3, _ = sweep["models"]
    answer = client.get(f"{URL}/$compare", query_string={"ids": f"{m1.id},{m2.id},{m3.id}"})
    assert answer.status_code == 200
    assert answer.json["ids"] == [str(m1.id), str(m2.id), str(m3.id)]
    fields = {f["path"]: f for f in answer.json["fields"]}
    assert fields["metrics.rmse"] == {"path": "metrics.rmse", "values": [0.4, 0.2, 0.25], "differs": True}
    assert fields["metrics.val_acc"]["values"] == [0.8, 0.9, None] and fields["metrics.val_acc"]["differs"]
    assert fields["curve"]["values"] == [None, None, [0.5, 0.4, 0.3]]
    answer = client.get(f"{URL}/$compare", query_string={"ids": f"{m2.id},{m3.id}"})
    assert {f["path"]: f["differs"] for f in answer.json["fields"]}["params.depth"] is False


@pytest.mark.parametrize("ids", ["", "one", "01K9ZQ4M7E2V6S3T8W5X0Y1Z2A"])
def test_compare_needs_two_to_fifty_distinct_ids(client: Any, sweep: dict[str, Any], ids: str) -> None:
    answer = client.get(f"{URL}/$compare", query_string={"ids": ids})
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"


def test_compare_refuses_unknown_and_malformed_ids(client: Any, sweep: dict[str, Any]) -> None:
    known = sweep["models"][0].id
    assert client.get(f"{URL}/$compare", query_string={"ids": f"{known},01K9ZQ4M7E2V6S3T8W5X0Y1Z2A"}).status_code == 404
    assert client.get(f"{URL}/$compare", query_string={"ids": f"{known},nope"}).status_code == 400
    assert client.get(f"{URL}/$compare", query_string={"ids": ",".join([str(known)] * 2)}).status_code == 422
    too_many = ",".join(f"01K9ZQ4M7E2V6S3T8W5X0Y1Z{n:02d}" for n in range(51))
    assert client.get(f"{URL}/$compare", query_string={"ids": too_many}).status_code == 422
