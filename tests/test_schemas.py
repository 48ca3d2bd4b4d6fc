"""Edge shapes: PandasDataFrame JSON safety and the data checks of ArtifactIn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tests.support.data import nested
from webapp.artifacts import ArtifactIn, ArtifactValidationError, PandasDataFrame, Policy
from webapp.artifacts.schemas import json_depth


def test_dataframe_model_dump_is_json_safe():
    df = pd.DataFrame(
        {
            "x": [1.5, np.nan, 3.0],
            "n": np.array([1, 2, 3], dtype="int64"),
            "when": pd.to_datetime(["2025-01-01T10:00:00", None, "2025-01-03T00:00:00"]),
            "label": ["a", None, "c"],
            "flag": [True, False, True],
        }
    )
    dumped = PandasDataFrame.from_dataframe(df).model_dump()
    text = json.dumps(dumped, allow_nan=False)  # raises on NaN
    assert dumped["columns"] == ["x", "n", "when", "label", "flag"]
    assert dumped["data"][1] == [None, 2, None, None, False]
    assert dumped["data"][0][2] == "2025-01-01T10:00:00"
    assert type(dumped["data"][0][1]) is int
    assert json.loads(text) == dumped


def test_dataframe_round_trip_keeps_values_and_dtypes():
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "t": pd.to_datetime(["2025-01-01", "2025-02-01"])})
    frame = PandasDataFrame(**json.loads(json.dumps(PandasDataFrame.from_dataframe(df).model_dump())))
    restored = frame.to_dataframe(dtypes={k: str(v) for k, v in df.dtypes.items()})
    pd.testing.assert_frame_equal(restored, df, check_dtype=False)
    assert restored["t"].iloc[1] == pd.Timestamp("2025-02-01")


def test_dataframe_refuses_ragged_rows_and_non_frames():
    with pytest.raises(ValidationError, match="row 1 has 1 values"):
        PandasDataFrame(columns=["a", "b"], data=[[1, 2], [3]])
    with pytest.raises(TypeError):
        PandasDataFrame.from_dataframe([[1, 2]])


@pytest.mark.parametrize(
    "data, message",
    [
        ({"s": "a\x00b"}, "NUL"),
        ({"s": "\ud800"}, "surrogates"),
        ({"f": float("inf")}, "NaN and Infinity"),
        ({"k\x00": 1}, "NUL"),
    ],
)
def test_artifact_in_refuses_what_json_columns_cannot_store(data, message):
    with pytest.raises(ValidationError, match=message):
        ArtifactIn(data=data)


def test_depth_is_the_policys_rule_not_the_schemas():
    deep = nested(3000)
    assert ArtifactIn(data=deep).data == deep  # the schema checks content only, iteratively
    assert json_depth(deep) == 3000 and json_depth({"a": [1, {"b": []}]}) == 4 and json_depth(5) == 0


def test_policy_accepts_its_limit_and_refuses_one_level_more():
    policy = Policy()
    assert policy.max_json_depth == 256
    policy.check_data(nested(256))
    with pytest.raises(ArtifactValidationError) as refused:
        policy.check_data(nested(257))
    assert refused.value.status == 422
    assert refused.value.errors[0]["loc"] == ["body", "data"]
    assert "nested deeper than 256 levels (257 levels)" in refused.value.detail
