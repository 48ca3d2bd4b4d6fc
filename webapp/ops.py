"""Operations on a whole store: statistics, backups, subtree export/import, retention.

No Flask and no click here: `webapp/cli.py` wraps each function in a `flask --app webapp`
command, and scripts call them with a Store:

    store = open_store("sqlite:///instance/artifacts.db")   # webapp.store
    print(collect_stats(store).total)

Writes go through the Store's use cases, so imports and prunes obey the same rules and
limits as the API. Each runs in ONE write transaction (Store.writing): all of it
happens, or none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import URL, Engine, Text, cast, func, inspect, literal, select, text, update
from sqlalchemy.orm import Session

from webapp.artifacts import Artifact, ArtifactError, ArtifactIn, ArtifactValidationError, Base, Policy
from webapp.artifacts.manager import normalize_id
from webapp.artifacts.schemas import loads_strict

if TYPE_CHECKING:
    from webapp.store import Store

EXPORT_FORMAT = "artifact-store-export"
EXPORT_VERSION = 1


class OpsError(Exception):
    """An operation refused, with a message for the operator. Nothing was changed."""


# Statistics ---------------------------------------------------------------------------


@dataclass
class HierarchyStats:
    name: str
    trees: int
    total: int
    by_level: list[tuple[int, str, int]]  # (level, label, count)


@dataclass
class Stats:
    hierarchy: str  # the default one
    total: int
    trees: int
    by_level: list[tuple[int, str, int]]  # (level, label of the default hierarchy, count), all hierarchies together
    by_hierarchy: list[HierarchyStats]  # those declared, then any others trees name
    largest_trees: list[tuple[str, int, int]]  # (root id, artifacts, levels below the root)
    largest_artifacts: list[tuple[str, int, int]]  # (id, level, bytes of JSON data)
    tables: dict[str, int]  # row count of each table the app owns
    database: str  # URL without password
    database_bytes: int | None
    revisions: int = 0  # rows of artifact_revisions: every change ever kept
    revision_bytes: int = 0  # their JSON data, as text


def collect_stats(store: Store, top: int = 5) -> Stats:
    """Counts per hierarchy, level and tree, the biggest artifacts and the database's size on disk."""
    data_bytes = func.length(cast(Artifact.data, Text))
    hierarchy, session = store.policy.hierarchy, store.session
    engine = session.get_bind()
    with store.reading():
        by_level = [
            (level, hierarchy.label_for(level), count) for level, count in store.artifacts.count_by_level().items()
        ]
        counted = store.artifacts.count_by_hierarchy()
        hierarchies = store.policy.hierarchies
        by_hierarchy = [
            HierarchyStats(
                name,
                trees=counted.get(name, {}).get(0, 0),
                total=sum(counted.get(name, {}).values()),
                by_level=[(level, hierarchies.label_for(name, level), n) for level, n in counted.get(name, {}).items()],
            )
            for name in [*hierarchies, *sorted(set(counted) - set(hierarchies))]
        ]
        largest = session.execute(
            select(Artifact.id, Artifact.level, data_bytes).order_by(data_bytes.desc(), Artifact.id).limit(top)
        ).all()
        present = set(inspect(session.connection()).get_table_names())
        revisions, revision_bytes = store.artifacts.revisions.counts() if "artifact_revisions" in present else (0, 0)
        tables = {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in Base.metadata.tables.items()
            if name in present
        }
        return Stats(
            hierarchy=hierarchy.name,
            total=sum(count for _, _, count in by_level),
            trees=next((count for level, _, count in by_level if level == 0), 0),
            by_level=by_level,
            by_hierarchy=by_hierarchy,
            largest_trees=_largest_trees(session, top),
            largest_artifacts=[(id_, level, size or 0) for id_, level, size in largest],
            tables=tables,
            database=engine.url.render_as_string(hide_password=True),
            database_bytes=_database_bytes(session, engine),
            revisions=revisions,
            revision_bytes=revision_bytes,
        )


