"""How artifact data reads on a page: titles, one-line summaries, truncation, JSON pointers.

Presentation only: nothing here decides what may be stored (that is the manager's job).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import islice
from typing import Any

# Keys whose value *is* the name of the thing: shown bare ("weather_forecast").
NAME_KEYS = ("name", "title", "experiment_name", "display_name", "label", "model_type", "filename", "file_name")
# Keys that identify a thing well enough when no name exists: shown as "version 1.0".
DESCRIBING_KEYS = ("version", "type", "kind")

TITLE_LENGTH = 80
SUMMARY_FIELDS = 3
SUMMARY_VALUE_LENGTH = 40
STRING_PREVIEW = 200  # characters of a long string shown before "view all"
CONTAINER_PREVIEW = 100  # entries of an object or list shown on the page
FRAME_PREVIEW_ROWS = 50


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _one_line(value: Any, limit: int) -> str:
    """`value` as short single-line text, cut with an ellipsis."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def is_frame(value: Any) -> bool:
    """True for the PandasDataFrame JSON shape: {"columns": [...], "data": [[...], ...]}."""
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("columns"), list)
        and isinstance(value.get("data"), list)
        and all(isinstance(row, list) for row in value["data"][:FRAME_PREVIEW_ROWS])
    )


def _is_name_key(key: str) -> bool:
    return key in NAME_KEYS or key.endswith(("_name", "_title"))


def _titling(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and bool(str(value).strip())


def title_key(data: Any, preferred: str | None = None) -> str | None:
    """The key whose value titles the artifact, or None: `preferred` (the hierarchy's title
    field) when it holds a name, else the first name-like key.

    Never depends on key order: PostgreSQL's jsonb does not keep it, SQLite does, and the
    same artifact must get the same title on both.
    """
    if not isinstance(data, Mapping):
        return None
    suffixed = sorted(k for k in data if isinstance(k, str) and k.endswith(("_name", "_title")))
    for key in [*([preferred] if preferred else []), *NAME_KEYS, *suffixed, *DESCRIBING_KEYS]:
        if _titling(data.get(key)):
            return key
    # Otherwise the first text field by name (text describes better than a number), then numbers.
    fallback = sorted((not isinstance(v, str), k) for k, v in data.items() if isinstance(k, str) and _titling(v))
    return fallback[0][1] if fallback else None


def title_of(data: Any, preferred: str | None = None) -> str | None:
    """A short human title: a name-like value bare, otherwise "key value"; None when nothing fits."""
    key = title_key(data, preferred)
    if key is None:
        return None
    value = _one_line(data[key], TITLE_LENGTH)
    if _is_name_key(key) or key == preferred:
        return value
    return _one_line(f"{key} {value}", TITLE_LENGTH)


def describe_value(value: Any) -> str:
    """A very short description of any JSON value, for summaries."""
    if is_frame(value):
        return f"table {len(value['data'])} × {len(value['columns'])}"
    if isinstance(value, Mapping):
        return f"{{{len(value)} key{'s' if len(value) != 1 else ''}}}"
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    return _one_line(value, SUMMARY_VALUE_LENGTH)


def summary_of(data: Any, preferred: str | None = None) -> str:
    """One line naming the first few fields other than the title: "model_type: X · metrics: {1 key}"."""
    if not isinstance(data, Mapping):
        return describe_value(data)
    truncated = data.get("$truncated")  # a listing's stand-in for data too large to list
    if isinstance(truncated, Mapping) and isinstance(truncated.get("bytes"), int):
        return f"data too large to list here ({truncated['bytes']:,} bytes): open the artifact"
    shown = title_key(data, preferred)  # already on the page as the title
    fields = [key for key in data if key != shown]
    parts = [f"{_one_line(key, SUMMARY_VALUE_LENGTH)}: {describe_value(data[key])}" for key in fields[:SUMMARY_FIELDS]]
    if len(fields) > SUMMARY_FIELDS:
        more = len(fields) - SUMMARY_FIELDS
        parts.append(f"+{more} more field{'s' if more != 1 else ''}")
    return " · ".join(parts)


MAX_VIEW_DEPTH = 24  # deeper values are linked as JSON rather than nested further on the page
VIEW_LIMITS = {
    "string": STRING_PREVIEW,
    "entries": CONTAINER_PREVIEW,
    "frame_rows": FRAME_PREVIEW_ROWS,
    "depth": MAX_VIEW_DEPTH,
}


def first_entries(value: Any, limit: int = CONTAINER_PREVIEW) -> list[tuple[Any, Any]]:
    """(key, value) pairs of an object, or (index, item) of a list, at most `limit` of them."""
    if isinstance(value, Mapping):
        return list(islice(value.items(), limit))
    return list(islice(enumerate(value), limit))


BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def looks_base64(value: Any) -> bool:
    """True for a long string that is plausibly base64 (a pickled model, a file's bytes)."""
    return (
        isinstance(value, str)
        and len(value) >= STRING_PREVIEW
        and len(value) % 4 == 0
        and BASE64.fullmatch(value) is not None
    )


def pointer_append(pointer: str, token: Any) -> str:
    """The JSON pointer (RFC 6901) of `token` inside the value at `pointer`."""
    return pointer + "/" + str(token).replace("~", "~0").replace("/", "~1")


# RFC 6901's array-index, ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses.
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer ("" is the whole document). Raises LookupError when absent."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise LookupError("a JSON pointer starts with '/'")
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and token in value:
            value = value[token]
        elif isinstance(value, list) and ARRAY_INDEX.fullmatch(token) and int(token) < len(value):
            value = value[int(token)]
        else:
            raise LookupError(f"nothing at {pointer!r}")
    return value


def pointer_filename(artifact_id: str, pointer: str, suffix: str) -> str:
    """A safe download name such as 01K…-model.txt for the value at `pointer`."""
    tail = "".join(c if c.isalnum() or c in "-_." else "_" for c in pointer.strip("/").replace("/", "-"))
    return f"{artifact_id}{'-' + tail[:60] if tail else ''}{suffix}"
