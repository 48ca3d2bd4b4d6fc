"""Hierarchies: the level labels and depth rules of each family of artifact trees.

A store serves several side by side (the spec's three by default): every tree belongs to
one, chosen when its root is created and inherited by its descendants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import HierarchyDepthError, UnknownHierarchyError

# Names travel in URLs (?hierarchy=), export files and a 64-character column.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ArtifactHierarchy(BaseModel):
    """Names a hierarchy and labels its levels (0 = root); may cap its depth."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(..., min_length=1, max_length=64, description="Unique identifier of the hierarchy")
    level_labels: Mapping[int, str] = Field(default_factory=dict)
    max_depth: int | None = Field(
        None, ge=1, description="Number of levels allowed (levels 0 … max_depth-1); None = unlimited"
    )
    title_field: str | None = Field(
        None, min_length=1, description="The data field that names an artifact (e.g. `title`), where present"
    )

    hierarchy_key: ClassVar[str] = "hierarchy"
    depth_key: ClassVar[str] = "level_depth"
    label_key: ClassVar[str] = "level_label"

    @field_validator("level_labels", mode="before")
    @classmethod
    def _labels_by_level(cls, labels: Any) -> Any:
        """Labels may also be listed in level order: ["project", "document", "version"]."""
        return dict(enumerate(labels)) if isinstance(labels, (list, tuple)) else labels

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


ML_PIPELINE = ArtifactHierarchy(
    name="ml_pipeline", level_labels={0: "experiment", 1: "model", 2: "predictions"}, title_field="experiment_name"
)
DOCUMENT_VERSIONS = ArtifactHierarchy(
    name="document_versions", level_labels={0: "project", 1: "document", 2: "version"}, title_field="title"
)
DATASETS = ArtifactHierarchy(
    name="datasets", level_labels={0: "dataset", 1: "version", 2: "partition"}, title_field="name"
)
DEFAULT_HIERARCHY = ML_PIPELINE


class Hierarchies(Mapping[str, ArtifactHierarchy]):
    """The hierarchies a store declares, by name, in declaration order, and the default one
    (for roots created without naming one). Immutable; build another with `with_hierarchy`."""

    def __init__(self, hierarchies: Iterable[ArtifactHierarchy], default: str | None = None) -> None:
        self._by_name: dict[str, ArtifactHierarchy] = {}
        for hierarchy in hierarchies:
            self._by_name[hierarchy.name] = hierarchy  # a later declaration replaces an earlier one
        if not self._by_name:
            raise ValueError("a store needs at least one hierarchy")
        self.default_name = default if default is not None else next(iter(self._by_name))
        if self.default_name not in self._by_name:
            raise ValueError(f"the default hierarchy {self.default_name!r} is not declared")
        self._labels: dict[tuple[str, int], str] = {}

    def __getitem__(self, name: str) -> ArtifactHierarchy:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Hierarchies({list(self._by_name)!r}, default={self.default_name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Hierarchies)
            and self.default_name == other.default_name
            and list(self._by_name.items()) == list(other._by_name.items())
        )

    def __hash__(self) -> int:
        return hash((self.default_name, tuple(self._by_name.items())))

    @property
    def default(self) -> ArtifactHierarchy:
        return self._by_name[self.default_name]

    def require(self, name: str, loc: tuple[str, ...] = ("body", "hierarchy")) -> ArtifactHierarchy:
        """The hierarchy called `name`. Raises UnknownHierarchyError (422) naming the declared ones."""
        hierarchy = self._by_name.get(name) if isinstance(name, str) else None
        if hierarchy is None:
            raise UnknownHierarchyError(name, list(self._by_name), loc)
        return hierarchy

    def of(self, name: str) -> ArtifactHierarchy:
        """The hierarchy a stored tree names; one no longer declared reads with bare labels
        (`level_N`) and no depth limit, so its trees stay readable and movable."""
        return self._by_name.get(name) or ArtifactHierarchy(name=name)

    def label_for(self, name: str, level: int) -> str:
        """The label of `level` in hierarchy `name`; memoised, as a 10,000-node tree asks for each node."""
        key = (name, level)
        label = self._labels.get(key)
        if label is None:
            label = self._labels[key] = self.of(name).label_for(level)
        return label

    def with_hierarchy(self, hierarchy: ArtifactHierarchy, *, default: bool = False) -> Hierarchies:
        """These hierarchies with `hierarchy` declared (replacing one of its name), optionally as the default."""
        merged = {**self._by_name, hierarchy.name: hierarchy}
        return Hierarchies(merged.values(), hierarchy.name if default else self.default_name)


HIERARCHIES = Hierarchies([ML_PIPELINE, DOCUMENT_VERSIONS, DATASETS], default=ML_PIPELINE.name)
"""The spec's three hierarchies, `ml_pipeline` the default: what a store declares unless its
configuration adds or changes some (ARTIFACT_HIERARCHIES, docs/configuration.md)."""


def declared_hierarchies(declarations: Any) -> list[ArtifactHierarchy]:
    """Hierarchies from their JSON declaration: a list of objects with `name`, `level_labels`
    (a list in level order, or {"0": label}), optional `max_depth` and `title_field`.
    Raises ValueError saying which entry is wrong and why."""
    if not isinstance(declarations, list):
        raise ValueError("hierarchies are declared as a JSON list of objects")
    hierarchies = []
    for number, entry in enumerate(declarations):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {number} is not an object")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"entry {number}: name {name!r} must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
            )
        unknown = set(entry) - {"name", "level_labels", "max_depth", "title_field"}
        if unknown:
            raise ValueError(f"hierarchy {name!r}: unknown keys {sorted(unknown)}")
        try:
            hierarchies.append(ArtifactHierarchy.model_validate(entry))
        except ValueError as error:
            raise ValueError(f"hierarchy {name!r}: {error}") from None
    return hierarchies
