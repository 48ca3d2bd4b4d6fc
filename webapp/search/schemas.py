"""What the search use cases answer: a page with facets, and a comparison."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from webapp.artifacts.schemas import ArtifactId, ArtifactOut, Page


class FacetValue(BaseModel):
    value: Any = Field(..., description="A JSON value the field holds in the matched set")
    count: int


class SearchPage(Page[ArtifactOut]):
    """A listing page; with `facets=`, the top values of each field over every match."""

    facets: dict[str, list[FacetValue]] | None = Field(
        None, description="Per requested field, its 20 most frequent values over the matched set, most frequent first"
    )


class ComparedField(BaseModel):
    path: str = Field(..., description="The flattened path in `data`, as the filter language writes it after `data.`")
    values: list[Any] = Field(..., description="The value of each artifact, in the order of `ids` (null when missing)")
    differs: bool = Field(..., description="Not every artifact holds the same value (a missing one counts as different)")


class Comparison(BaseModel):
    ids: list[ArtifactId]
    fields: list[ComparedField]
