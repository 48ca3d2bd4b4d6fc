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