def _largest_trees(session: Session, top: int) -> list[tuple[str, int, int]]:
    """(root id, size, depth) of the biggest trees, from one recursive query."""
    walk = (
        select(Artifact.id.label("id"), Artifact.id.label("root_id"), literal(0).label("depth"))
        .where(Artifact.parent_id.is_(None))
        .cte("walk", recursive=True)
    )
    walk = walk.union_all(
        select(Artifact.id, walk.c.root_id, walk.c.depth + 1).join(walk, Artifact.parent_id == walk.c.id)
    )
    size = func.count().label("size")
    query = (
        select(walk.c.root_id, size, func.max(walk.c.depth))
        .group_by(walk.c.root_id)
        .order_by(size.desc(), walk.c.root_id)
        .limit(top)
    )
    return [(root_id, count, depth) for root_id, count, depth in session.execute(query)]


def _database_bytes(session: Session, engine: Engine) -> int | None:
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:":
            return None
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
    if engine.dialect.name == "postgresql":
        return session.scalar(text("SELECT pg_database_size(current_database())"))
    return None


# Backups ------------------------------------------------------------------------------


@dataclass
class BackupResult:
    path: Path
    bytes: int
    artifacts: int | None  # counted in the copy (SQLite); None for pg_dump archives
    method: str


def backup(engine: Engine, destination: Path) -> BackupResult:
    """A consistent copy of the live database at `destination`, taken while the server runs.

    SQLite: the online backup API copies one read snapshot (WAL lets writers go on),
    into a temporary file that is checked (integrity_check) and only then renamed to
    `destination`. PostgreSQL: pg_dump, which also reads one snapshot. Raises OpsError
    when `destination` exists or the copy cannot be made.
    """
    destination = Path(destination)
    if destination.exists():
        raise OpsError(f"{destination} already exists; choose a new file name (backups never overwrite).")
    if not destination.parent.is_dir():
        raise OpsError(f"Directory {destination.parent} does not exist.")
    if engine.dialect.name == "sqlite":
        return _backup_sqlite(engine, destination)
    if engine.dialect.name == "postgresql":
        return _backup_postgres(engine, destination)
    raise OpsError(f"No backup method for {engine.dialect.name}; use the database's own tools.")


def _backup_sqlite(engine: Engine, destination: Path) -> BackupResult:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:" or not Path(source_path).exists():
        raise OpsError(f"No SQLite database file at {source_path!r}.")
    handle, draft = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(handle)
    try:
        source = sqlite3.connect(source_path, timeout=30)
        copy = sqlite3.connect(draft)
        try:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise OpsError(f"The copy failed its integrity check: {verdict}")
            artifacts = copy.execute("SELECT count(*) FROM artifacts").fetchone()[0]
        finally:
            copy.close()
            source.close()
        with open(draft, "rb") as file:
            os.fsync(file.fileno())
        os.replace(draft, destination)
    except BaseException:
        Path(draft).unlink(missing_ok=True)
        raise
    return BackupResult(destination, destination.stat().st_size, artifacts, "the SQLite online backup API")


def pg_dump_command(engine: Engine, destination: Path) -> tuple[list[str], dict[str, str]]:
    """The pg_dump invocation for this database; the password travels in PGPASSWORD, not argv."""
    url = engine.url
    environment = {**os.environ}
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    libpq_url = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    dsn = libpq_url.render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", f"--file={destination}", f"--dbname={dsn}"], environment


def _backup_postgres(engine: Engine, destination: Path) -> BackupResult:
    command, environment = pg_dump_command(engine, destination)
    shown = " ".join(command)
    if shutil.which("pg_dump") is None:
        raise OpsError(
            "PostgreSQL is backed up with pg_dump, which is not installed here. Install the "
            f"PostgreSQL client tools (Debian: apt-get install postgresql-client) and run:\n  {shown}\n"
            f"Restore with: pg_restore --clean --if-exists --dbname=URL {destination}"
        )
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        Path(destination).unlink(missing_ok=True)
        raise OpsError(f"pg_dump failed ({result.returncode}): {result.stderr.strip()}\nCommand: {shown}")
    return BackupResult(destination, destination.stat().st_size, None, "pg_dump (custom format)")


# Export and import ----------------------------------------------------------------------


