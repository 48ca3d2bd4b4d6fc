"""Who sends each request, and whether they may: one place, before any view runs.

Every endpoint needs a right unless it is listed here as public: read for safe methods,
write for the others, except the reads that are sent as POST bodies (READ_POSTS) and the
admin endpoints (ADMIN). A route nobody listed therefore refuses anonymous users: it can
be forgotten here only in the safe direction (tests/test_access.py walks the URL map).

Credentials, in order: `Authorization: Bearer <token>`, then the session cookie of a signed-in
browser. The API takes the cookie for an unsafe method only with the CSRF header
(X-CSRFToken, as the pages send it), so a cross-site form can never write through it.
Without either, AUTH_ANONYMOUS says what anonymous users may do (default: nothing).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import ValidationError, validate_csrf
from sqlalchemy.exc import SQLAlchemyError

from webapp.accounts import AccountSettings, Accounts, Principal
from webapp.artifacts.actor import ADMIN, NONE, READ, WRITE, Actor, TreeAccess
from webapp.artifacts.errors import PROBLEM_BASE
from webapp.errors import problem, render_error_page, wants_problem_json
from webapp.extensions import db
from webapp.security import SAFE_METHODS

PUBLIC = frozenset({"static", "health.health", "accounts_web.login", "accounts_web.setup", "accounts_web.logout"})
READ_POSTS = frozenset({"api.build_tree", "api.expand_artifact"})
# Pages whose GET shows a form that changes something: a viewer is refused them at once,
# rather than after filling them in.
WRITE_PAGES = frozenset({"web.artifact_new", "web.artifact_edit", "web.artifact_move", "web.artifact_delete", "frames.upload_csv"})
SIGNED_IN = "signed-in"  # any user, whatever their role: their own account and tokens
ANONYMOUS_RIGHTS = {"none": NONE, "read": READ, "write": WRITE}
SESSION_KEY = "account_session"
UNAUTHORIZED_TYPE = PROBLEM_BASE + "unauthorized"
FORBIDDEN_TYPE = PROBLEM_BASE + "forbidden"

# Endpoints whose blueprints declare their own need (webapp/accounts/api.py, web.py).
REQUIREMENTS: dict[str, int | str] = {}


def requires(need: int | str, *endpoints: str) -> None:
    """Record what `endpoints` need (READ, WRITE, ADMIN or SIGNED_IN), whatever their method."""
    for endpoint in endpoints:
        REQUIREMENTS[endpoint] = need


def need_of(endpoint: str | None, method: str) -> int | str | None:
    """What a request for `endpoint` needs; None: nothing (public)."""
    if endpoint in PUBLIC:
        return None
    if endpoint == "observability.metrics":
        return None if current_app.config["METRICS_ANONYMOUS"] else SIGNED_IN
    if endpoint in REQUIREMENTS:
        return REQUIREMENTS[endpoint]
    if endpoint in WRITE_PAGES:
        return WRITE
    if method in SAFE_METHODS or endpoint in READ_POSTS:
        return READ
    return WRITE


def get_accounts() -> Accounts:
    """The request's (or CLI command's) accounts service, on Flask-SQLAlchemy's session."""
    if "accounts" not in g:
        g.accounts = Accounts(db.session(), current_app.extensions["account_settings"], g.get("actor", Actor()))
    return g.accounts


def current_principal() -> Principal | None:
    return g.get("principal")


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _cookie_counts() -> bool:
    """A session cookie authenticates a page, a safe API read, or an API write with the CSRF header."""
    if not request.path.startswith("/api/") or request.method in SAFE_METHODS:
        return True
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        return False
    return True


def _authenticate() -> Response | None:
    """Set g.principal, g.actor and g.tree_access; a 401 for a bad bearer token."""
    accounts = Accounts(db.session(), current_app.extensions["account_settings"])
    principal: Principal | None = None
    secret = _bearer()
    if request.headers.get("Authorization") and secret is None:
        return _unauthorized("The Authorization header must be `Bearer <token>`.", invalid=True)
    if secret:
        principal = accounts.token_principal(secret)
        if principal is None:
            return _unauthorized("This token is unknown, revoked or expired.", invalid=True)
    elif SESSION_KEY in session and _cookie_counts():
        user = accounts.session_user(session[SESSION_KEY])
        if user is None:
            session.pop(SESSION_KEY, None)  # ended, expired or disabled: the cookie is refused
        else:
            principal = Principal(user)
    g.principal = principal
    g.actor = Actor(
        principal.user.name if principal else None,
        principal.token.name if principal and principal.token else None,
        request.remote_addr,
    )
    anonymous = current_app.config["AUTH_ANONYMOUS_RIGHT"]
    g.tree_access = accounts.tree_access(principal, anonymous)
    return None


# Read by machines, not people: a missing credential is a 401 to them, never a sign-in page.
MACHINE_ENDPOINTS = frozenset({"observability.metrics"})


