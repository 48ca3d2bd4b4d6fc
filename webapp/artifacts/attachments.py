"""Attachments: what other features keep beside an artifact (its files, its table), and
how that follows the artifact's history.

The manager writes every revision; a feature with rows of its own registers here
(Store wires them) and is told, in the same transaction, when revisions are written,
when an artifact goes back to a revision (revert, restore), and when history is removed
for good (retention). Every method is a no-op by default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Attachments:
    def recorded(self, ids: Any) -> None:
        """The artifacts `ids` (a list, or a select of ids) have just had their newest
        revision written, and still exist: keep with it what is attached to them now."""

    def reinstate(self, artifact_id: str, revision: int) -> bool:
        """Attach to the (existing) artifact what its revision `revision` had, before the
        revert or restore revision is written; True when that changes anything."""
        return False

    def purged(self, ids: list[str]) -> None:
        """These artifacts' history was removed for good (retention): remove what was kept for it."""

    def thinned(self, before: datetime) -> None:
        """Revisions made before `before` were removed (except each artifact's newest)."""

    def reborn(self, artifact_id: str) -> None:
        """A new artifact takes the id of a deleted one, whose history goes on: drop what
        the deleted one left that only a restore could have used."""
