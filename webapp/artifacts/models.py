"""The `artifacts` table. Plain SQLAlchemy, so scripts can use it without Flask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from ulid import ULID


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(ULID())


class ArtifactJSON(JSON):
    """JSON (JSONB on PostgreSQL) whose elements also offer PostgreSQL's `.astext`.

    So the spec's indexing recipe, `Index("ix_artifact_experiment",
    Artifact.data["experiment_name"].astext)`, works on both databases: it indexes
    `data ->> 'experiment_name'` on PostgreSQL and `json_extract(data, '$."experiment_name"')`
    on SQLite, and queries written the same way can use that index.
    """

    class Comparator(JSON.Comparator):
        @property
        def astext(self) -> Any:
            return self.as_string()

    comparator_factory = Comparator


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
        }
    )


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    parent_id: Mapped[str | None] = mapped_column(
        String(26), ForeignKey("artifacts.id"), index=True
    )
    level: Mapped[int] = mapped_column(Integer, nullable=False, default=0, index=True)
    data: Mapped[Any] = mapped_column(ArtifactJSON().with_variant(JSONB(), "postgresql"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<Artifact {self.id} level={self.level}>"
