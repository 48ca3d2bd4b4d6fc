"""Pydantic shapes that cross the edges: API bodies, manager results, DataFrames."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticSerializationError
from ulid import ULID

ULID_PATTERN = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"


# Crockford's base32 digits as the digits int(..., 32) reads: decoding a ULID in C rather
# than python-ulid's Python loop, a tenth of the CPU of a list page of 50 (two ids each).
_CROCKFORD_DIGITS = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ", "0123456789abcdefghijklmnopqrstuv")
_CANONICAL_ULID = re.compile("[0-7][0-9A-HJKMNP-TV-Z]{25}")


class _ReadULID(ULID):
    """A ULID that keeps the canonical text it was read from: python-ulid encodes it again,
    in Python, on every str() (each id of every artifact in every JSON answer)."""

    def __init__(self, value: bytes, text: str) -> None:
        super().__init__(value)
        self._text = text

    def __str__(self) -> str:
        return self._text


def parse_ulid(value: object) -> ULID:
    """A ULID from a ULID, or from its 26-character text in either case. Raises ValueError."""
    if isinstance(value, ULID):
        return value
    if not isinstance(value, str):
        raise ValueError("a ULID must be a 26-character string")
    text = value.upper()
    if _CANONICAL_ULID.fullmatch(text):  # exactly what python-ulid accepts; it explains the rest
        return _ReadULID(int(text.translate(_CROCKFORD_DIGITS), 32).to_bytes(16, "big"), text)
    try:
        return ULID.from_str(value.upper())
    except ValueError as error:
        raise ValueError(f"not a valid ULID: {error}") from None


ArtifactId = Annotated[
    ULID,
    PlainValidator(parse_ulid),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": ULID_PATTERN, "examples": ["01K9ZQ4M7E2V6S3T8W5X0Y1Z2A"]}),
]


def _integral_float_as_int(value: Any) -> Any:
    """5.0 as 5: JSON Schema counts it as an integer, which the API's strict validation would refuse."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_json_value(value: Any) -> None:
    """Refuse what JSON columns cannot store faithfully on both SQLite and PostgreSQL.

    Walks iteratively (no recursion limit to hit): NUL characters and lone surrogates in
    strings (PostgreSQL's jsonb rejects them), NaN/Infinity (not JSON), non-string keys.
    Raises ValueError naming the first problem. (How deep data may nest is the store's
    policy: Policy.check_data.)
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise ValueError("object keys must be strings")
                _check_text(key)
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("NaN and Infinity are not valid JSON numbers")
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise ValueError(f"{type(item).__name__} values are not JSON-serializable")


def loads_strict(text: str | bytes) -> Any:
    """JSON text parsed as the spec means JSON: NaN and Infinity are refused.

    Raises ValueError saying where it went wrong ("Line 1, column 16: Expecting …"), or
    that it is nested too deeply to parse at all.
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"Line {error.lineno}, column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; use null or a number")


