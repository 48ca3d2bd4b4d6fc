"""What changed between two JSON documents: an RFC 6902 patch and a list of changes.

Written here rather than taken from `jsonpatch`: its make_patch may answer with `move` and
`copy` operations, which have no old/new value to show, and it recurses, where artifact
data nests up to MAX_JSON_DEPTH (256) levels. This walk is iterative and emits only `add`,
`remove` and `replace`, one change per operation, in the patch's order (which is also an
order in which the patch applies: tests/test_history_diff.py applies it).
"""

from __future__ import annotations

import difflib
from typing import Any

# Values this equal are unchanged: JSON knows no difference between 1 and 1.0, but does
# between 1 and true (Python's `1 == True`).
def same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def _pointer_token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def line_diff(old: str, new: str) -> list[str]:
    """The unified diff of two texts, line by line ("-…", "+…", " …" and "@@" hunk lines),
    without the two file-name header lines."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    return [line for number, line in enumerate(lines) if number >= 2]


def _change(op: str, path: str, old: Any = None, new: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    operation: dict[str, Any] = {"op": op, "path": path}
    change: dict[str, Any] = {"path": path, "op": op}
    if op != "add":
        change["old"] = old
    if op != "remove":
        operation["value"] = new
        change["new"] = new
    if op == "replace" and isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
        change["line_diff"] = line_diff(old, new)
    return operation, change


def json_diff(old: Any, new: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(patch, changes): RFC 6902 operations turning `old` into `new`, and per operation
    {"path", "op", "old", "new"} (no "old" for an add, no "new" for a remove; "line_diff"
    when both are strings and either has several lines).

    Objects compare key by key, arrays index by index (the tail added or removed);
    anything else that differs is replaced whole.
    """
    patch: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    # Work items: ("walk", path, old, new) or ("emit", operation, change), popped last first.
    stack: list[tuple[Any, ...]] = [("walk", "", old, new)]
    while stack:
        item = stack.pop()
        if item[0] == "emit":
            patch.append(item[1])
            changes.append(item[2])
            continue
        _, path, a, b = item
        later: list[tuple[Any, ...]] = []  # in order; pushed reversed below
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                child = f"{path}/{_pointer_token(key)}"
                if key not in b:
                    later.append(("emit", *_change("remove", child, old=value)))
                elif not same_json(value, b[key]):
                    later.append(("walk", child, value, b[key]))
            for key, value in b.items():
                if key not in a:
                    later.append(("emit", *_change("add", f"{path}/{_pointer_token(key)}", new=value)))
        elif isinstance(a, list) and isinstance(b, list):
            common = min(len(a), len(b))
            for index in range(common):
                if not same_json(a[index], b[index]):
                    later.append(("walk", f"{path}/{index}", a[index], b[index]))
            for index in range(len(a) - 1, common - 1, -1):  # from the end: earlier indexes stay valid
                later.append(("emit", *_change("remove", f"{path}/{index}", old=a[index])))
            for index in range(common, len(b)):
                later.append(("emit", *_change("add", f"{path}/{index}", new=b[index])))
        elif not same_json(a, b):
            later.append(("emit", *_change("replace", path, old=a, new=b)))
        stack.extend(reversed(later))
    return patch, changes
