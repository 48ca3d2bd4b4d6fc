"""Artifact data shapes the tests build."""

from __future__ import annotations


def nested(depth: int) -> dict:
    """A `data` object `depth` levels deep ({} is 1 level, {"x": {}} is 2), built without recursion."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value
