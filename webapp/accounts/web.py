"""Pages of accounts: sign in and out, the set-up link, one's account and tokens, the
admin's users, grants (on a tree's page) and the audit log. Thin: the rules are in service.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from webapp.access import ADMIN, SESSION_KEY, SIGNED_IN, current_principal, get_accounts, requires, safe_next, sign_in_session
from webapp.artifacts.errors import ArtifactError
from webapp.artifacts.manager import normalize_id

from .errors import TooManyAttempts
from .service import GRANT_ROLES, ROLES, SCOPES

bp = Blueprint("accounts_web", __name__)
AUDIT_PAGE_SIZE = 50


def _form(name: str) -> str:
    value = request.form.get(name, "")
    return value if isinstance(value, str) else ""


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    accounts = get_accounts()
    if request.method == "GET":
        return render_template("accounts/login.html", next=target, no_users=not accounts.has_users())
    try:
        _, secret = accounts.sign_in(_form("name")[:200], _form("password"), request.remote_addr)
    except TooManyAttempts as error:
        response = current_app.make_response(
            (render_template("accounts/login.html", next=target, error=error.detail, name=_form("name")[:80]), 429)
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except ArtifactError as error:
        return render_template("accounts/login.html", next=target, error=error.detail, name=_form("name")[:80]), 401
    sign_in_session(secret)  # a fresh cookie session: nothing of the anonymous one carries over
    return redirect(target, 303)


@bp.post("/logout")
def logout() -> BaseResponse:
    secret = session.get(SESSION_KEY)
    if secret:
        get_accounts().sign_out(secret)
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("accounts_web.login"), 303)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Any:
    accounts = get_accounts()
    token = request.values.get("token", "")
    if not isinstance(token, str) or not accounts.setup_link_valid(token):
        return render_template("accounts/setup.html", invalid=True), 403
    if request.method == "GET":
        return render_template("accounts/setup.html", token=token)
    try:
        accounts.complete_setup(token, _form("name").strip(), _form("password"))
        _, secret = accounts.sign_in(_form("name").strip(), _form("password"), request.remote_addr)
    except ArtifactError as error:
        return render_template("accounts/setup.html", token=token, error=error.detail, name=_form("name")[:80]), 422
    sign_in_session(secret)
    flash("Welcome: you are the administrator. Create more accounts under Users.", "success")
    return redirect(url_for("web.artifact_index"), 303)


@bp.get("/account")
def account() -> str:
    principal = current_principal()
    assert principal is not None  # SIGNED_IN
    tokens = get_accounts().tokens(principal.user)
    scopes = [scope for scope, right in SCOPES.items() if right < ADMIN or principal.user.role == "admin"]
    return render_template("accounts/account.html", user=principal.user, tokens=tokens, scopes=scopes,
                           new_secret=session.pop("new_token_secret", None))


@bp.post("/account/password")
def change_password() -> Any:
    principal = current_principal()
    try:
        get_accounts().change_password(principal.user, _form("current_password"), _form("new_password"))
    except ArtifactError as error:
        flash(error.detail, "error")
        return redirect(url_for("accounts_web.account"), 303)
    flash("Your password is changed.", "success")
    return redirect(url_for("accounts_web.account"), 303)


@bp.post("/account/tokens")
def create_token() -> Any:
    principal = current_principal()
    expires = _form("expires_in").strip() or None
    try:
        _, secret = get_accounts().create_token(principal.user, _form("name"), _form("scope"), expires)
    except ArtifactError as error:
        flash(error.detail, "error")
        return redirect(url_for("accounts_web.account"), 303)
    session["new_token_secret"] = secret  # shown once, on the next page, then gone
    return redirect(url_for("accounts_web.account"), 303)


@bp.post("/account/tokens/<token_id>/revoke")
def revoke_token(token_id: str) -> Any:
    try:
        get_accounts().revoke_token(token_id[:40], by=current_principal())
    except ArtifactError as error:
        abort(404, error.detail)
    flash("The token is revoked.", "success")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("accounts_web.account"), 303)


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


@bp.route("/admin/users", methods=["GET", "POST"])
def users() -> Any:
    accounts = get_accounts()
    if request.method == "POST":
        try:
            accounts.create_user(_form("name").strip(), _form("password"), _form("role"))
            flash(f"User {_form('name').strip()} created.", "success")
        except ArtifactError as error:
            flash(error.detail, "error")
        return redirect(url_for("accounts_web.users"), 303)
    return render_template("accounts/users.html", users=accounts.users(), roles=list(ROLES), tokens=accounts.tokens())


@bp.post("/admin/users/<name>")
def change_user(name: str) -> Any:
    accounts = get_accounts()
    try:
        if "role" in request.form:
            accounts.set_role(name[:80], _form("role"))
        elif "disabled" in request.form:
            accounts.set_disabled(name[:80], _form("disabled") == "1")
        flash(f"User {name[:80]} changed.", "success")
    except ArtifactError as error:
        flash(error.detail, "error")
    return redirect(url_for("accounts_web.users"), 303)


@bp.post("/artifacts/<artifact_id>/grants")
def set_grant(artifact_id: str) -> Any:
    key = normalize_id(artifact_id)
    try:
        get_accounts().grant(_form("user").strip(), key, _form("role"))
        flash("Access granted.", "success")
    except ArtifactError as error:
        flash(error.detail, "error")
    return redirect(url_for("web.artifact_detail", artifact_id=key) + "#grants", 303)


@bp.post("/artifacts/<artifact_id>/grants/<int:grant_id>/delete")
def delete_grant(artifact_id: str, grant_id: int) -> Any:
    key = normalize_id(artifact_id)
    try:
        get_accounts().revoke_grant(grant_id)
        flash("The grant is removed.", "success")
    except ArtifactError as error:
        flash(error.detail, "error")
    return redirect(url_for("web.artifact_detail", artifact_id=key) + "#grants", 303)


@bp.get("/audit")
def audit() -> str:
    page = request.args.get("page", 1, type=int) or 1
    filters = {name: request.args.get(name) or None for name in ("actor", "action", "artifact")}
    entries, total = get_accounts().audit_page(page=max(1, min(page, 1_000_000)), size=AUDIT_PAGE_SIZE, **filters)
    pages = max(1, (total + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE)
    return render_template("accounts/audit.html", entries=entries, total=total, page=page, pages=pages, filters=filters)


def grants_view(artifact: Any) -> dict[str, Any] | None:
    """The grants section of a root's page, for an admin (None for anyone else, or a child)."""
    principal = g.get("principal")
    if artifact.parent_id is not None or principal is None or principal.right < ADMIN:
        return None
    accounts = get_accounts()
    return {"grants": accounts.grants(str(artifact.id)), "users": [u.name for u in accounts.users()], "roles": list(GRANT_ROLES)}


requires(SIGNED_IN, "accounts_web.account", "accounts_web.change_password", "accounts_web.create_token", "accounts_web.revoke_token")
requires(ADMIN, "accounts_web.users", "accounts_web.change_user", "accounts_web.set_grant", "accounts_web.delete_grant", "accounts_web.audit")


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    app.add_template_global(grants_view, "grants_view")
