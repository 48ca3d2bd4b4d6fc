"""Accounts: the rules for users, sessions, API tokens, per-tree grants, the set-up link and
the audit log, in one place. Views, the API and the CLI only call these use cases."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, cast, delete, func, literal, null, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.artifacts.actor import ADMIN, NONE, READ, WRITE, Actor, TreeAccess
from webapp.artifacts.models import Artifact, ArtifactRevision, utcnow

from .errors import AccountError, ForbiddenError, NotFoundError, SignInRefused, TooManyAttempts, invalid
from .limits import DatabaseCounter, RedisCounter, redis_client
from .models import ApiToken, AuditEvent, AuthSession, FailedSignIn, SetupToken, TreeGrant, User

ROLES = {"viewer": READ, "editor": WRITE, "admin": ADMIN}
SCOPES = {"read": READ, "write": WRITE, "admin": ADMIN}
GRANT_ROLES = {"none": NONE, "viewer": READ, "editor": WRITE}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing a megabyte-long "password" must not cost a worker
TOKEN_PREFIX = "ast_"
DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_TOKEN_SECONDS = 5 * 365 * 86400
LAST_USED_EVERY = timedelta(minutes=1)  # a token used all the time is written once a minute, not per request

_HASHER = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) parameters
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def digest(secret: str) -> str:
    """The stored form of a high-entropy secret (token, session, set-up link): one SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(text: str) -> int:
    """"30m", "12h", "90d", "2w" → seconds. ValueError otherwise."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text[:40]!r} is not a duration such as 30m, 12h, 90d or 2w")
    seconds = int(match[1]) * UNITS[match[2]]
    if seconds > MAX_TOKEN_SECONDS:
        raise ValueError("a token may last at most 5 years")
    return seconds


@dataclass(frozen=True)
class AccountSettings:
    session_seconds: int = 14 * 86400
    attempts_per_user: int = 5
    attempts_per_address: int = 20
    window_seconds: int = 900
    storage_url: str = ""  # redis://…: count failed sign-ins there, else in the database

    @classmethod
    def from_config(cls, config: Any) -> AccountSettings:
        return cls(
            session_seconds=config.get("SESSION_LIFETIME", cls.session_seconds),
            attempts_per_user=config.get("SIGN_IN_ATTEMPTS_PER_USER", cls.attempts_per_user),
            attempts_per_address=config.get("SIGN_IN_ATTEMPTS_PER_ADDRESS", cls.attempts_per_address),
            window_seconds=config.get("SIGN_IN_WINDOW", cls.window_seconds),
            storage_url=config.get("RATE_LIMIT_STORAGE_URL") or "",
        )


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the user, and the token when one was used."""

    user: User
    token: ApiToken | None = None

    @property
    def right(self) -> int:
        """The user's role, capped by the token's scope: a token never has more rights than its user."""
        right = ROLES[self.user.role]
        return min(right, SCOPES[self.token.scope]) if self.token is not None else right


