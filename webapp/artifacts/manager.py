"""ArtifactManager: the business rules. Both the JSON API and the HTML pages call it."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .actor import ANONYMOUS, EVERYTHING, Actor, TreeAccess
from .attachments import Attachments
from .errors import (
    ForbiddenError,
    ArtifactChangedError,
    ArtifactCycleError,
    ArtifactExistsError,
    ArtifactHasChildrenError,
    ArtifactNotFoundError,
    InvalidULIDError,
    UnknownHierarchyError,
    NotDeletedError,
    ParentGoneError,
    RevisionNotFoundError,
)
from .hierarchy import ArtifactHierarchy, Hierarchies
from .models import Artifact, new_id, utcnow
from .policy import Policy
from .repository import ArtifactRepository, listed_data
from .revisions import RevisionRepository, actor_values
from .unit_of_work import UnitOfWork, read_use_case
from .schemas import (
    ArtifactExpansion,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactUpdate,
    Cursor,
    HierarchyList,
    HierarchySummary,
    Page,
    _as_stored,
    parse_ulid,
)


# orjson reads integers beyond 64 bits as floats (dropping digits) and fails on those beyond
# a double, where the API promised them back exactly; data holding a run of 20 digits takes
# the standard library's exact parser instead (found by tests/test_fuzz.py).
_LONG_DIGITS = re.compile(r"\d{20}")


def _json_value(text: str) -> Any:
    """A listed row's data (listings carry a stand-in for data over the cap: listed_data)."""
    return listed_data(json.loads(text) if _LONG_DIGITS.search(text) else orjson.loads(text))


def _stored_form(data: Any) -> str:
    """`data` as the version sees it (schemas.ArtifactOut.version): equal texts, equal data."""
    return json.dumps(_as_stored(data), sort_keys=True, separators=(",", ":"))


def _validated_tree(document: dict[str, Any], root_model: type[ArtifactTreeNode]) -> Any:
    """Validate a tree document node by node: pydantic's recursive validation stops at a
    depth that a long chain of versions can exceed."""
    root = root_model.model_validate({**document, "children": []})
    pending = [(root, document["children"])]
    while pending:
        parent, children = pending.pop()
        for child in children:
            node = ArtifactTreeNode.model_validate({**child, "children": []})
            parent.children.append(node)
            pending.append((node, child["children"]))
    return root


# Page[ArtifactOut] kept here: pydantic caches a parametrised generic only weakly, and
# rebuilt it on most requests (a third of a list page's time).
ArtifactPage = Page[ArtifactOut]
_ARTIFACT_LIST = TypeAdapter(list[ArtifactOut])  # one call validates a page, in pydantic's Rust loop

# The versions a write may apply to (see ArtifactOut.version): one, a collection, or None
# for "whatever is stored".
Versions = str | Container[str] | None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a big tree is built.

    A 10,000-node tree allocates tens of thousands of dicts, and the collector kept
    re-scanning them: half the time of building it (80 ms → 36 ms without). The tree
    holds no reference cycles, so nothing is left for the collector to find afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class MovePreview:
    """What moving an artifact would do, worked out without writing anything."""

    artifact_id: str
    parent_id: str | None  # the new parent, canonical; None: it would become a root
    unchanged: bool  # it is already there: the move would change nothing
    level: int  # its level after the move
    level_change: int  # added to the level of every artifact that moves
    label: str | None  # the hierarchy's label of `level`; None when the hierarchy has none
    hierarchy: str
    subtree_size: int  # how many artifacts move: it and all its descendants
    deepest_level: int  # the deepest level in the subtree after the move


def _document_node(row: Any, children: list[Any] | None, label_for: Any) -> dict[str, Any]:
    """A tree node, JSON-ready, from a row as subtree_rows reads it (data and times as text);
    `label_for(hierarchy, level)` names its level."""
    artifact_id, parent_id, level, data, created_at, updated_at, hierarchy, *_ = row
    return {
        "id": artifact_id,
        "parent_id": parent_id,
        "level": level,
        "data": _json_value(data),
        "created_at": created_at,
        "updated_at": updated_at,
        "revision": row.revision,
        "hierarchy": hierarchy,
        "level_label": label_for(hierarchy, level),
        "children": children,
    }


@dataclass(frozen=True)
class _Place:
    """Where an artifact goes in the forest: its level, its tree's hierarchy and root."""

    level: int
    hierarchy: ArtifactHierarchy
    root_id: str | None  # None: it is a root (its own id)


# How deep an as-of tree walk may go when no max_depth is asked: a guard, far beyond any tree.
_AS_OF_DEPTH_LIMIT = 100_000


def normalize_id(value: object) -> str:
    """Canonical (upper-case) text of a ULID given as str or ULID. Raises InvalidULIDError."""
    try:
        return str(parse_ulid(value))
    except ValueError:
        raise InvalidULIDError(value) from None


