"""The accounts tables: users, their sessions and API tokens, per-tree grants, the audit log,
the set-up link and failed sign-ins. On the artifacts' metadata, so create_all() makes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.artifacts.models import Base, UTCDateTime, new_id, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # viewer, editor, admin
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class AuthSession(Base):
    """A signed-in browser: the cookie holds a secret whose hash is `id`. Deleting the row
    ends the session, so a copy of the old cookie is refused."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the secret
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ApiToken(Base):
    """An API token: only the hash of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)  # read, write, admin
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TreeGrant(Base):
    """A user's role on one root tree and everything under it, in place of their own role."""

    __tablename__ = "tree_grants"
    __table_args__ = (UniqueConstraint("user_id", "root_id", name="uq_tree_grants_user_id_root_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    root_id: Mapped[str] = mapped_column(String(26), nullable=False)  # no foreign key: a grant outlives a deleted tree
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # viewer, editor, none
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class AuditEvent(Base):
    """An account event (sign-in, failed sign-in, token created or revoked, role change…).
    Artifact changes are not copied here: the audit log reads them from artifact_revisions."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_user: Mapped[str | None] = mapped_column(String(200))
    actor_token: Mapped[str | None] = mapped_column(String(200))
    actor_address: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200))  # the user, token or grant the event is about
    artifact_id: Mapped[str | None] = mapped_column(String(26))  # a grant's tree


class SetupToken(Base):
    """The one-time set-up link's hash, while no user exists: every worker reads the same row."""

    __tablename__ = "setup_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1: one link
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class FailedSignIn(Base):
    """The database backend of the sign-in rate limit: one row per failure and key
    ("user:alice", "address:10.0.0.1"), counted across every worker."""

    __tablename__ = "failed_sign_ins"
    __table_args__ = (Index("ix_failed_sign_ins_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