def export_subtree(store: Store, root_id: str) -> dict[str, Any]:
    """The artifact `root_id` and all its descendants as an export document.

    Artifacts are listed parents first, each with id, parent_id, level, hierarchy, data and
    its timestamps; `extras` holds the payloads each feature keeps beside them (Store.extras).
    Read in one transaction, so the subtree is a consistent snapshot. Raises OpsError when the
    root does not exist.
    """
    root_key = _artifact_id(root_id)
    with store.reading():
        rows = store.artifacts.repo.subtree_rows(root_key)
        if not rows:
            raise OpsError(f"Artifact {root_key} not found.")
        artifacts = [
            {
                "id": artifact_id,
                "parent_id": parent_id,
                "level": level,
                "hierarchy": hierarchy,
                "data": json.loads(data),
                "created_at": created_at,
                "updated_at": updated_at,
            }
            for artifact_id, parent_id, level, data, created_at, updated_at, hierarchy, _revision, _depth in rows
        ]
        ids = [artifact["id"] for artifact in artifacts]
        extras = {
            name: payloads for name, feature in store.extras.items() if (payloads := feature.export_payloads(ids))
        }
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "root_id": root_key,
        "hierarchy": artifacts[0]["hierarchy"],
        "count": len(artifacts),
        "artifacts": artifacts,
        "extras": extras,
    }


def write_json(document: dict[str, Any], destination: Path) -> int:
    """Write `document` to a new file (never over an existing one), atomically; returns bytes."""
    destination = Path(destination)
    if destination.exists():
        raise OpsError(f"{destination} already exists; choose a new file name.")
    handle, draft = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file, ensure_ascii=False, allow_nan=False)
            file.flush()
            os.fsync(file.fileno())
        os.link(draft, destination)  # fails if the name was taken meanwhile; never overwrites
    finally:
        Path(draft).unlink(missing_ok=True)
    return destination.stat().st_size


def read_export(source: Path) -> dict[str, Any]:
    """An export document from `source`, checked for its format. Raises OpsError."""
    try:
        document = loads_strict(Path(source).read_text(encoding="utf-8"))
    except OSError as error:
        raise OpsError(f"Cannot read {source}: {error.strerror}.") from None
    except ValueError as error:
        raise OpsError(f"{source} is not valid JSON: {error}.") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise OpsError(f"{source} is not an Artifact Store export (no \"format\": \"{EXPORT_FORMAT}\").")
    if document.get("version") != EXPORT_VERSION:
        raise OpsError(f"{source} is export version {document.get('version')!r}; this version reads {EXPORT_VERSION}.")
    if not isinstance(document.get("artifacts"), list) or not document["artifacts"]:
        raise OpsError(f"{source} holds no artifacts.")
    return document


KEEP_PARENT = "keep"


@dataclass
class ImportResult:
    root_id: str
    parent_id: str | None
    count: int
    extras: dict[str, int] = field(default_factory=dict)