class ArtifactManager:
    """Use cases on artifacts. Each public write commits once, or rolls back and raises;
    inside another write (an import, a table stored with its artifact) it joins that one."""

    def __init__(
        self,
        repo: ArtifactRepository,
        hierarchy: ArtifactHierarchy | None = None,
        *,
        policy: Policy | None = None,
        actor: Actor = ANONYMOUS,
        access: TreeAccess = EVERYTHING,
    ) -> None:
        """`ArtifactManager(ArtifactRepository(session), hierarchy=…)` as the spec writes it:
        roots it creates are in that hierarchy (declared beside the policy's others, replacing
        one of the same name). The Store passes its whole `policy` (limits and hierarchies)
        and its `actor`, whom every revision this manager writes names (a script may set
        `manager.actor`)."""
        policy = policy or Policy()
        if hierarchy is not None:
            policy = replace(policy, hierarchies=policy.hierarchies.with_hierarchy(hierarchy, default=True))
        self.policy = policy
        self.repo = repo
        repo.max_item_data_bytes = self.policy.max_item_data_bytes  # listings cap `data` in SQL
        self.repository = repo  # the name servicekit code uses
        self.revisions = RevisionRepository(repo.session)
        self.actor = actor
        self.access = access
        self.work = UnitOfWork(repo.session)
        # Features keeping rows beside artifacts (files, tables), told of every revision
        # in its transaction (webapp.artifacts.attachments); the Store registers them.
        self.attachments: list[Attachments] = []

    @property
    def access(self) -> TreeAccess:
        """What the caller may do on each tree: reads never see a tree it may not read (an
        id in one is not found, exactly as a missing one), writes need the right to write there."""
        return self._access

    @access.setter
    def access(self, access: TreeAccess) -> None:
        self._access = access
        self.repo.hidden_roots = access.hidden_roots

    def _check_writable(self, root_id: str | None, artifact_id: str | None = None) -> None:
        """ForbiddenError unless the caller may write in the tree of `root_id` (None: a new tree)."""
        if not self.access.may_write(root_id):
            where = f"the tree of {artifact_id}" if artifact_id else "a new root tree"
            raise ForbiddenError(f"You may read but not change {where}." if root_id else f"You may not create {where}.")

    @read_use_case
    def require_writable(self, artifact_id: object) -> str:
        """The canonical id of an artifact the caller may change (files, tables call it
        before writing beside it). Raises InvalidULIDError, ArtifactNotFoundError, ForbiddenError."""
        key = normalize_id(artifact_id)
        place = self.repo.place_of(key)
        if place is None or self.repo.hides(place.root_id):
            raise ArtifactNotFoundError(key)
        self._check_writable(place.root_id, key)
        return key

    def require_visible(self, key: str) -> None:
        """ArtifactNotFoundError when `key` is in a tree the caller may not read (a tree or
        expansion read: every node of it is in the same tree). A deleted artifact is judged
        by the tree its newest revision was in (unknown: hidden from a caller with hidden trees)."""
        if self.repo.hidden_roots:
            place = self.repo.place_of(key)
            if place is not None:
                root_id = place.root_id
            else:
                newest = self.revisions.newest(key)
                root_id = newest.root_id if newest is not None else None
            if root_id is None or self.repo.hides(root_id):
                raise ArtifactNotFoundError(key)

    @property
    def hierarchy(self) -> ArtifactHierarchy:
        """The default hierarchy: roots created without naming one are in it."""
        return self.policy.hierarchy

    @property
    def hierarchies(self) -> Hierarchies:
        return self.policy.hierarchies

    def _labelled(self, artifact: ArtifactOut) -> ArtifactOut:
        artifact.level_label = self.hierarchies.label_for(artifact.hierarchy, artifact.level)
        return artifact

    def _out(self, artifact: Any) -> ArtifactOut:
        """An ArtifactOut, labelled, from an ORM artifact or a row's mapping."""
        return self._labelled(ArtifactOut.model_validate(artifact))

    @property
    def session(self) -> Any:
        return self.repo.session

    # Reads -------------------------------------------------------------------------

    @read_use_case
    def find_by_id(self, artifact_id: object) -> ArtifactOut | None:
        """The artifact, or None when there is none with this id."""
        row = self.repo.get_row(normalize_id(artifact_id))
        return self._out(row._mapping) if row else None

    @read_use_case
    def get(self, artifact_id: object) -> ArtifactOut:
        """The artifact. Raises InvalidULIDError, ArtifactNotFoundError."""
        artifact = self.find_by_id(artifact_id)
        if artifact is None:
            raise ArtifactNotFoundError(normalize_id(artifact_id))
        return artifact

    @read_use_case
    def get_as_of(self, artifact_id: object, at: datetime) -> ArtifactOut:
        """The artifact as it was at `at`: its newest revision made by then.
        Raises InvalidULIDError, ArtifactNotFoundError (it did not exist then, or was deleted)."""
        key = normalize_id(artifact_id)
        self.require_visible(key)
        revision = self.revisions.as_of(key, at)
        if revision is None or revision.action == "deleted":
            raise ArtifactNotFoundError(key)
        return self.revision_artifact(revision)

    @read_use_case
    def exists_by_id(self, artifact_id: object) -> bool:
        return self.repo.exists(normalize_id(artifact_id))

    @read_use_case
    def find_all(self) -> list[ArtifactOut]:
        """Every artifact, in id order. Prefer find_paginated on big stores."""
        return [self._out(a) for a in self.repo.all()]

    @read_use_case
    def count_by_level(self) -> dict[int, int]:
        """{level: number of artifacts}, for the levels that hold any."""
        return self.repo.count_by_level()

    @read_use_case
    def count(self, hierarchy: str | None = None) -> int:
        return self.repo.count(hierarchy)

    @read_use_case
    def count_by_hierarchy(self) -> dict[str, dict[int, int]]:
        """{hierarchy: {level: number of artifacts}} for the hierarchies that hold any (level 0: trees)."""
        counts: dict[str, dict[int, int]] = {}
        for (hierarchy, level), n in self.repo.count_by_hierarchy_level().items():
            counts.setdefault(hierarchy, {})[level] = n
        return counts

    @read_use_case
    def hierarchy_list(self) -> HierarchyList:
        """The declared hierarchies, then any others stored trees still name, with their counts."""
        counted = self.count_by_hierarchy()
        names = [*self.hierarchies, *sorted(set(counted) - set(self.hierarchies))]
        items = []
        for name in names:
            hierarchy = self.hierarchies.of(name)
            levels = counted.get(name, {})
            items.append(
                HierarchySummary(
                    name=name,
                    level_labels={str(level): label for level, label in sorted(hierarchy.level_labels.items())},
                    max_depth=hierarchy.max_depth,
                    title_field=hierarchy.title_field,
                    default=name == self.hierarchies.default_name,
                    declared=name in self.hierarchies,
                    trees=levels.get(0, 0),
                    artifacts=sum(levels.values()),
                )
            )
        return HierarchyList(items=items, total=len(items), default=self.hierarchies.default_name)

    @read_use_case
    def find_paginated(
        self,
        page: int = 1,
        size: int = 50,
        *,
        after: object | None = None,
        parent_id: object | None = None,
        roots_only: bool = False,
        level: int | None = None,
        text: str | None = None,
        hierarchy: str | None = None,
        newest_first: bool = False,
    ) -> tuple[list[ArtifactOut], int]:
        """One page (1-based) in id order, oldest first unless `newest_first`; and the total.

        `after` (an artifact id) starts the page just beyond that artifact instead of at
        `page`: keyset pagination, as cheap on the millionth artifact as on the first.
        Raises InvalidULIDError.
        """
        page, size = max(page, 1), max(size, 1)
        if hierarchy is not None and hierarchy not in self.hierarchies and not self.repo.count(hierarchy):
            raise UnknownHierarchyError(hierarchy, list(self.hierarchies), ("query", "hierarchy"))
        filters = {
            "parent_id": normalize_id(parent_id) if parent_id is not None else None,
            "roots_only": roots_only,
            "level": level,
            "text": text,
            "hierarchy": hierarchy,
        }
        if after is not None:
            items = self.repo.after(normalize_id(after), limit=size, newest_first=newest_first, **filters)
            total = self.repo.total(**filters)
        else:
            items, total = self.repo.page(offset=(page - 1) * size, limit=size, newest_first=newest_first, **filters)
        label_for = self.hierarchies.label_for
        documents = [
            {**row._mapping, "data": _json_value(row.data), "level_label": label_for(row.hierarchy, row.level)}
            for row in items
        ]
        return _ARTIFACT_LIST.validate_python(documents), total

    @read_use_case
    def list_page(
        self, page: int = 1, size: int = 50, *, cursor: Cursor | None = None, **filters: Any
    ) -> ArtifactPage:
        """find_paginated as a Page: {items, total, page, size, pages, next_cursor}.

        `cursor` (a previous page's `next_cursor`) takes the place of `page`. Raises
        ArtifactValidationError when `size` is over the policy's maximum.
        """
        size = max(self.policy.check_page_size(size), 1)
        if cursor is None:
            page = max(page, 1)
            items, total = self.find_paginated(page, size, **filters)
            more = page * size < total
        else:
            # One row beyond the page tells whether another follows, even when rows before
            # the cursor were deleted meanwhile (its page number is then an estimate).
            page = cursor.page
            items, total = self.find_paginated(size=size + 1, after=cursor.after, **filters)
            more, items = len(items) > size, items[:size]
        next_cursor = Cursor(page + 1, str(items[-1].id)).encode() if more and items else None
        return ArtifactPage.of(items, total, page, size, next_cursor)

    @read_use_case
    def find_where(
        self, where: list[Any], order_by: list[Any], *, offset: int, limit: int, **filters: Any
    ) -> list[ArtifactOut]:
        """A page of the artifacts matching compiled `where` terms (webapp/search) and the
        listing's own `filters` (as find_paginated's), in `order_by` order."""
        terms = [*self._listing_where(**filters), *where]
        return self._listed(self.repo.rows_where(terms, order_by, offset=offset, limit=limit))

    @read_use_case
    def count_where(self, where: list[Any], **filters: Any) -> int:
        """How many artifacts match compiled `where` terms and the listing's `filters`."""
        return self.repo.count_where([*self._listing_where(**filters), *where])

    @read_use_case
    def first_value_where(self, where: list[Any], value: Any, order_by: list[Any], **filters: Any) -> Any:
        """A SQL expression's value in the first match in `order_by` order; None when none matches."""
        return self.repo.first_value_where([*self._listing_where(**filters), *where], value, order_by)

    @read_use_case
    def value_counts(self, where: list[Any], value: Any, limit: int, **filters: Any) -> list[tuple[Any, int]]:
        """(value, count) of a SQL expression over the matches, most frequent first."""
        return [(row.value, row.count) for row in self.repo.value_counts([*self._listing_where(**filters), *where], value, limit)]

    @read_use_case
    def find_many(self, artifact_ids: list[object]) -> list[ArtifactOut]:
        """The artifacts, in the order asked. Raises InvalidULIDError, ArtifactNotFoundError."""
        keys = [normalize_id(i) for i in artifact_ids]
        found = {row.id: row for row in self.repo.rows_by_ids(keys)}
        missing = [key for key in keys if key not in found]
        if missing:
            raise ArtifactNotFoundError(missing[0])
        return self._listed([found[key] for key in keys])

    def _listed(self, rows: list[Any]) -> list[ArtifactOut]:
        """Listing rows (data and times as text) as validated ArtifactOut, labelled."""
        label_for = self.hierarchies.label_for
        documents = [
            {**row._mapping, "data": _json_value(row.data), "level_label": label_for(row.hierarchy, row.level)}
            for row in rows
        ]
        return _ARTIFACT_LIST.validate_python(documents)

    def text_where(self, text: str) -> list[Any]:
        """WHERE terms for "the data contains `text`" (the full-text index), as `text=` filters."""
        return self._listing_where(text=text)

    def _listing_where(
        self,
        parent_id: object | None = None,
        roots_only: bool = False,
        level: int | None = None,
        text: str | None = None,
        hierarchy: str | None = None,
    ) -> list[Any]:
        parent_key = normalize_id(parent_id) if parent_id is not None else None
        return self.repo.listing_where(
            parent_id=parent_key, roots_only=roots_only, level=level, text=text, hierarchy=hierarchy
        )

    @read_use_case
    def child_counts(self, artifact_ids: list[object]) -> dict[str, int]:
        """Number of children of each artifact id, in one query."""
        return self.repo.child_counts([normalize_id(i) for i in artifact_ids])

    @read_use_case
    def ancestors(self, artifact_id: object) -> list[ArtifactTreeNode]:
        """Ancestors of the artifact, root first. Raises ArtifactNotFoundError."""
        artifact = self._require(artifact_id)
        label_for = self.hierarchies.label_for
        return [ArtifactTreeNode.model_validate(_document_node(row, None, label_for)) for row in self.repo.ancestors(artifact.id)]

    @read_use_case
    def tree_document(
        self, root_id: object, max_depth: int | None = None, *, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """The subtree under `root_id` as JSON-ready dicts (the ArtifactTreeNode shape).

        One recursive query, `max_depth` levels deep (None: all). Every node's
        `children` is a list (empty for leaves and at the depth cut-off). `as_of`: the
        tree as it was at that moment, rebuilt from the revisions (one recursive query too).
        Raises InvalidULIDError, ArtifactNotFoundError.
        """
        root_key = normalize_id(root_id)
        self.require_visible(root_key)
        if as_of is not None:
            depth = max_depth if max_depth is not None else _AS_OF_DEPTH_LIMIT
            rows = self.revisions.subtree_as_of(root_key, as_of, depth)
        else:
            rows = self.repo.subtree_rows(root_key, max_depth)
        with _collector_paused():
            return self._assemble_tree(root_key, rows)

    def _assemble_tree(self, root_key: str, rows: list[Any]) -> dict[str, Any]:
        if not rows:
            raise ArtifactNotFoundError(root_key)
        nodes: dict[str, dict[str, Any]] = {}
        label_for = self.hierarchies.label_for  # bound once: 10,000 nodes
        for row in rows:
            node = _document_node(row, [], label_for)
            nodes[node["id"]] = node
            if node["parent_id"] in nodes and node["id"] != root_key:
                nodes[node["parent_id"]]["children"].append(node)
        return nodes[root_key]



    @read_use_case
    def build_tree(self, root_id: object, max_depth: int | None = None) -> ArtifactTreeNode:
        """tree_document() as validated ArtifactTreeNode objects (ids as ULIDs, aware datetimes)."""
        document = self.tree_document(root_id, max_depth)
        with _collector_paused():
            return _validated_tree(document, ArtifactTreeNode)

    @read_use_case
    def expand_document(self, artifact_id: object, *, as_of: datetime | None = None) -> dict[str, Any]:
        """The artifact with its ancestors (root first, without children) and all its descendants;
        `as_of`: as they were at that moment."""
        key = normalize_id(artifact_id)
        self.require_visible(key)
        if as_of is not None:
            rows = [
                *self.revisions.ancestors_as_of(key, as_of, _AS_OF_DEPTH_LIMIT),
                *self.revisions.subtree_as_of(key, as_of, _AS_OF_DEPTH_LIMIT),
            ]
        else:
            rows = self.repo.expansion_rows(key)
        first = next((number for number, row in enumerate(rows) if row.depth >= 0), len(rows))
        with _collector_paused():
            tree = self._assemble_tree(key, rows[first:])
            ancestors = [_document_node(row, None, self.hierarchies.label_for) for row in rows[:first]]
        return {**tree, "ancestors": ancestors}

    @read_use_case
    def expand(self, artifact_id: object) -> ArtifactExpansion:
        """expand_document() as a validated ArtifactExpansion."""
        document = self.expand_document(artifact_id)
        with _collector_paused():
            return _validated_tree(document, ArtifactExpansion)

    expand_artifact = expand

    # Writes ------------------------------------------------------------------------

    def save(self, artifact_in: ArtifactIn) -> ArtifactOut:
        """Create the artifact, or update it when `artifact_in.id` already exists.

        On update, `parent_id` is the desired parent: a different one moves the artifact.
        Raises ArtifactNotFoundError (parent), ArtifactCycleError, HierarchyDepthError.
        """
        if artifact_in.id is not None and self.exists_by_id(artifact_in.id):
            update = ArtifactUpdate(data=artifact_in.data, parent_id=artifact_in.parent_id)
            return self.update(artifact_in.id, update)
        return self.create(artifact_in)

    def create(self, artifact_in: ArtifactIn) -> ArtifactOut:
        """Create a new artifact; its level comes from its parent, never from the client.

        A root is in `artifact_in.hierarchy` (the default when omitted); a child is in its
        parent's, which `artifact_in.hierarchy` may only repeat.

        Raises ArtifactValidationError (data nested too deep), UnknownHierarchyError (a
        hierarchy not declared, or not the parent's), ArtifactExistsError (id taken),
        ArtifactNotFoundError (parent), HierarchyDepthError.
        """
        self.policy.check_data(artifact_in.data)
        if artifact_in.parent_id is None and artifact_in.hierarchy is not None:
            self.hierarchies.require(artifact_in.hierarchy)  # before taking the write lock
        with self.work.writing():
            artifact_id = str(artifact_in.id) if artifact_in.id is not None else new_id()
            if artifact_in.id is not None and self.repo.exists(artifact_id):
                raise ArtifactExistsError(artifact_id)
            place = self._place_under(artifact_in.parent_id, artifact_in.hierarchy)
            place.hierarchy.check_level(place.level)
            now = utcnow()
            values = {
                "id": artifact_id,
                "parent_id": str(artifact_in.parent_id) if artifact_in.parent_id is not None else None,
                "level": place.level,
                "hierarchy": place.hierarchy.name,
                "root_id": place.root_id or artifact_id,
                "data": artifact_in.data,
                "created_at": now,
                "updated_at": now,
                # A chosen id may be that of a deleted artifact: its history goes on.
                "revision": self.revisions.newest_number(artifact_id) + 1 if artifact_in.id is not None else 1,
            }
            if values["revision"] > 1:
                for attachments in self.attachments:
                    attachments.reborn(artifact_id)
            try:
                self.repo.insert(values)
            except IntegrityError:  # the same id, raced in by another writer
                raise ArtifactExistsError(artifact_id) from None
            self._record(values, "created")
            return self._out(values)

    def update(self, artifact_id: object, changes: ArtifactUpdate, *, if_match: Versions = None) -> ArtifactOut:
        """Replace the data; when `changes.moves`, also move under the new parent.

        `if_match`: the version (or versions) the caller read; when the artifact is no longer
        one of them the update is refused, so nobody overwrites a change they never saw.
        Raises ArtifactValidationError, ArtifactNotFoundError, ArtifactChangedError,
        ArtifactCycleError, HierarchyDepthError.
        """
        self.policy.check_data(changes.data)
        with self.work.writing(exclusive=changes.moves):
            artifact = self._require(artifact_id, if_match=if_match, for_update=True)
            return self._change(artifact, changes.data, changes.parent_id if changes.moves else artifact.parent_id)

    def _change(
        self, artifact: Artifact, data: Any, parent_id: object | None, action: str | None = None,
        *, attached: bool = False,
    ) -> ArtifactOut:
        """Give `artifact` this data and parent, as one new revision (`action`, or what the
        change is: updated, or moved when only the parent changes; `attached`: its files
        changed too). A change that changes nothing writes nothing: no revision, the same
        updated_at and version."""
        now = utcnow()
        moved = self._move(artifact, parent_id, at=now)
        same_data = _stored_form(artifact.data) == _stored_form(data)
        if not moved and same_data and not attached:
            return self._out(artifact)
        artifact.data = data
        artifact.updated_at = now
        artifact.revision += 1
        self.session.flush()
        self._record(artifact, action or ("moved" if same_data and not attached else "updated"))
        return self._out(artifact)

    def attachments_changed(self, artifact_id: object) -> ArtifactOut:
        """Write the `updated` revision of a change to what is attached to the artifact (a
        file added, replaced or removed just now, in the open write transaction): a change
        of the artifact, with its new revision, updated_at and version.
        Raises InvalidULIDError, ArtifactNotFoundError."""
        with self.work.writing():
            artifact = self._require(artifact_id, for_update=True)
            return self._change(artifact, artifact.data, artifact.parent_id, attached=True)

    def move(self, artifact_id: object, new_parent_id: object | None, *, if_match: Versions = None) -> ArtifactOut:
        """Move an artifact (and its subtree) under another parent, or make it a root.

        A move to the parent it already has writes nothing (same updated_at and version), so
        nobody else's next save fails over a change that changed nothing.
        Raises ArtifactNotFoundError, ArtifactChangedError, ArtifactCycleError, HierarchyDepthError.
        """
        with self.work.writing(exclusive=True):
            artifact = self._require(artifact_id, if_match=if_match, for_update=True)
            return self._change(artifact, artifact.data, new_parent_id)

    @read_use_case
    def move_preview(self, artifact_id: object, new_parent_id: object | None) -> MovePreview:
        """What move() would do (new level and its label, how many artifacts move), without
        writing. Raises what move() raises for the same arguments, except ArtifactChangedError."""
        artifact = self._require(artifact_id)
        parent_key, delta, place = self._plan_move(artifact, new_parent_id)
        level = artifact.level + delta
        return MovePreview(
            artifact_id=artifact.id,
            parent_id=parent_key,
            unchanged=parent_key == artifact.parent_id,
            level=level,
            level_change=delta,
            label=place.hierarchy.level_labels.get(level),
            hierarchy=place.hierarchy.name,
            subtree_size=len(self.repo.subtree_ids(artifact.id)),
            deepest_level=self.repo.subtree_max_level(artifact.id) + delta,
        )

    def delete(self, artifact_id: object, *, if_match: Versions = None) -> None:
        """Delete a leaf artifact.

        Raises ArtifactNotFoundError, ArtifactChangedError, ArtifactHasChildrenError.
        """
        with self.work.writing(exclusive=True):
            artifact = self._require(artifact_id, if_match=if_match, for_update=True)
            children = self.repo.count_children(artifact.id)
            if children:
                raise ArtifactHasChildrenError(artifact.id, children)
            self._record(artifact, "deleted", number=artifact.revision + 1)
            self.repo.delete(artifact)

    delete_by_id = delete

    def delete_subtree(self, artifact_id: object, *, keep_history: bool = True) -> int:
        """Delete an artifact and all its descendants (never orphans); returns how many.

        Each gets its `deleted` revision (restore brings them back, parents first); without
        `keep_history` (retention: ops.prune) their revisions go with them.
        """
        with self.work.writing(exclusive=True):
            artifact = self._require(artifact_id, for_update=True)
            ids = self.repo.subtree_ids(artifact.id)
            self.session.expunge_all()
            if keep_history:
                self.revisions.snapshot(ids, action="deleted", actor=self.actor, at=utcnow(), next_number=True)
                self.record_attachments(ids)
            else:
                self.revisions.purge(ids)
                for attachments in self.attachments:
                    attachments.purged(ids)
            return self.repo.delete_many(ids)

    def delete_all(self) -> int:
        """Delete every artifact, each with its `deleted` revision; returns how many were removed."""
        with self.work.writing(exclusive=True):
            self.session.expunge_all()
            everything = select(Artifact.id).scalar_subquery()
            self.revisions.snapshot(everything, action="deleted", actor=self.actor, at=utcnow(), next_number=True)
            self.record_attachments(everything)
            return self.repo.delete_all()

    def thin_revisions(self, before: datetime) -> int:
        """Remove the revisions made before `before`, except each artifact's newest (and
        what attachments kept for them); returns how many went. Joins an open write."""
        with self.work.writing():
            removed = self.revisions.thin(before)
            for attachments in self.attachments:
                attachments.thinned(before)
            return removed

    def forget_deleted(self, before: datetime) -> int:
        """Remove for good the history (and attachments) of artifacts deleted before
        `before` and not restored since: retention (ops.prune). Returns how many."""
        with self.work.writing(exclusive=True):
            ids = self.revisions.deleted_before(before)
            self.revisions.purge(ids)
            for attachments in self.attachments:
                attachments.purged(ids)
            return len(ids)

    def revert(self, artifact_id: object, revision: int, *, if_match: Versions = None) -> ArtifactOut:
        """Make the artifact's data, parent and files those of its revision `revision`, as a
        new `reverted` revision (nothing is written when they are already so).

        Raises InvalidULIDError, ArtifactNotFoundError, RevisionNotFoundError,
        ArtifactChangedError, ParentGoneError (that revision's parent no longer exists),
        ArtifactCycleError, HierarchyDepthError, ArtifactValidationError.
        """
        key = normalize_id(artifact_id)
        with self.work.writing(exclusive=True):
            artifact = self._require(key, if_match=if_match, for_update=True)
            target = self.revisions.get(key, revision)
            if target is None:
                raise RevisionNotFoundError(key, revision)
            if target.parent_id is not None and not self.repo.exists(target.parent_id):
                raise ParentGoneError(key, target.parent_id)
            self.policy.check_data(target.data)  # the limits may be stricter than when it was written
            attached = [attachments.reinstate(key, revision) for attachments in self.attachments]  # each of them
            return self._change(artifact, target.data, target.parent_id, action="reverted", attached=any(attached))

    def restore(self, artifact_id: object) -> ArtifactOut:
        """Bring a deleted artifact back, same id, data and attachments (files, table), under
        the parent it had, as a `restored` revision. Raises InvalidULIDError, ArtifactNotFoundError (no history),
        NotDeletedError, ParentGoneError (restore the parent first), HierarchyDepthError."""
        key = normalize_id(artifact_id)
        with self.work.writing(exclusive=True):
            self.require_visible(key)  # in a tree the caller may not read: not found, deleted or not
            if self.repo.exists(key):
                raise NotDeletedError(key)
            last = self.revisions.newest(key)
            if last is None or last.action != "deleted":
                raise ArtifactNotFoundError(key)
            if last.parent_id is None:  # a root again, in the hierarchy it was in
                self._check_writable(None)
                place = _Place(0, self.hierarchies.of(last.hierarchy or self.hierarchy.name), None)
            elif self.repo.exists(last.parent_id):
                place = self._place_under(last.parent_id)  # its parent may have moved meanwhile
            else:
                raise ParentGoneError(key, last.parent_id)
            place.hierarchy.check_level(place.level)
            values = {
                "id": key,
                "parent_id": last.parent_id,
                "level": place.level,
                "hierarchy": place.hierarchy.name,
                "root_id": place.root_id or key,
                "data": last.data,
                "created_at": last.created_at,
                "updated_at": utcnow(),
                "revision": last.revision + 1,
            }
            self.repo.insert(values)
            for attachments in self.attachments:
                attachments.reinstate(key, last.revision)  # what it held when deleted
            self._record(values, "restored")
            return self._out(values)

    # Helpers -----------------------------------------------------------------------

    def _require(
        self, artifact_id: object, what: str = "Artifact", *, if_match: Versions = None, for_update: bool = False
    ) -> Artifact:
        key = normalize_id(artifact_id)
        artifact = self.repo.get(key, for_update=for_update)
        if artifact is None or self.repo.hides(artifact.root_id):
            raise ArtifactNotFoundError(key, what)
        if for_update:  # every write locks the row it changes
            self._check_writable(artifact.root_id, key)
        if if_match is not None:
            # Checked inside the write transaction, whose lock keeps it true until commit.
            current = ArtifactOut.model_validate(artifact).version
            if current not in ({if_match} if isinstance(if_match, str) else if_match):
                raise ArtifactChangedError(key, current)
        return artifact

    def _place_under(self, parent_id: object | None, hierarchy: str | None = None) -> _Place:
        """Where a new artifact under `parent_id` goes; `hierarchy`, when given, must be the
        parent's (for a child) or a declared one (for a root).
        Raises ArtifactNotFoundError (parent), UnknownHierarchyError."""
        if parent_id is None:
            self._check_writable(None)
            return _Place(0, self.hierarchies.require(hierarchy) if hierarchy is not None else self.hierarchy, None)
        parent_key = normalize_id(parent_id)
        parent = self.repo.place_of(parent_key)
        if parent is None or self.repo.hides(parent.root_id):
            raise ArtifactNotFoundError(parent_key, "Parent artifact")
        self._check_writable(parent.root_id, parent_key)
        if hierarchy is not None and hierarchy != parent.hierarchy:
            raise UnknownHierarchyError(
                hierarchy,
                [parent.hierarchy],
                detail=f"A child belongs to its parent's hierarchy: {parent_key} is in {parent.hierarchy!r}, "
                f"not {str(hierarchy)[:80]!r}. Omit `hierarchy`, or name {parent.hierarchy!r}.",
            )
        return _Place(parent.level + 1, self.hierarchies.of(parent.hierarchy), parent.root_id)

    def _plan_move(self, artifact: Artifact, new_parent_id: object | None) -> tuple[str | None, int, _Place]:
        """(the new parent's canonical id, the level change, where the artifact lands) of a
        move, once it is known to be allowed: a subtree moved into another tree takes that
        tree's hierarchy and must fit its depth; one made a root keeps its own.
        Raises ArtifactNotFoundError (parent), ArtifactCycleError, HierarchyDepthError."""
        parent_key = normalize_id(new_parent_id) if new_parent_id is not None else None
        if parent_key == artifact.parent_id:
            return parent_key, 0, _Place(artifact.level, self.hierarchies.of(artifact.hierarchy), artifact.root_id)
        if parent_key is None:
            self._check_writable(None)
            place = _Place(0, self.hierarchies.of(artifact.hierarchy), None)
        else:
            place = self._place_under(parent_key)
        if parent_key is not None and self.repo.is_descendant_or_self(parent_key, artifact.id):
            raise ArtifactCycleError(artifact.id, parent_key)
        delta = place.level - artifact.level
        place.hierarchy.check_level(self.repo.subtree_max_level(artifact.id) + delta)
        return parent_key, delta, place

    def _move(self, artifact: Artifact, new_parent_id: object | None, *, at: Any) -> bool:
        """Move `artifact` and its subtree; False when it already is under that parent.

        When the level or the hierarchy changes, it changes for every descendant too, and
        each gets a `moved` revision (its own parent stays): an as-of read of any of them is
        exact. The artifact's own revision is the caller's (_change).
        """
        parent_key, delta, place = self._plan_move(artifact, new_parent_id)
        if parent_key == artifact.parent_id:
            return False
        descendants_change = bool(delta) or place.hierarchy.name != artifact.hierarchy
        self.repo.relocate(artifact.id, delta, place.hierarchy.name, place.root_id or artifact.id)
        if descendants_change:
            descendants = self.repo.descendant_ids_query(artifact.id)
            self.revisions.bump(descendants)
            self.revisions.snapshot(descendants, action="moved", actor=self.actor, at=at, next_number=False)
            self.record_attachments(descendants)
        self.session.refresh(artifact)
        artifact.parent_id = parent_key
        return True

    def _record(self, artifact: Any, action: str, *, number: int | None = None) -> None:
        """Write the revision of a change just made to `artifact` (a row's values or the ORM object)."""
        get = artifact.get if isinstance(artifact, dict) else lambda name: getattr(artifact, name)
        self.revisions.add([{
            "artifact_id": get("id"),
            "revision": number if number is not None else get("revision"),
            "action": action,
            "data": get("data"),
            "parent_id": get("parent_id"),
            "level": get("level"),
            "hierarchy": get("hierarchy"),
            "root_id": get("root_id"),
            **actor_values(self.actor),
            "at": utcnow() if action == "deleted" else get("updated_at"),
            "created_at": get("created_at"),
        }])
        self.record_attachments([get("id")])

    def record_attachments(self, ids: Any) -> None:
        """Tell the attachments that the artifacts `ids` have a new newest revision."""
        for attachments in self.attachments:
            attachments.recorded(ids)

    def revision_artifact(self, revision: Any) -> ArtifactOut:
        """The artifact as a revision recorded it, labelled."""
        return self._out({
            "id": revision.artifact_id,
            "parent_id": revision.parent_id,
            "level": revision.level,
            "hierarchy": revision.hierarchy,
            "data": revision.data,
            "created_at": revision.created_at,
            "updated_at": revision.at,
            "revision": revision.revision,
        })

    def _node(self, artifact: Any, children: list[ArtifactTreeNode] | None = None) -> ArtifactTreeNode:
        node = ArtifactTreeNode.model_validate(artifact)
        node.level_label = self.hierarchies.label_for(node.hierarchy, node.level)
        node.children = children
        return node
