"""A minimal RFC 6902 applier (add, remove, replace), to prove the patches the diff writes apply."""

from __future__ import annotations

import copy
from typing import Any


def _tokens(path: str) -> list[str]:
    assert path == "" or path.startswith("/"), path
    return [token.replace("~1", "/").replace("~0", "~") for token in path.split("/")[1:]]


def apply_patch(document: Any, patch: list[dict[str, Any]]) -> Any:
    """`document` with the patch applied (a copy); fails on any operation RFC 6902 would refuse."""
    document = copy.deepcopy(document)
    for operation in patch:
        tokens = _tokens(operation["path"])
        if not tokens:
            assert operation["op"] == "replace"
            document = copy.deepcopy(operation["value"])
            continue
        target = document
        for token in tokens[:-1]:
            target = target[int(token)] if isinstance(target, list) else target[token]
        last = tokens[-1]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if operation["op"] == "add":
                assert 0 <= index <= len(target)
                target.insert(index, copy.deepcopy(operation["value"]))
            elif operation["op"] == "remove":
                del target[index]
            else:
                assert operation["op"] == "replace" and 0 <= index < len(target)
                target[index] = copy.deepcopy(operation["value"])
        else:
            if operation["op"] == "add":
                target[last] = copy.deepcopy(operation["value"])
            elif operation["op"] == "remove":
                del target[last]
            else:
                assert operation["op"] == "replace" and last in target
                target[last] = copy.deepcopy(operation["value"])
    return document
