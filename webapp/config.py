"""Configuration defaults; every key can be overridden from the environment."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from webapp.artifacts.database import database_url
from webapp.artifacts.hierarchy import ArtifactHierarchy, declared_hierarchies
from webapp.artifacts.policy import Policy
from webapp.artifacts.schemas import loads_strict


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _labels(raw: str | None) -> dict[int, str] | None:
    """Parse ARTIFACT_LEVEL_LABELS: either JSON ({"0": "project"}) or "project,document,version"."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        return {int(level): str(label) for level, label in json.loads(raw).items()}
    return {level: label.strip() for level, label in enumerate(raw.split(",")) if label.strip()}


def _hosts(raw: str | None) -> list[str] | None:
    """TRUSTED_HOSTS: "store.example.com,.example.org" → a list; unset or blank → None (any host)."""
    hosts = [host.strip() for host in (raw or "").split(",") if host.strip()]
    return hosts or None


PROXY_HEADERS = ("X_FOR", "X_PROTO", "X_HOST", "X_PORT", "X_PREFIX")
ENVIRONMENTS = ("development", "production")


def environment_name(raw: str) -> str:
    """The environment's name in lower case; RuntimeError for a name this app does not know
    (a typo such as "prod" must not quietly run as development)."""
    name = raw.strip().lower()
    if name not in ENVIRONMENTS:
        raise RuntimeError(
            f"ARTIFACT_STORE_ENV={raw[:40]!r} is not an environment this app knows: "
            f"use one of {', '.join(ENVIRONMENTS)} (in any case)."
        )
    return name


def from_environment() -> dict[str, Any]:
    """Settings read from the process environment at app creation time."""
    env_name = environment_name(os.environ.get("ARTIFACT_STORE_ENV") or "development")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "ENV_NAME": env_name,
        # Requests for any other Host get a 400, so no URL the app builds (Location,
        # redirects) can name a host an attacker chose. None: any host.
        "TRUSTED_HOSTS": _hosts(os.environ.get("TRUSTED_HOSTS")),
        # Production is served over HTTPS (docs/deploying.md): the session cookie (CSRF
        # token, flashed messages) must never travel in clear.
        "SESSION_COOKIE_SECURE": env_name == "production",
        # A relative sqlite path resolves inside instance/ (Flask-SQLAlchemy 3).
        "SQLALCHEMY_DATABASE_URI": database_url(os.environ.get("DATABASE_URL", "sqlite:///artifacts.db")),
        "ARTIFACT_HIERARCHY": os.environ.get("ARTIFACT_HIERARCHY", "ml_pipeline"),
        # Hierarchies beyond (or replacing) the spec's three: JSON, or a JSON file's path;
        # unset: instance/hierarchies.json when it exists (see load_hierarchies).
        "ARTIFACT_HIERARCHIES": os.environ.get("ARTIFACT_HIERARCHIES") or None,
        # Change the default hierarchy's labels and depth (None: as declared).
        "ARTIFACT_LEVEL_LABELS": _labels(os.environ.get("ARTIFACT_LEVEL_LABELS")),
        "ARTIFACT_MAX_DEPTH": _int("ARTIFACT_MAX_DEPTH", 0) or None,
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 64 * 1024 * 1024),
        "MAX_JSON_DEPTH": _int("MAX_JSON_DEPTH", Policy.max_json_depth),
        "MAX_PAGE_SIZE": _int("MAX_PAGE_SIZE", Policy.max_page_size),
        # A CSV is read a block at a time: at both limits a worker peaks near 350 MB (docs/performance.md).
        "MAX_UPLOAD_BYTES": _int("MAX_UPLOAD_BYTES", Policy.max_upload_bytes),
        "FRAME_CACHE_BYTES": _int("FRAME_CACHE_BYTES", Policy.frame_cache_bytes),
        "MAX_TABLE_ROWS": _int("MAX_TABLE_ROWS", Policy.max_table_rows),
        "MAX_ITEM_DATA_BYTES": _int("MAX_ITEM_DATA_BYTES", Policy.max_item_data_bytes),
        # PostgreSQL connections each worker keeps (plus 10 more when busy): at least one per
        # thread, so no thread waits for a connection; gunicorn.conf.py sets it to its threads.
        "DATABASE_POOL_SIZE": _int("DATABASE_POOL_SIZE", 5),
        # Files: where their bytes live (empty: instance/blobs), how large one may be, and
        # how old an unused blob must be before gc-blobs deletes it (seconds).
        "BLOB_STORE_URL": os.environ.get("BLOB_STORE_URL", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "MAX_FILE_BYTES": _int("MAX_FILE_BYTES", Policy.max_file_bytes),
        "BLOB_GC_GRACE": _int("BLOB_GC_GRACE", Policy.blob_gc_grace_seconds),
        "AUTO_MIGRATE": os.environ.get("AUTO_MIGRATE", "1").lower() not in {"0", "false", "no"},
        # Accounts (docs/accounts.md): what anonymous users may do (none, read, write; checked
        # at start), whether /metrics needs a credential, how long a sign-in lasts (seconds),
        # and the failed sign-in limit, counted in Redis when a URL is given, else in the database.
        "AUTH_ANONYMOUS": os.environ.get("AUTH_ANONYMOUS", "none"),
        "METRICS_ANONYMOUS": os.environ.get("METRICS_ANONYMOUS", "0").lower() in {"1", "true", "yes"},
        "SESSION_LIFETIME": _int("SESSION_LIFETIME", 14 * 86400),
        "SIGN_IN_ATTEMPTS_PER_USER": _int("SIGN_IN_ATTEMPTS_PER_USER", 5),
        "SIGN_IN_ATTEMPTS_PER_ADDRESS": _int("SIGN_IN_ATTEMPTS_PER_ADDRESS", 20),
        "SIGN_IN_WINDOW": _int("SIGN_IN_WINDOW", 900),
        "RATE_LIMIT_STORAGE_URL": os.environ.get("RATE_LIMIT_STORAGE_URL") or os.environ.get("REDIS_URL", ""),
        # Behind a reverse proxy: how many proxies set each X-Forwarded-* header (0 = ignore it).
        **{f"PROXY_FIX_{header}": _int(f"PROXY_FIX_{header}", 0) for header in PROXY_HEADERS},
    }


