"""Actor: who makes a change, as recorded beside it (revisions, the audit log)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The author of a request's changes. A script's Store has none (`ANONYMOUS`)."""

    user: str | None = None  # the account's name; None: anonymous, or a script
    token: str | None = None  # the name of the API token the request used, if any
    address: str | None = None  # the client's address, as the request reached the app


ANONYMOUS = Actor()


# What a right allows, in order: each includes the ones before it.
NONE, READ, WRITE, ADMIN = 0, 1, 2, 3


@dataclass(frozen=True)
class TreeAccess:
    """What a request may do on each tree: its default right (`default`: NONE…ADMIN), and
    per-root overrides (NONE, READ, WRITE) from the admin's grants, all capped by `cap` (a
    token's scope). An admin's right holds on every tree: grants never restrict an admin."""

    default: int = ADMIN
    overrides: tuple[tuple[str, int], ...] = ()
    cap: int = ADMIN

    def on(self, root_id: str) -> int:
        """The right on the tree whose root is `root_id`."""
        if self.default >= ADMIN:
            return self.cap
        return min(dict(self.overrides).get(root_id, self.default), self.cap)

    @property
    def hidden_roots(self) -> frozenset[str]:
        """The roots of the trees this request may not read: every read leaves them out."""
        if self.default >= ADMIN or self.cap < READ:
            return frozenset()
        return frozenset(root for root, right in self.overrides if right < READ)

    @property
    def highest(self) -> int:
        """The most this request may do anywhere (is any write allowed at all?)."""
        return min(max([self.default, *(right for _, right in self.overrides)]), self.cap)

    def may_read(self, root_id: str) -> bool:
        return self.on(root_id) >= READ

    def may_write(self, root_id: str | None) -> bool:
        """`root_id` None: a new root tree, which needs the default right to write."""
        return (min(self.default, self.cap) if root_id is None else self.on(root_id)) >= WRITE


EVERYTHING = TreeAccess()  # scripts and CLI commands: no account, every right
