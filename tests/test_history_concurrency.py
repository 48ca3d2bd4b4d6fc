"""No change without its revision: concurrent writers (threads and processes), both databases."""

from __future__ import annotations

import multiprocessing
import random
import threading
from typing import Any

from sqlalchemy import func, select

from webapp.artifacts import (
    Artifact,
    ArtifactChangedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ArtifactUpdate,
    open_session,
)
from webapp.artifacts.models import ArtifactRevision

OPERATIONS = 30


def _writer(url: str, roots: list[str], seed: int) -> int:
    """Creates, updates, moves and deletes at random; returns how many changes it made.

    Every counted call changes something for sure: updates write data no one else writes,
    moves go to another root with the version just read (a raced one is refused with 412
    and not counted), deletes only remove children (a gone one is a 404, not counted).
    """
    manager = ArtifactManager(ArtifactRepository(open_session(url, create=False)))
    rng = random.Random(seed)
    changes = 0
    mine: list[str] = []
    try:
        for number in range(OPERATIONS):
            choice = rng.random()
            try:
                if choice < 0.35 or not mine:
                    child = manager.create(ArtifactIn(parent_id=rng.choice(roots), data={"by": seed, "n": number}))
                    mine.append(str(child.id))
                elif choice < 0.65:
                    manager.update(rng.choice(mine), ArtifactUpdate(data={"by": seed, "n": number, "edit": True}))
                elif choice < 0.85:
                    current = manager.get(rng.choice(mine))
                    target = rng.choice([root for root in roots if root != str(current.parent_id)])
                    manager.move(current.id, target, if_match=current.version)
                else:
                    victim = mine.pop(rng.randrange(len(mine)))
                    manager.delete(victim)
                changes += 1
            except (ArtifactChangedError, ArtifactNotFoundError):
                pass  # refused: nothing changed
    finally:
        manager.session.close()
        manager.session.get_bind().dispose()
    return changes


def _thread_writers(url: str, roots: list[str], seeds: list[int]) -> int:
    results: list[int] = []
    threads = [threading.Thread(target=lambda s=seed: results.append(_writer(url, roots, s))) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(seeds), "a writer thread failed"
    return sum(results)


def test_every_change_has_exactly_one_revision_under_concurrent_writers(app: Any, database_url: str) -> None:
    manager = ArtifactManager(ArtifactRepository(open_session(database_url, create=False)))
    roots = [str(manager.create(ArtifactIn(data={"root": n})).id) for n in range(3)]
    manager.session.close()

    # Two processes of two threads each, and two threads here: six writers at once.
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        pending = pool.starmap_async(_thread_writers, [(database_url, roots, [1, 2]), (database_url, roots, [3, 4])])
        here = _thread_writers(database_url, roots, [5, 6])
        changes = sum(pending.get(timeout=300)) + here

    session = open_session(database_url, create=False)
    try:
        revisions = session.scalar(select(func.count()).select_from(ArtifactRevision))
        assert revisions == len(roots) + changes

        # Numbered 1…n without a gap, the newest is the row as it is (or a delete, once gone).
        numbers = session.execute(
            select(ArtifactRevision.artifact_id, func.count(), func.min(ArtifactRevision.revision),
                   func.max(ArtifactRevision.revision)).group_by(ArtifactRevision.artifact_id)
        ).all()
        assert all(low == 1 and high == count for _, count, low, high in numbers)
        rows = {a.id: a for a in session.scalars(select(Artifact))}
        newest: dict[str, ArtifactRevision] = {}
        for revision in session.scalars(select(ArtifactRevision).order_by(ArtifactRevision.revision)):
            newest[revision.artifact_id] = revision
        for artifact_id, revision in newest.items():
            row = rows.get(artifact_id)
            if row is None:
                assert revision.action == "deleted"
            else:
                assert (row.revision, row.data, row.parent_id, row.level) == (
                    revision.revision, revision.data, revision.parent_id, revision.level)
        assert set(rows) <= set(newest)
    finally:
        session.close()
        session.get_bind().dispose()