def json_depth(value: Any) -> int:
    """How many containers (objects, arrays) deep `value` nests: 0 for a scalar, 1 for {}."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return deepest


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("strings may not contain the NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings may not contain unpaired surrogates") from None


def _checked_data(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value)
    return value


class ArtifactIn(BaseModel):
    """What a client sends to create (or, with an existing id, update) an artifact.

    `level` is accepted for compatibility but never trusted: the manager computes it
    from the parent.
    """

    model_config = ConfigDict(extra="ignore")

    id: ArtifactId | None = Field(None, description="Optional client-chosen ULID")
    parent_id: ArtifactId | None = Field(None, description="Parent artifact; omit or null for a root")
    level: int | None = Field(None, description="Ignored: computed from the parent")
    hierarchy: str | None = Field(
        None,
        description="A root's hierarchy (omitted: the store's default); a child is in its parent's, "
        "and may only repeat its name",
    )
    data: dict[str, Any] = Field(..., description="Any JSON object")

    _check_data = field_validator("data")(_checked_data)
    _integral_level = field_validator("level", mode="before")(_integral_float_as_int)


class ArtifactUpdate(BaseModel):
    """Body of PUT: new data, and optionally a new parent (null makes it a root)."""

    model_config = ConfigDict(extra="ignore")

    data: dict[str, Any] = Field(..., description="Replaces the artifact's data")
    parent_id: ArtifactId | None = Field(
        None, description="Present: move the artifact under this parent (null: make it a root)"
    )

    _check_data = field_validator("data")(_checked_data)

    @property
    def moves(self) -> bool:
        """True when the client asked for a (possibly unchanged) parent."""
        return "parent_id" in self.model_fields_set


class ArtifactOut(BaseModel):
    """An artifact as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: ArtifactId
    parent_id: ArtifactId | None = None
    level: int
    data: Any
    created_at: datetime
    updated_at: datetime
    hierarchy: str | None = Field(None, description="The hierarchy of the artifact's tree")
    level_label: str | None = Field(None, description="The hierarchy's label of the artifact's level")
    revision: int = Field(1, description="The number of its newest revision (see $history)")

    @property
    def version(self) -> str:
        """A fingerprint of the stored artifact: it changes whenever any of its fields do.

        The API sends it as the ETag; passing it back (`if_match=`, If-Match) makes a write
        refuse to overwrite a change made by someone else meanwhile.
        """
        # Sorted keys: PostgreSQL's JSONB gives objects back in its own key order. (The
        # standard library, as orjson refuses integers beyond 64 bits.)
        fields = self.model_dump(mode="python", include=_STORED_FIELDS)  # "json" mode stops at 255 levels
        fields["data"] = _as_stored(fields["data"])  # -0.0 is 0.0 once stored
        stored = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_json_text_of)
        return hashlib.sha256(stored.encode()).hexdigest()[:32]


# What the version fingerprints: the stored row. (A hierarchy changes only with the parent,
# and a label is the hierarchy's, not the artifact's.)
_STORED_FIELDS = frozenset(ArtifactOut.model_fields) - {"hierarchy", "level_label"}


def _as_stored(value: Any) -> Any:
    """A copy of `value` with its numbers as every database gives them back, so a version
    computed before the write (the create response's ETag) equals one computed after a read.

    PostgreSQL's JSONB keeps numbers as `numeric`, which has no negative zero: -0.0 comes
    back as 0.0. (Big floats are written in full, 1e16 as 10000000000000000.0, so they come
    back as floats: webapp.artifacts.database.dump_json.) Walks with a stack, as deep as the
    data may nest.
    """
    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, float):
            if item == 0:
                container[key] = 0.0
        elif isinstance(item, dict):
            container[key] = copy = dict(item)
            stack.extend((copy, name) for name in copy)
        elif isinstance(item, list):
            container[key] = copy = list(item)
            stack.extend((copy, index) for index in range(len(copy)))
    return root[0]


def model_json(model: BaseModel) -> str:
    """`model.model_dump_json()`, at any depth of nesting.

    pydantic's serializer stops at 255 levels, and artifact data may nest deeper (up to
    Policy.max_json_depth): such a model is written by the standard library instead, in
    the same format (ULIDs as text, UTC datetimes ending in Z).
    """
    try:
        return model.model_dump_json()
    except PydanticSerializationError:
        plain = model.model_dump(mode="python")
        return json.dumps(plain, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_text_of)


