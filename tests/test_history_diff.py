"""The JSON diff: RFC 6902 patches that apply, and their changes; the table diff."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from tests.support.jsonpatch import apply_patch
from webapp.artifacts.diff import json_diff, line_diff, same_json
from webapp.artifacts.errors import ArtifactValidationError
from webapp.frames.diff import frame_diff

CASES = [
    ({}, {}),
    ({"a": 1}, {"a": 2}),
    ({"a": 1, "b": {"c": [1, 2, 3]}}, {"b": {"c": [1, 5]}, "d": None}),
    ({"a": [1, 2]}, {"a": [0, 1, 2, 3, 4]}),
    ({"a/b": 1, "m~n": 2}, {"a/b": 3}),
    ({"x": [{"y": 1}, {"y": 2}]}, {"x": [{"y": 1, "z": 0}]}),
    ({"t": True}, {"t": 1}),
    ({"n": 1}, {"n": 1.0}),
    ({"l": [1]}, {"l": {"0": 1}}),
]


@pytest.mark.parametrize(("old", "new"), CASES)
def test_the_patch_turns_old_into_new(old, new):
    patch, changes = json_diff(old, new)
    assert same_json(apply_patch(old, patch), new)
    assert [(c["op"], c["path"]) for c in changes] == [(p["op"], p["path"]) for p in patch]


def test_equal_documents_have_an_empty_patch_and_numbers_compare_as_json():
    assert json_diff({"n": 1, "l": [1, 2]}, {"l": [1, 2], "n": 1.0}) == ([], [])
    assert json_diff({"b": True}, {"b": 1})[0] == [{"op": "replace", "path": "/b", "value": 1}]


def test_random_documents_round_trip():
    rng = random.Random(7)

    def value(depth: int):
        kind = rng.random()
        if depth > 3 or kind < 0.4:
            return rng.choice([0, 1, 2.5, "x", "y", None, True, False])
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice("abcde"): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(300):
        old, new = {"r": value(0)}, {"r": value(0)}
        patch, _ = json_diff(old, new)
        assert same_json(apply_patch(old, patch), new)


def test_deep_data_is_walked_without_recursion_limits():
    old: dict = {}
    new: dict = {}
    a, b = old, new
    for _ in range(250):
        a["k"], b["k"] = {}, {}
        a, b = a["k"], b["k"]
    a["leaf"], b["leaf"] = 1, 2
    patch, changes = json_diff(old, new)
    assert len(patch) == 1 and patch[0]["path"].count("/k") == 250 and changes[0]["old"] == 1


def test_line_diff_of_texts_of_several_lines():
    _, changes = json_diff({"s": "a\nb"}, {"s": "a\nc"})
    assert changes[0]["line_diff"] == ["@@ -1,2 +1,2 @@", " a", "-b", "+c"]
    _, changes = json_diff({"s": "one line"}, {"s": "other"})
    assert "line_diff" not in changes[0]
    assert line_diff("same", "same") == []


def _table(rows: int, offset: int = 0) -> pd.DataFrame:
    ids = np.arange(offset, offset + rows)
    frame = pd.DataFrame({"id": ids})
    for column in range(9):
        frame[f"c{column}"] = ids * (column + 1) * 0.5
    return frame


def test_table_diff_by_key_counts_and_samples():
    old, new = _table(100), _table(100, offset=10)
    new.loc[new["id"] == 50, "c3"] = -1.0
    dtypes = {c: str(t) for c, t in old.dtypes.items()}
    result = frame_diff(old, new, dtypes, dtypes, "id")
    assert result["added"]["count"] == 10 and result["added"]["sample"][0]["id"] == 100
    assert result["removed"]["count"] == 10 and [r["id"] for r in result["removed"]["sample"]] == list(range(10))
    assert result["changed"] == {"count": 1, "sample": [{"key": 50, "cells": {"c3": [100.0, -1.0]}}]}
    with pytest.raises(ArtifactValidationError):
        frame_diff(old, new, dtypes, dtypes, "nope")


def test_table_diff_samples_at_most_50_and_compares_missing_values_as_equal():
    old = pd.DataFrame({"id": range(200), "v": [None] * 200})
    new = pd.DataFrame({"id": range(100, 400), "v": [None] * 300})
    result = frame_diff(old, new, {}, {}, "id")
    assert result["added"]["count"] == 200 and len(result["added"]["sample"]) == 50
    assert result["changed"]["count"] == 0


def test_table_diff_of_100000_by_10_rows():
    """Its time is bench/bench_history.py's to report (docs/history.md), not a test's to assert."""
    old, new = _table(100_000), _table(100_000, offset=500)
    new.loc[::7, "c2"] = 0.0
    dtypes = {c: str(t) for c, t in old.dtypes.items()}
    result = frame_diff(old, new, dtypes, dtypes, "id")
    assert result["added"]["count"] == 500 and result["removed"]["count"] == 500
    # Every 7th row of `new` changed; its first 99,500 rows (ids 500…99,999) are also in `old`.
    assert result["changed"]["count"] == len(range(0, 99_500, 7))