def import_subtree(store: Store, document: dict[str, Any], *, parent: str | None = KEEP_PARENT) -> ImportResult:
    """Create the exported subtree again, ids and timestamps kept; all of it or nothing.

    `parent`: KEEP_PARENT attaches the root where it was (its parent must exist here),
    None makes it a root, an id attaches it there. A subtree imported as a root keeps its
    hierarchy (files from before hierarchies: the default one); one attached under a parent
    takes that tree's, as a move would. Every artifact is validated like an
    API body and created through the Store (levels follow the new parent; the policy's
    limits apply). Raises OpsError, without changing anything, for a
    malformed file, ids that already exist, or a missing parent.
    """
    records = _validated_records(document, store.policy)
    root = records[0]
    extras = document.get("extras") or {}
    unknown = sorted(set(extras) - set(store.extras))
    if unknown:
        raise OpsError(f"The file carries payloads this version cannot import: {', '.join(unknown)}.")
    new_parent = root.parent_id if parent == KEEP_PARENT else parent
    new_parent = _artifact_id(new_parent) if new_parent is not None else None
    timestamps = {str(r.id): (r.created_at, r.updated_at) for r in records}

    try:
        with store.writing():
            manager = store.artifacts
            taken = _existing_ids(manager.session, list(timestamps))
            if taken:
                shown = ", ".join(taken[:5]) + (" …" if len(taken) > 5 else "")
                raise OpsError(
                    f"{len(taken)} of the {len(records)} artifacts already exist here ({shown}); "
                    "nothing was imported. Delete them first, or import into another database."
                )
            if new_parent is not None and not manager.exists_by_id(new_parent):
                raise OpsError(
                    f"The subtree's parent {new_parent} is not in this database; nothing was imported. "
                    "Pass --parent ID to attach it elsewhere, or --as-root."
                )
            hierarchy = document.get("hierarchy") if new_parent is None else None
            if hierarchy is not None and not isinstance(hierarchy, str):
                raise OpsError("The file's hierarchy must be a name (a string); nothing was imported.")
            for record in records:
                parent_id = new_parent if record is root else record.parent_id
                manager.create(
                    ArtifactIn(id=record.id, parent_id=parent_id, data=record.data, hierarchy=hierarchy if record is root else None)
                )
            _restore_timestamps(manager.session, timestamps)
            for name, payloads in extras.items():
                try:
                    store.extras[name].import_payloads({k: v for k, v in payloads.items() if k in timestamps})
                except (AttributeError, KeyError, TypeError, ValueError) as error:
                    raise OpsError(f"The file's {name!r} payloads are malformed ({error!r}); nothing was imported.")
    except ArtifactError as error:  # depth limit, or an id raced in by another writer
        raise OpsError(f"Nothing was imported: {error.detail}") from None
    return ImportResult(str(root.id), new_parent, len(records), {name: len(p) for name, p in extras.items()})


@dataclass
class _Record:
    id: Any
    parent_id: str | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _validated_records(document: dict[str, Any], policy: Policy) -> list[_Record]:
    """The file's artifacts validated as ArtifactIn, root first and parents before children."""
    records: list[_Record] = []
    for number, item in enumerate(document["artifacts"]):
        if not isinstance(item, dict):
            raise OpsError(f"Artifact #{number} is not a JSON object.")
        try:
            artifact = ArtifactIn.model_validate(
                {"id": item.get("id"), "parent_id": item.get("parent_id"), "data": item.get("data")},
                strict=True,
            )
            policy.check_data(artifact.data, loc=("data",))  # the manager would refuse it, without naming it
            created_at = _timestamp(item.get("created_at"))
            updated_at = _timestamp(item.get("updated_at"))
        except (ValidationError, ArtifactValidationError, ValueError) as error:
            raise OpsError(f"Artifact #{number} ({item.get('id')!r}) is invalid: {_first_error(error)}") from None
        if artifact.id is None:
            raise OpsError(f"Artifact #{number} has no id; exports always carry ids.")
        parent_id = str(artifact.parent_id) if artifact.parent_id is not None else None
        records.append(_Record(artifact.id, parent_id, artifact.data, created_at, updated_at))

    by_id = {str(r.id): r for r in records}
    if len(by_id) != len(records):
        raise OpsError("The file lists the same artifact id twice.")
    roots = [r for r in records if r.parent_id not in by_id]
    if len(roots) != 1:
        raise OpsError(f"The file must hold one subtree (one artifact whose parent is outside it); found {len(roots)}.")
    ordered, frontier = [], roots
    while frontier:  # breadth first from the root: parents always before their children
        ordered += frontier
        placed = {str(r.id) for r in frontier}
        frontier = [r for r in records if r.parent_id in placed]
    if len(ordered) != len(records):
        raise OpsError("Some artifacts in the file are not connected to its root (a parent cycle).")
    return ordered


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("created_at and updated_at must be ISO-8601 strings")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_error(error: Exception) -> str:
    if isinstance(error, (ValidationError, ArtifactValidationError)):
        first = error.errors(include_url=False)[0] if isinstance(error, ValidationError) else error.errors[0]
        return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
    return str(error)


def _existing_ids(session: Session, ids: list[str]) -> list[str]:
    taken: list[str] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        taken += session.scalars(select(Artifact.id).where(Artifact.id.in_(chunk)).order_by(Artifact.id))
    return taken


