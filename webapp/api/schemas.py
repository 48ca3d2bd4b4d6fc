"""Shapes that only the HTTP API has: query strings, problem documents, health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from webapp.artifacts.schemas import ArtifactId, PageCursor


class ListQuery(BaseModel):
    """Query string of GET /artifacts."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=1_000_000_000, description="1-based page number")
    size: int = Field(50, ge=1, description="Items per page (at most MAX_PAGE_SIZE, 1000 by default)")
    parent_id: ArtifactId | None = Field(None, description="Only the children of this artifact")
    level: int | None = Field(None, ge=0, le=1_000_000, description="Only artifacts at this level")
    roots: bool = Field(False, description="Only root artifacts (parent_id is null)")
    hierarchy: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Only artifacts of trees in this hierarchy (GET /hierarchies lists them)",
    )
    q: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="Only artifacts whose data contains this text (scans the data: slow on big stores)",
    )
    cursor: PageCursor | None = Field(
        None,
        description="The `next_cursor` of the previous page, with the same filters; replaces `page`. "
        "A walk by cursor costs the same on every page, where a high `page` makes the database step over "
        "all the rows before it",
    )
    filter: str | None = Field(
        None,
        max_length=4000,
        description="A filter in the filter language (docs/api.md), e.g. `data.metrics.rmse < 0.3 and "
        "level_label = 'model'`; a syntax error is a 400 naming `position` and `expected`",
    )
    sort: str | None = Field(
        None, max_length=400, description="Sort by this field (`data.<path>` or a column); missing values last, ties by id"
    )
    order: Literal["asc", "desc"] = Field("asc", description="Direction of `sort` (or of the id order without one)")
    facets: str | None = Field(
        None, max_length=2000, description="Comma-separated fields: adds `facets`, the top 20 values of each over the matches"
    )

    @property
    def searching(self) -> bool:
        """Anything only the search listing serves (the plain listing keeps its kept counts)."""
        return bool(self.filter or self.sort or self.facets or self.order == "desc")


class CompareQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ids: str = Field(..., max_length=2000, description="2 to 50 artifact ids, separated by commas")


class DepthQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    max_depth: int | None = Field(None, ge=0, le=10_000, description="Levels below the root; omit for all")


def parse_moment(value: object) -> object:
    """ISO 8601 text (with or without fractional seconds; `Z`, an offset, or none for UTC)
    as an aware UTC datetime. Raises ValueError."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.strip())
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("not an ISO 8601 date and time, like 2026-12-01T12:00:00Z") from None
    return moment


class AsOfQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    as_of: datetime | None = Field(
        None,
        description="Read the store as it was at this moment (ISO 8601; fractional seconds optional; "
        "`Z` or an offset, none meaning UTC)",
        examples=["2026-12-01T12:00:00Z"],
    )

    _moment = field_validator("as_of", mode="before")(parse_moment)


class TreeQuery(DepthQuery, AsOfQuery):
    """Query string of GET /artifacts/{id}/$tree."""


class Problem(BaseModel):
    """An RFC 9457 problem document; `type` values are listed in docs/api.md."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int = Field(..., ge=400, le=599)
    detail: str | None = None
    instance: str | None = None


class Health(BaseModel):
    status: str
    database: str
    schema_version: str | None
