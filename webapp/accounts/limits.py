"""The failed sign-in limit, counted across every worker: in the database by default, in
Redis when RATE_LIMIT_STORAGE_URL (or REDIS_URL) names one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from webapp.artifacts.models import utcnow

from .models import FailedSignIn


class DatabaseCounter:
    """Failures as rows, counted over a sliding window (old rows are swept as new ones come)."""

    def __init__(self, session: Session, window: int) -> None:
        self.session, self.window = session, window

    def failures(self, key: str) -> int:
        since = utcnow() - timedelta(seconds=self.window)
        return self.session.scalar(select(func.count()).where(FailedSignIn.key == key, FailedSignIn.at > since)) or 0

    def record(self, key: str) -> None:
        now = utcnow()
        self.session.execute(delete(FailedSignIn).where(FailedSignIn.key == key, FailedSignIn.at <= now - timedelta(seconds=self.window)))
        self.session.add(FailedSignIn(key=key, at=now))
        self.session.flush()

    def clear(self, key: str) -> None:
        self.session.execute(delete(FailedSignIn).where(FailedSignIn.key == key))


class RedisCounter:
    """Failures as one counter per key that expires a window after its first failure."""

    PREFIX = "artifact-store:sign-in:"

    def __init__(self, client: object, window: int) -> None:
        self.client, self.window = client, window

    def failures(self, key: str) -> int:
        return int(self.client.get(self.PREFIX + key) or 0)  # type: ignore[attr-defined]

    def record(self, key: str) -> None:
        pipe = self.client.pipeline()  # type: ignore[attr-defined]
        pipe.incr(self.PREFIX + key)
        pipe.expire(self.PREFIX + key, self.window, nx=True)
        pipe.execute()

    def clear(self, key: str) -> None:
        self.client.delete(self.PREFIX + key)  # type: ignore[attr-defined]


_CLIENTS: dict[str, object] = {}


def redis_client(url: str) -> object:
    """One client (with its connection pool) per URL and process."""
    if url not in _CLIENTS:
        import redis

        _CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _CLIENTS[url]