def _restore_timestamps(session: Session, timestamps: dict[str, tuple[datetime, datetime]]) -> None:
    """Give imported artifacts back the times they were created and last changed."""
    for artifact_id, (created_at, updated_at) in timestamps.items():
        session.execute(
            update(Artifact)
            .where(Artifact.id == artifact_id)
            .values(created_at=created_at, updated_at=updated_at)
            .execution_options(synchronize_session=False)
        )


def _artifact_id(value: object) -> str:
    try:
        return normalize_id(value)
    except ArtifactError as error:
        raise OpsError(error.detail) from None


# Retention ----------------------------------------------------------------------------

AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str) -> timedelta:
    """'90d' → 90 days; units s, m, h, d, w. Raises ValueError for anything else."""
    match = AGE.match(value)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{value!r} is not an age like 90d, 12h, 2w or 30m (a positive number and a unit).")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@dataclass
class PrunedSubtree:
    root_id: str
    level: int
    label: str
    created_at: datetime
    artifacts: int


@dataclass
class PruneResult:
    cutoff: datetime
    subtrees: list[PrunedSubtree]
    dry_run: bool
    forgotten: int = 0  # artifacts deleted before the cutoff, whose history (and table) went for good

    @property
    def artifacts(self) -> int:
        return sum(s.artifacts for s in self.subtrees)


def prune(
    store: Store,
    older_than: timedelta,
    *,
    level: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Delete whole subtrees in which every artifact was created before now - `older_than`.

    A newer artifact keeps itself and all its ancestors, so nothing newer than the cutoff
    is ever removed and no child is orphaned. With `level`, only subtrees rooted at that
    level go; without, the largest such subtrees. Candidates are chosen and deleted
    (ArtifactManager.delete_subtree) inside one exclusive write transaction, so a child created
    meanwhile cannot slip in between; `dry_run` rolls that transaction back. Without
    `level`, artifacts deleted before the cutoff (and not restored) are forgotten too: their
    history, files' manifests and table go for good (until then a restore brings them back).
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    result = PruneResult(cutoff, [], dry_run)
    with store.writing(exclusive=True, commit=not dry_run):
        for root_id, root_level, root_hierarchy, created_at in store.session.execute(_prune_roots(cutoff, level)).all():
            size = store.artifacts.delete_subtree(root_id, keep_history=False)  # retention: history goes too
            label = store.policy.hierarchies.label_for(root_hierarchy, root_level)
            result.subtrees.append(PrunedSubtree(root_id, root_level, label, created_at, size))
        if level is None:
            result.forgotten = store.artifacts.forget_deleted(cutoff)
    return result


def _prune_roots(cutoff: datetime, level: int | None) -> Any:
    """Roots of the subtrees to delete: no artifact in them is as new as `cutoff`.

    `keep` is every artifact created at or after the cutoff plus all of its ancestors
    (a recursive CTE walking up); everything else is old and has only old descendants.
    """
    keep = select(Artifact.id, Artifact.parent_id).where(Artifact.created_at >= cutoff).cte("keep", recursive=True)
    keep = keep.union(select(Artifact.id, Artifact.parent_id).join(keep, Artifact.id == keep.c.parent_id))
    kept = select(keep.c.id)
    query = select(Artifact.id, Artifact.level, Artifact.hierarchy, Artifact.created_at).where(Artifact.id.not_in(kept))
    if level is not None:
        query = query.where(Artifact.level == level)
    else:  # the top of each prunable subtree: a root, or the child of a kept artifact
        query = query.where(Artifact.parent_id.is_(None) | Artifact.parent_id.in_(kept))
    return query.order_by(Artifact.created_at, Artifact.id)


@dataclass
class ThinResult:
    cutoff: datetime
    revisions: int  # how many were (or, dry run, would be) removed
    dry_run: bool


def thin_history(store: Store, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None) -> ThinResult:
    """Remove revisions made before now - `older_than`, except the newest of each artifact
    (so every artifact, and every deleted one, keeps the revision that says what it is).
    As-of reads before the cutoff then see the oldest kept revision or nothing."""
    cutoff = (now or datetime.now(UTC)) - older_than
    with store.writing(commit=not dry_run):
        removed = store.artifacts.thin_revisions(cutoff)
    return ThinResult(cutoff, removed, dry_run)
