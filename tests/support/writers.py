"""Two writers on one database, one of them holding its commit back: how the tests race them."""

from __future__ import annotations

import threading
import time
from typing import Any

from webapp.artifacts import ArtifactManager, ArtifactRepository, open_session


def two_managers(url: str) -> tuple[ArtifactManager, ArtifactManager]:
    return (
        ArtifactManager(ArtifactRepository(open_session(url, create=False))),
        ArtifactManager(ArtifactRepository(open_session(url, create=False))),
    )


def in_slow_transaction(manager: ArtifactManager, work: Any) -> tuple[threading.Thread, threading.Event]:
    """Run `work(manager)` in a thread whose commit waits a moment after the work is done."""
    ready = threading.Event()
    commit = manager.session.commit

    def slow_commit() -> None:
        ready.set()
        time.sleep(0.5)  # the other writer runs now, while this one's changes are uncommitted
        commit()

    manager.session.commit = slow_commit  # type: ignore[method-assign]
    thread = threading.Thread(target=work, args=(manager,))
    thread.start()
    return thread, ready


def close(*managers: ArtifactManager) -> None:
    for manager in managers:
        manager.session.close()
        manager.session.get_bind().dispose()
