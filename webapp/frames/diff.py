"""What differs between two tables: columns, dtypes, row counts and, by a key column, rows.

Vectorised with pandas (a hash join on the key, one comparison per shared column), so
100,000 rows of 10 columns compare in a fraction of a second (bench/bench_history.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from webapp.artifacts.errors import ArtifactValidationError

SAMPLE = 50


def _value(value: Any) -> Any:
    """A cell as JSON: None for missing, Python scalars, ISO text for times."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, bool, int, float)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _value(v) for k, v in row.items()} for row in frame.head(SAMPLE).to_dict("records")]


def _key_error(key: str, detail: str) -> ArtifactValidationError:
    return ArtifactValidationError([{"loc": ["query", "key"], "msg": detail, "type": "value_error"}], detail=detail)


def frame_diff(
    old: pd.DataFrame, new: pd.DataFrame, old_dtypes: dict[str, str], new_dtypes: dict[str, str], key: str | None
) -> dict[str, Any]:
    """The `frame` part of a diff from table `old` to table `new` (see docs/api.md#history).
    Raises ArtifactValidationError when `key` is not a column of both, or repeats a value."""
    old_columns, new_columns = [str(c) for c in old.columns], [str(c) for c in new.columns]
    shared = [c for c in old_columns if c in new_columns]
    result: dict[str, Any] = {
        "columns_added": [c for c in new_columns if c not in old_columns],
        "columns_removed": [c for c in old_columns if c not in new_columns],
        "dtypes_changed": {
            c: [old_dtypes.get(c), new_dtypes.get(c)] for c in shared if old_dtypes.get(c) != new_dtypes.get(c)
        },
        "rows": {"from": len(old), "to": len(new)},
    }
    if key is None:
        return result
    if key not in shared:
        raise _key_error(key, f"key {key!r} is not a column of both tables.")
    if old[key].duplicated().any() or new[key].duplicated().any():
        raise _key_error(key, f"key {key!r} repeats a value: it must name each row once in both tables.")
    old_indexed, new_indexed = old.set_index(key, drop=False), new.set_index(key, drop=False)
    added = ~new_indexed.index.isin(old_indexed.index)
    removed = ~old_indexed.index.isin(new_indexed.index)
    both = new_indexed.index[~added]
    before, after = old_indexed.loc[both], new_indexed.loc[both]
    differs = {}
    for column in shared:
        if column == key:
            continue
        a, b = before[column], after[column]
        try:
            equal = (a.to_numpy() == b.to_numpy()) | (a.isna().to_numpy() & b.isna().to_numpy())
        except (TypeError, ValueError):  # values that do not compare (mixed types): compare as text
            equal = a.astype(str).to_numpy() == b.astype(str).to_numpy()
        differs[column] = ~np.asarray(equal, dtype=bool)
    changed_mask = np.zeros(len(both), dtype=bool)
    for mask in differs.values():
        changed_mask |= mask
    positions = np.flatnonzero(changed_mask)
    sample = []
    for position in positions[:SAMPLE]:
        cells = {
            column: [_value(before[column].iat[position]), _value(after[column].iat[position])]
            for column, mask in differs.items()
            if mask[position]
        }
        sample.append({"key": _value(both[position]), "cells": cells})
    result["added"] = {"count": int(added.sum()), "sample": _rows(new[added])}
    result["removed"] = {"count": int(removed.sum()), "sample": _rows(old[removed])}
    result["changed"] = {"count": int(len(positions)), "sample": sample}
    return result