HIERARCHIES_FILE = "hierarchies.json"


def load_hierarchies(value: Any, instance: Path) -> list[ArtifactHierarchy]:
    """The hierarchies ARTIFACT_HIERARCHIES declares: JSON text (a list), the path of a JSON
    file holding one, or already a list (of declarations or ArtifactHierarchy objects);
    None: instance/hierarchies.json if there is one. RuntimeError, at start, for anything
    wrong: a typo must not silently leave a hierarchy undeclared."""
    source = "ARTIFACT_HIERARCHIES"
    if value is None:
        path = instance / HIERARCHIES_FILE
        if not path.is_file():
            return []
        value, source = path, str(path)
    if isinstance(value, (str, Path)) and not str(value).lstrip().startswith(("[", "{")):
        path = Path(value)
        source = str(path)
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RuntimeError(f"ARTIFACT_HIERARCHIES: cannot read {path}: {error.strerror}") from None
    try:
        declarations = loads_strict(value) if isinstance(value, (str, Path)) else value
        if isinstance(declarations, list) and all(isinstance(h, ArtifactHierarchy) for h in declarations):
            return list(declarations)
        return declared_hierarchies(declarations)
    except ValueError as error:
        raise RuntimeError(f"{source}: {error} (see docs/configuration.md#hierarchies)") from None


MIN_SECRET_KEY_LENGTH = 32
MAKE_KEY = "Make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"


def check_secret_key(key: str, env_name: str) -> None:
    """In production, refuse a key too short to be secret ("dev", "changeme", …)."""
    if env_name == "production" and len(key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(
            f"SECRET_KEY is too short for production ({len(key)} characters, "
            f"at least {MIN_SECRET_KEY_LENGTH} needed). {MAKE_KEY}"
        )


def load_secret_key(instance: Path, env_name: str) -> str:
    """The key in instance/secret_key, created on first start; production must set SECRET_KEY.

    A generated key keeps the zero-set-up promise while still being secret and stable
    across restarts and gunicorn workers.
    """
    if env_name == "production":
        raise RuntimeError(f"ARTIFACT_STORE_ENV=production needs a SECRET_KEY in the environment. {MAKE_KEY}")
    path = instance / "secret_key"
    if not path.exists():
        # Write aside, then link into place: atomic, so concurrent workers agree on one key.
        draft = path.with_name(f".secret_key.{os.getpid()}")
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


class Defaults:
    """Safe development values; every setting is in docs/configuration.md."""

    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_SAMESITE = "Lax"  # no session cookie on cross-site posts and subresource requests
    DEFAULT_PAGE_SIZE = Policy.default_page_size
    AUTO_MIGRATE = True
    AUTH_ANONYMOUS = "none"  # secure by default: nothing without an account
    METRICS_ANONYMOUS = False
    SESSION_COOKIE_HTTPONLY = True