class Accounts:
    """The accounts use cases on one session; each write commits."""

    def __init__(self, session: Session, settings: AccountSettings | None = None, actor: Actor | None = None) -> None:
        self.session = session
        self.settings = settings or AccountSettings()
        self.actor = actor or Actor()

    # Users ------------------------------------------------------------------------

    def has_users(self) -> bool:
        return self.session.scalar(select(literal(1)).select_from(User).limit(1)) is not None

    def user(self, name: str) -> User:
        user = self.session.scalar(select(User).where(User.name == name))
        if user is None:
            raise NotFoundError(f"User {name[:80]!r}")
        return user

    def users(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(User.name)))

    def create_user(self, name: str, password: str, role: str) -> User:
        if not NAME.match(name or ""):
            raise invalid("name", "A user name is 1 to 80 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
        self._check_role(role, ROLES, "role")
        self._check_password(password)
        user = User(name=name, password_hash=_HASHER.hash(password), role=role, disabled=False)
        self.session.add(user)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise AccountError(f"A user named {name!r} exists already.") from None
        self._audit("user-created", subject=f"{name} ({role})")
        self.session.execute(delete(SetupToken))  # the first account makes the set-up link useless
        self.session.commit()
        return user

    def set_role(self, name: str, role: str) -> User:
        self._check_role(role, ROLES, "role")
        user = self.user(name)
        if user.role != role:
            self._refuse_losing_last_admin(user, role=role)
            self._audit("role-changed", subject=f"{name}: {user.role} → {role}")
            user.role = role
        self.session.commit()
        return user

    def set_disabled(self, name: str, disabled: bool) -> User:
        user = self.user(name)
        if user.disabled != disabled:
            if disabled:
                self._refuse_losing_last_admin(user, role=None)
                self.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))  # signed out at once
            user.disabled = disabled
            self._audit("user-disabled" if disabled else "user-enabled", subject=name)
        self.session.commit()
        return user

    def change_password(self, user: User, current: str, new: str) -> None:
        if not _verify(user.password_hash, current):
            raise invalid("current_password", "The current password is wrong.")
        self._check_password(new)
        user.password_hash = _HASHER.hash(new)
        self._audit("password-changed", subject=user.name)
        self.session.commit()

    def _refuse_losing_last_admin(self, user: User, role: str | None) -> None:
        if user.role != "admin" or user.disabled or role == "admin":
            return
        admins = self.session.scalar(select(func.count()).where(User.role == "admin", User.disabled.is_(False))) or 0
        if admins <= 1:
            raise AccountError(f"{user.name} is the only active administrator: make another one first.")

    @staticmethod
    def _check_role(role: str, allowed: dict[str, int], field: str) -> None:
        if role not in allowed:
            raise invalid(field, f"{field} must be one of {', '.join(allowed)}.")

    @staticmethod
    def _check_password(password: str) -> None:
        if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise invalid("password", f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.")

    # Signing in ---------------------------------------------------------------------

    def _counter(self) -> DatabaseCounter | RedisCounter:
        if self.settings.storage_url:
            return RedisCounter(redis_client(self.settings.storage_url), self.settings.window_seconds)
        return DatabaseCounter(self.session, self.settings.window_seconds)

    def sign_in(self, name: str, password: str, address: str | None) -> tuple[User, str]:
        """The user and a new session's secret (for the cookie). Raises TooManyAttempts
        (before the password is even checked), SignInRefused."""
        counter = self._counter()
        keys = {f"user:{name[:80]}": self.settings.attempts_per_user, f"address:{address}": self.settings.attempts_per_address}
        if any(counter.failures(key) >= limit for key, limit in keys.items()):
            self._audit("sign-in-limited", subject=name[:80], actor=Actor(None, None, address))
            self.session.commit()
            raise TooManyAttempts(self.settings.window_seconds)
        user = self.session.scalar(select(User).where(User.name == name[:80]))
        if user is None:
            _verify(_DUMMY_HASH, password[:MAX_PASSWORD])  # as slow as a wrong password: no user-name oracle
        if user is None or user.disabled or not _verify(user.password_hash, password[:MAX_PASSWORD]):
            for key in keys:
                counter.record(key)
            self._audit("sign-in-failed", subject=name[:80], actor=Actor(None, None, address))
            self.session.commit()
            raise SignInRefused()
        counter.clear(f"user:{user.name}")
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        secret = secrets.token_urlsafe(32)
        self.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at <= utcnow()))
        expires = utcnow() + timedelta(seconds=self.settings.session_seconds)
        self.session.add(AuthSession(id=digest(secret), user_id=user.id, expires_at=expires))
        self._audit("sign-in", subject=user.name, actor=Actor(user.name, None, address))
        self.session.commit()
        return user, secret

    def session_user(self, secret: str) -> User | None:
        """The user of a live session, or None (ended, expired, or the user disabled)."""
        row = self.session.execute(
            select(User, AuthSession.expires_at).join(AuthSession, AuthSession.user_id == User.id).where(AuthSession.id == digest(secret))
        ).first()
        if row is None or row.expires_at <= utcnow() or row.User.disabled:
            return None
        return row.User

    def sign_out(self, secret: str) -> None:
        ended = self.session.execute(delete(AuthSession).where(AuthSession.id == digest(secret))).rowcount
        if ended:
            self._audit("sign-out", subject=self.actor.user)
        self.session.commit()

    # API tokens ---------------------------------------------------------------------

    def create_token(self, user: User, name: str | None, scope: str, expires_in: str | int | None) -> tuple[ApiToken, str]:
        """A new token of `user` and its secret, which is never stored (only its hash)."""
        self._check_role(scope, SCOPES, "scope")
        if SCOPES[scope] == ADMIN and ROLES[user.role] < ADMIN:
            # (A write token of a viewer writes only where a grant makes them an editor:
            # every use is capped by the user's rights, see Principal.right and tree_access.)
            raise invalid("scope", f"A token cannot have more rights than its user: {user.name} is {user.role}.")
        name = (name or "token").strip()
        if not 1 <= len(name) <= 100 or any(ord(c) < 32 for c in name):
            raise invalid("name", "A token's name has 1 to 100 printable characters.")
        expires_at = None
        if expires_in is not None:
            try:
                seconds = parse_duration(expires_in) if isinstance(expires_in, str) else int(expires_in)
            except ValueError as error:
                raise invalid("expires_in", str(error)) from None
            if not 60 <= seconds <= MAX_TOKEN_SECONDS:
                raise invalid("expires_in", "A token lasts from one minute to 5 years.")
            expires_at = utcnow() + timedelta(seconds=seconds)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(user_id=user.id, name=name, scope=scope, secret_hash=digest(secret), expires_at=expires_at)
        self.session.add(token)
        self.session.flush()
        self._audit("token-created", subject=f"{user.name}: {name} ({scope}, {token.id})")
        self.session.commit()
        return token, secret

    def token_principal(self, secret: str) -> Principal | None:
        """Who a bearer secret belongs to, or None (unknown, revoked, expired, user disabled)."""
        row = self.session.execute(
            select(ApiToken, User).join(User, ApiToken.user_id == User.id).where(ApiToken.secret_hash == digest(secret))
        ).first()
        if row is None:
            return None
        token, user = row
        now = utcnow()
        if user.disabled or (token.expires_at is not None and token.expires_at <= now):
            return None
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
            token.last_used_at = now
            self.session.commit()
        return Principal(user, token)

    def tokens(self, user: User | None = None) -> list[tuple[ApiToken, str]]:
        """(token, user name), of one user or of everyone, newest first."""
        query = select(ApiToken, User.name).join(User, ApiToken.user_id == User.id).order_by(ApiToken.id.desc())
        if user is not None:
            query = query.where(ApiToken.user_id == user.id)
        return [(token, name) for token, name in self.session.execute(query)]

    def revoke_token(self, token_id: str, by: Principal | None = None) -> None:
        """Revoke at once. `by`: the caller, who must own the token or be an admin (None: the CLI)."""
        row = self.session.execute(select(ApiToken, User.name).join(User).where(ApiToken.id == token_id.upper())).first()
        if row is None or (by is not None and row.ApiToken.user_id != by.user.id and by.right < ADMIN):
            raise NotFoundError(f"Token {token_id[:40]}")  # someone else's token: as if missing
        self.session.delete(row.ApiToken)
        self._audit("token-revoked", subject=f"{row.name}: {row.ApiToken.name} ({row.ApiToken.id})")
        self.session.commit()

    # Grants -------------------------------------------------------------------------

    def grant(self, user_name: str, root_id: str, role: str) -> TreeGrant:
        """Give a user `role` on the tree whose root is `root_id` (replacing a previous grant there)."""
        self._check_role(role, GRANT_ROLES, "role")
        user = self.user(user_name)
        root = self.session.execute(select(Artifact.id, Artifact.parent_id).where(Artifact.id == root_id.upper())).first()
        if root is None:
            raise NotFoundError(f"Artifact {root_id[:40]}")
        if root.parent_id is not None:
            raise invalid("root_id", f"{root.id} is not a root: grants are given on a whole tree, by its root.")
        grant = self.session.scalar(select(TreeGrant).where(TreeGrant.user_id == user.id, TreeGrant.root_id == root.id))
        if grant is None:
            grant = TreeGrant(user_id=user.id, root_id=root.id, role=role)
            self.session.add(grant)
        grant.role = role
        self.session.flush()
        self._audit("grant-set", subject=f"{user.name}: {role} on {root.id}", artifact_id=root.id)
        self.session.commit()
        return grant

    def grants(self, root_id: str | None = None) -> list[tuple[TreeGrant, str]]:
        query = select(TreeGrant, User.name).join(User, TreeGrant.user_id == User.id).order_by(TreeGrant.id)
        if root_id is not None:
            query = query.where(TreeGrant.root_id == root_id.upper())
        return [(grant, name) for grant, name in self.session.execute(query)]

    def revoke_grant(self, grant_id: int) -> None:
        row = self.session.execute(select(TreeGrant, User.name).join(User).where(TreeGrant.id == grant_id)).first()
        if row is None:
            raise NotFoundError(f"Grant {grant_id}")
        self.session.delete(row.TreeGrant)
        self._audit("grant-removed", subject=f"{row.name}: {row.TreeGrant.role} on {row.TreeGrant.root_id}",
                    artifact_id=row.TreeGrant.root_id)
        self.session.commit()

    def tree_access(self, principal: Principal | None, anonymous: int) -> TreeAccess:
        """What a request may do on each tree: the user's role (capped by the token) and
        their grants; without a principal, what AUTH_ANONYMOUS opens."""
        if principal is None:
            return TreeAccess(default=anonymous)
        right = ROLES[principal.user.role]
        overrides: tuple[tuple[str, int], ...] = ()
        if right < ADMIN:
            rows = self.session.execute(select(TreeGrant.root_id, TreeGrant.role).where(TreeGrant.user_id == principal.user.id))
            overrides = tuple((root, GRANT_ROLES[role]) for root, role in rows)
        cap = SCOPES[principal.token.scope] if principal.token is not None else ADMIN
        return TreeAccess(default=right, overrides=overrides, cap=cap)

    # The set-up link ----------------------------------------------------------------

    def issue_setup_link(self, replace: bool = True) -> str | None:
        """A new one-time set-up secret while no user exists (its hash replaces any earlier
        one when `replace`); None when there are users, or a link exists and not `replace`."""
        if self.has_users():
            return None
        if not replace and self.session.get(SetupToken, 1) is not None:
            return None
        secret = secrets.token_urlsafe(24)
        self.session.execute(delete(SetupToken))
        self.session.add(SetupToken(id=1, token_hash=digest(secret)))
        try:
            self.session.commit()
        except IntegrityError:  # another worker issued one at the same moment: theirs stands
            self.session.rollback()
            return None
        return secret

    def setup_link_valid(self, secret: str) -> bool:
        row = self.session.get(SetupToken, 1)
        return row is not None and not self.has_users() and secrets.compare_digest(row.token_hash, digest(secret))

    def complete_setup(self, secret: str, name: str, password: str) -> User:
        """Create the first administrator through the set-up link, which then stops working."""
        refused = ForbiddenError("This set-up link is not valid (any more): an account exists, or the server issued a new link.")
        if self.has_users():
            raise refused
        # Claimed by deleting it, in the transaction that creates the admin: of two requests
        # racing with the same link, the second deletes nothing (PostgreSQL makes it wait for the first).
        if self.session.execute(delete(SetupToken).where(SetupToken.token_hash == digest(secret))).rowcount != 1:
            self.session.rollback()
            raise refused
        try:
            return self.create_user(name, password, "admin")
        except Exception:
            self.session.rollback()  # a refused name or password: the link stays valid
            raise

    # The audit log ------------------------------------------------------------------

    def _audit(self, action: str, *, subject: str | None = None, actor: Actor | None = None, artifact_id: str | None = None) -> None:
        actor = actor or self.actor
        self.session.add(AuditEvent(
            action=action, actor_user=actor.user, actor_token=actor.token, actor_address=actor.address,
            subject=subject, artifact_id=artifact_id,
        ))

    def audit_page(
        self,
        *,
        page: int = 1,
        size: int = 50,
        actor: str | None = None,
        action: str | None = None,
        artifact: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Who did what, when, from where: artifact changes (their revisions) and account
        events, newest first, in one query over both tables."""
        changes = select(
            ArtifactRevision.at.label("at"),
            ArtifactRevision.actor_user.label("actor"),
            ArtifactRevision.actor_token.label("token"),
            ArtifactRevision.action.label("action"),
            ArtifactRevision.artifact_id.label("artifact_id"),
            ArtifactRevision.actor_address.label("address"),
            cast(null(), String).label("subject"),
        )
        events = select(
            AuditEvent.at, AuditEvent.actor_user, AuditEvent.actor_token, AuditEvent.action,
            AuditEvent.artifact_id, AuditEvent.actor_address, AuditEvent.subject,
        )
        entries = union_all(changes, events).subquery()
        where = []
        if actor is not None:
            where.append(entries.c.actor == actor)
        if action is not None:
            where.append(entries.c.action == action)
        if artifact is not None:
            where.append(entries.c.artifact_id == artifact.upper())
        if since is not None:
            where.append(entries.c.at >= since)
        if until is not None:
            where.append(entries.c.at < until)
        total = self.session.scalar(select(func.count()).select_from(entries).where(*where)) or 0
        rows = self.session.execute(
            select(entries).where(*where).order_by(entries.c.at.desc()).offset((page - 1) * size).limit(size)
        )
        return [dict(row._mapping) for row in rows], total

    def sweep(self) -> None:
        """Forget what has expired: sessions, and failed sign-ins past their window."""
        now = utcnow()
        self.session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
        self.session.execute(delete(FailedSignIn).where(FailedSignIn.at <= now - timedelta(seconds=self.settings.window_seconds)))
        self.session.commit()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
