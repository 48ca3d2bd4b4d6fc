"""UnitOfWork: the transactions of one session. Every use case opens one, as a reader or a writer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

F = TypeVar("F", bound=Callable[..., Any])

# pg_advisory_xact_lock key that serialises artifact writers (migrations/env.py uses 4242001).
WRITE_LOCK_KEY = 4242002


class UnitOfWork:
    """Opens, joins, commits and rolls back the transactions of one session.

    A write use case runs in `writing()`: the outermost one begins a writer transaction
    and commits it (or rolls back and re-raises); one opened inside it (an import's
    creates, a table stored with its artifact) is a savepoint of the same transaction,
    so both or neither land. Reads run in `reading()`, or join whatever is open.

    All UnitOfWork objects on one session share its state (kept in `session.info`), so
    services built apart still nest correctly.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _writer(self) -> tuple[Any, bool] | None:
        """(transaction, exclusive) of the writer transaction open on the session, if any."""
        held = self.session.info.get("writer")
        if held is not None and held[0] is self.session.get_transaction() and held[0].is_active:
            return held
        return None

    @property
    def writing_now(self) -> bool:
        return self._writer is not None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read snapshot (on SQLite) for the statements of a read use case.

        Outside any transaction it ends the one its statements began, so that the next
        use case (a write, say) starts afresh; inside one it just joins.
        """
        if self.session.in_transaction():
            yield
            return
        try:
            yield
        finally:
            if self.session.in_transaction() and not self.writing_now:
                self.session.rollback()  # reads leave nothing to commit

    @contextmanager
    def writing(self, *, exclusive: bool = False, commit: bool = True) -> Iterator[None]:
        """A write transaction: commit on success (unless `commit=False`: a dry run), roll back on error.

        `exclusive`: the write moves or removes artifacts, so it must not overlap any other
        write; creates and data updates may run side by side (PostgreSQL). Nested inside
        another writer it is a savepoint; it may not ask for more than the outer one holds.
        """
        held = self._writer
        if held is not None:
            if exclusive and not held[1]:
                # Two transactions that both upgraded would wait for each other forever.
                raise RuntimeError("a write holding the shared write lock cannot take it exclusively")
            with self.session.begin_nested():
                yield
            return
        if self.session.in_transaction():
            # A read snapshot left open (a page that reads, then writes): a writer starts
            # afresh, or SQLite would refuse to upgrade it once another worker has written.
            self.session.rollback()
        self._begin_writer(exclusive)
        try:
            yield
            if commit:
                self.session.commit()
            else:
                self.session.rollback()
        except BaseException:
            self.session.rollback()
            raise
        finally:
            self.session.info.pop("writer", None)

    def _begin_writer(self, exclusive: bool) -> None:
        """Begin a transaction that is a writer from its first statement.

        SQLite has one writer at a time: BEGIN IMMEDIATE (see database.py), so concurrent
        writers queue on the busy timeout instead of failing when their snapshot goes stale.

        PostgreSQL takes a transaction-scoped advisory lock: shared for writes that keep
        the shape of the trees (creates, data updates), exclusive for those that change it
        (moves, deletes). Creates then run side by side, while a create never computes its
        level from a parent being moved, and two crossing moves can never both pass the
        cycle check (both found by tests/test_load.py).
        """
        connection = self.session.connection(execution_options={"sqlite_write": True})
        if connection.dialect.name == "postgresql":
            lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
            self.session.execute(select(lock(WRITE_LOCK_KEY)))
        self.session.info["writer"] = (self.session.get_transaction(), exclusive)


def read_use_case(method: F) -> F:
    """Run a service method in its `self.work.reading()`.

    So a script's reads each see the store as it is now (a SQLite read snapshot left open
    would show it as it was, and keep the WAL from being checkpointed), while reads inside
    a write see that write's own changes.
    """

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.work.reading():
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]