def _json_text_of(value: Any) -> str:
    """How pydantic writes the non-JSON values of our models: ULIDs and aware datetimes."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, ULID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ArtifactTreeNode(ArtifactOut):
    """An artifact with its hierarchy metadata and, when loaded, its children."""

    children: list[ArtifactTreeNode] | None = None


class ArtifactExpansion(ArtifactTreeNode):
    """An artifact in context: its ancestors (root first, no children) and its descendants."""

    ancestors: list[ArtifactTreeNode] = Field(default_factory=list)


class HierarchySummary(BaseModel):
    """A hierarchy of the store and how much it holds."""

    name: str
    level_labels: dict[str, str] = Field(description="Label of each level, by level number (0 = root)")
    max_depth: int | None = Field(description="Number of levels allowed; null = unlimited")
    title_field: str | None = Field(description="The data field that names an artifact, where present")
    default: bool = Field(description="Roots created without naming a hierarchy are in this one")
    declared: bool = Field(description="False for a hierarchy that stored trees name but the configuration no longer declares")
    trees: int
    artifacts: int


class HierarchyList(BaseModel):
    items: list[HierarchySummary]
    total: int
    default: str


class TreeRequest(BaseModel):
    root_id: ArtifactId
    max_depth: int | None = Field(
        None, ge=0, le=10_000, description="Levels below the root to include; null = all"
    )

    _integral_max_depth = field_validator("max_depth", mode="before")(_integral_float_as_int)


class ExpandRequest(BaseModel):
    artifact_id: ArtifactId


T = TypeVar("T")


# "<page>.<ULID>": a page number from 2 to 1,000,000,000 (ListQuery's page limit), then the id the page follows.
CURSOR_PATTERN = rf"^([2-9]|[1-9][0-9]{{1,8}}|1000000000)\.{ULID_PATTERN[1:-1]}$"
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a listing starts: after the artifact `after`, as page `page`.

    Sent as `next_cursor`; clients pass it back unchanged and should not build their own
    (the format may change). The page number rides along only so that the answer can still
    say which page it is. The text is described exactly by CURSOR_PATTERN, so the OpenAPI
    document can promise that every cursor it admits is accepted.
    """

    page: int
    after: str

    def encode(self) -> str:
        return f"{self.page}.{self.after}"

    @classmethod
    def decode(cls, text: object) -> Cursor:
        """The cursor `encode()` wrote. Raises ValueError for anything else."""
        if not isinstance(text, str) or not _CURSOR.fullmatch(text):
            raise ValueError("not a cursor from this listing")
        page, _, after = text.partition(".")
        return cls(int(page), str(parse_ulid(after)))


PageCursor = Annotated[
    Cursor,
    PlainValidator(Cursor.decode),
    WithJsonSchema({"type": "string", "pattern": CURSOR_PATTERN, "examples": ["2.01K9ZQ4M7E2V6S3T8W5X0Y1Z2A"]}),
]


class Page(BaseModel, Generic[T]):
    """One page of a paginated listing."""

    items: list[T]
    total: int
    page: int
    size: int
    pages: int
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page (cheap however deep); null on the last page"
    )

    @classmethod
    def of(cls, items: list[T], total: int, page: int, size: int, next_cursor: str | None = None) -> Self:
        pages = math.ceil(total / size) if size else 0
        return cls(items=items, total=total, page=page, size=size, pages=pages, next_cursor=next_cursor)


class PandasDataFrame(BaseModel):
    """A DataFrame as JSON: column names and rows. NaN becomes null, timestamps ISO strings."""

    columns: list[str]
    data: list[list[Any]]

    @model_validator(mode="after")
    def _rows_match_columns(self) -> Self:
        width = len(self.columns)
        for number, row in enumerate(self.data):
            if len(row) != width:
                raise ValueError(f"row {number} has {len(row)} values, expected {width}")
        return self

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame) -> Self:
        """Capture `df` with JSON-safe Python values (None for missing, ISO text for times)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"Expected a pandas DataFrame, but got {type(df).__name__}")
        frame = df.copy(deep=False)
        for name, column in frame.items():
            if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
                frame[name] = column.map(_iso, na_action="ignore")
        values = frame.astype(object).where(frame.notna(), None)
        rows = [[_json_scalar(v) for v in row] for row in values.itertuples(index=False, name=None)]
        return cls.model_construct(columns=[str(c) for c in df.columns], data=rows)

    def to_dataframe(self, dtypes: dict[str, str] | None = None) -> pd.DataFrame:
        """The frame back; pass `dtypes` (as recorded at upload) to restore column types."""
        frame = pd.DataFrame(self.data, columns=self.columns)
        if dtypes:
            frame = restore_dtypes(frame, dtypes)
        return frame


def _iso(value: Any) -> str:
    return value.isoformat()


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar that astype(object) kept
        return _json_scalar(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def restore_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Cast columns back to recorded pandas dtypes where that is possible."""
    for name, dtype in dtypes.items():
        if name not in frame.columns:
            continue
        try:
            if dtype.startswith("datetime64"):
                frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype(dtype)  # and its unit
            elif dtype.startswith("timedelta64"):
                frame[name] = pd.to_timedelta(frame[name]).astype(dtype)
            else:
                frame[name] = frame[name].astype(dtype)
        except (TypeError, ValueError):
            pass  # keep the values as they are rather than lose them
    return frame