def _unauthorized(detail: str, *, invalid: bool = False) -> Response:
    for_people = not wants_problem_json() or request.endpoint == "api.api_docs"  # pages, and the docs' page
    if not invalid and for_people and request.endpoint not in MACHINE_ENDPOINTS:
        if request.headers.get("HX-Request"):  # a fragment: the whole page goes to sign in, not the fragment's place
            return Response(status=204, headers={"HX-Redirect": url_for("accounts_web.login", next=_referrer_path())})
        return redirect(url_for("accounts_web.login", next=_here()))
    response = problem(401, "Unauthorized", detail, UNAUTHORIZED_TYPE)
    response.headers["WWW-Authenticate"] = 'Bearer realm="artifact-store"' + (', error="invalid_token"' if invalid else "")
    return response


def _referrer_path() -> str:
    """The page a fragment was asked for from (htmx sends it), as a path of this site."""
    parts = urlsplit(request.referrer or "")
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else "")) if parts.netloc == request.host else "/"


def _forbidden(detail: str) -> Response:
    if wants_problem_json():
        return problem(403, "Forbidden", detail, FORBIDDEN_TYPE)
    return current_app.make_response(render_error_page(403, "Forbidden", detail))


def _here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def safe_next(target: str | None) -> str:
    """A `?next=` that stays on this site (a path, never `//host` or `https://…`), else the home page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.artifact_index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("web.artifact_index")
    return target


def _check_access() -> Response | None:
    if request.routing_exception is not None:
        return None  # a 404 or 405 says nothing about what exists
    need = need_of(request.endpoint, request.method)
    if need is None:
        return None
    refused = _authenticate()
    if refused is not None:
        return refused
    principal: Principal | None = g.principal
    access: TreeAccess = g.tree_access
    if need == SIGNED_IN:
        if principal is None:
            return _unauthorized("Sign in, or send an API token: `Authorization: Bearer <token>`.")
        return None
    # A viewer with an editor grant on one tree may send writes: the tree's own right is
    # checked by the use case (webapp/artifacts/manager.py), on the tree it changes.
    right = access.highest if need == WRITE else min(access.default, access.cap)
    if right >= need:  # type: ignore[operator]
        return None
    if principal is None:
        return _unauthorized("Sign in, or send an API token: `Authorization: Bearer <token>`.")
    wanted = {READ: "read", WRITE: "write", ADMIN: "administer"}[need]  # type: ignore[index]
    via = f"token {principal.token.name!r} ({principal.token.scope})" if principal.token else f"{principal.user.name} ({principal.user.role})"
    return _forbidden(f"{via} may not {wanted} here.")


def sign_in_session(secret: str) -> None:
    """Start a fresh cookie session (a new CSRF token too) for a session just signed in."""
    session.clear()
    session[SESSION_KEY] = secret
    session.permanent = True


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, marked `Secure` on every request that came over HTTPS (behind a
    proxy: with PROXY_FIX_X_PROTO), not only when SESSION_COOKIE_SECURE says so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


SETUP_LINK_ISSUED = "ARTIFACT_STORE_SETUP_LINK_ISSUED"  # set by gunicorn.conf.py once its master printed the link


def announce_setup_link(app: Flask) -> None:
    """While no account exists, log a new one-time set-up link (as Jupyter prints its token).

    Under gunicorn the master prints it once (its `init-db` run) and the workers, seeing
    SETUP_LINK_ISSUED, keep quiet: a new link from each worker would void the others'."""
    if os.environ.get(SETUP_LINK_ISSUED):
        return
    with app.app_context():
        try:
            secret = Accounts(db.session(), app.extensions["account_settings"]).issue_setup_link()
        except SQLAlchemyError as error:  # no accounts tables yet (AUTO_MIGRATE=0), or the database is down
            db.session.rollback()
            app.logger.info("No set-up link issued: %s", getattr(error, "orig", None) or error)
            return
        finally:
            db.session.remove()
    if secret:
        app.logger.warning(
            "No account exists yet. Open /setup?token=%s on this server (for `flask run`: "
            "http://127.0.0.1:5000/setup?token=%s) to create the administrator; the link works once. "
            "Or: flask --app webapp create-user NAME --role admin",
            secret, secret,
        )


def init_app(app: Flask) -> None:
    raw = str(app.config.get("AUTH_ANONYMOUS", "none")).strip().lower()
    if raw not in ANONYMOUS_RIGHTS:
        raise RuntimeError(f"AUTH_ANONYMOUS={raw[:40]!r}: use none, read or write (docs/configuration.md#accounts).")
    app.config["AUTH_ANONYMOUS_RIGHT"] = ANONYMOUS_RIGHTS[raw]
    app.extensions["account_settings"] = AccountSettings.from_config(app.config)
    app.permanent_session_lifetime = app.extensions["account_settings"].session_seconds
    app.session_interface = SessionCookies()
    # Right after the Host check (webapp/security.py), before CSRFProtect: an anonymous
    # form post is sent to the login page, not told its CSRF token is missing.
    app.before_request_funcs.setdefault(None, []).insert(1, _check_access)

    @app.context_processor
    def signed_in_user() -> dict[str, object]:
        principal = g.get("principal")
        return {"current_user": principal.user if principal else None}
