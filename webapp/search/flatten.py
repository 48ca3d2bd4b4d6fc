"""Flattening `data` into dotted paths: the columns of children tables and comparisons."""

from __future__ import annotations

from typing import Any

from .grammar import path_text

MISSING: Any = object()


def flatten(data: Any, max_fields: int = 2000) -> dict[str, Any]:
    """{"metrics.rmse": 0.3, "tags": ["a"], …}: objects are walked (iteratively, data may
    nest 256 levels), lists and scalars are leaves; an empty object is a leaf too."""
    fields: dict[str, Any] = {}
    pending: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while pending and len(fields) < max_fields:
        path, value = pending.pop()
        if isinstance(value, dict) and (value or not path):
            pending.extend(((*path, key), item) for key, item in reversed(list(value.items())))
        else:
            fields[path_text(path)] = value
    return fields
