"""JSON encoding of tree documents, at any depth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: only the standard library writes it
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def encode_tree(document: dict[str, Any]) -> bytes:
    """`document` (nodes with a `children` list) as JSON, without recursion.

    A chain of artifacts can be thousands of levels deep, beyond what recursive encoders
    (orjson stops at 254 levels, the standard library at Python's recursion limit) will
    write. Each node's own fields are encoded by orjson; the nesting is spliced here with
    an explicit stack. `children` comes last in every node.
    """
    try:
        return orjson.dumps(document)  # the fast path, for all but the deepest trees
    except orjson.JSONEncodeError:  # deeper than orjson goes, or integers beyond 64 bits
        pass
    parts: list[bytes] = []
    stack: list[Iterator[dict[str, Any]]] = [iter([document])]
    first = [True]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            first.pop()
            if stack:  # that was a node's children: close the list and the node
                parts.append(b"]}")
            continue
        if not first[-1]:
            parts.append(b",")
        first[-1] = False
        head = _dumps({key: value for key, value in node.items() if key != "children"})
        parts.append(head[:-1] + (b',"children":[' if len(head) > 2 else b'"children":['))
        stack.append(iter(node.get("children") or ()))
        first.append(True)
    return b"".join(parts)
