"""ArtifactHierarchy: level labels and depth rules of one artifact tree family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import HierarchyDepthError


class ArtifactHierarchy(BaseModel):
    """Names a hierarchy and labels its levels (0 = root); may cap its depth."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(..., min_length=1, description="Unique identifier of the hierarchy")
    level_labels: Mapping[int, str] = Field(default_factory=dict)
    max_depth: int | None = Field(
        None, ge=1, description="Number of levels allowed (levels 0 … max_depth-1); None = unlimited"
    )

    hierarchy_key: ClassVar[str] = "hierarchy"
    depth_key: ClassVar[str] = "level_depth"
    label_key: ClassVar[str] = "level_label"

    @field_validator("level_labels")
    @classmethod
    def _labels_are_non_negative(cls, labels: Mapping[int, str]) -> Mapping[int, str]:
        if any(level < 0 for level in labels):
            raise ValueError("levels start at 0")
        return dict(labels)

    def label_for(self, level: int) -> str:
        """The label of `level`, or `level_N` when none was declared."""
        return self.level_labels.get(level, f"level_{level}")

    def describe(self, level: int) -> dict[str, Any]:
        """Hierarchy metadata for a level, as carried by tree nodes."""
        return {self.hierarchy_key: self.name, self.depth_key: level, self.label_key: self.label_for(level)}

    def check_level(self, level: int) -> None:
        """Raise HierarchyDepthError when `level` is deeper than the hierarchy allows."""
        if self.max_depth is not None and level >= self.max_depth:
            raise HierarchyDepthError(self.name, self.max_depth, level)


DEFAULT_HIERARCHY = ArtifactHierarchy(
    name="ml_pipeline", level_labels={0: "experiment", 1: "model", 2: "predictions"}
)
