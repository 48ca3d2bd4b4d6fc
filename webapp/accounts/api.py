"""The accounts API: a caller's tokens, the admin's grants and the audit log (problem+json errors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, current_app
from werkzeug.routing import BaseConverter, IntegerConverter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from webapp.access import ADMIN, SIGNED_IN, current_principal, get_accounts, requires
from webapp.api.openapi import operation, reply
from webapp.api.parsing import body, query
from webapp.api.schemas import parse_moment
from webapp.artifacts.schemas import ArtifactId

from .models import ApiToken, TreeGrant

bp = Blueprint("accounts_api", __name__)


class TokenSegment(BaseConverter):
    regex = r"[0-9A-Za-z]{1,40}"


class GrantNumber(IntegerConverter):
    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


bp.record_once(lambda state: state.app.url_map.converters.update(token=TokenSegment, grant=GrantNumber))
NO_CREDENTIAL = "No credential, or an unknown, revoked or expired token (`WWW-Authenticate: Bearer`)"


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("token", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*$", description="A label for the token")
    scope: Literal["read", "write", "admin"] = Field(description="What the token may do; never more than its user")
    expires_in: str | None = Field(
        None, pattern=r"^[1-9][0-9]{0,5}[mhdw]$", description="How long it lasts: 30m, 12h, 90d, 2w (null: no expiry)"
    )


class TokenOut(BaseModel):
    id: str
    name: str
    scope: str
    user: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class NewToken(TokenOut):
    secret: str = Field(description="Send it as `Authorization: Bearer <secret>`; shown only in this answer")


class TokenList(BaseModel):
    items: list[TokenOut]
    total: int


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=80, description="The user's name")
    root_id: ArtifactId = Field(description="The root of the tree")
    role: Literal["viewer", "editor", "none"] = Field(description="The user's role on that tree, in place of theirs")


class GrantOut(BaseModel):
    id: int
    user: str
    root_id: str
    role: str
    created_at: datetime


class GrantList(BaseModel):
    items: list[GrantOut]
    total: int


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=1_000_000, description="1-based page number")
    size: int = Field(50, ge=1, le=1000, description="Entries per page")
    actor: str | None = Field(None, max_length=200, pattern=r"^[^\x00]*$", description="Only this user's")
    action: str | None = Field(None, max_length=32, pattern=r"^[^\x00]*$", description="Only this action (created, sign-in, …)")
    artifact: ArtifactId | None = Field(None, description="Only this artifact's")
    since: datetime | None = Field(None, description="From this moment on (ISO 8601; `Z`, an offset, or none for UTC)")
    until: datetime | None = Field(None, description="Before this moment (as `since`)")

    _moments = field_validator("since", "until", mode="before")(parse_moment)  # text only: "0.5" is no moment


class AuditEntry(BaseModel):
    at: datetime
    actor: str | None
    token: str | None
    action: str
    artifact_id: str | None
    address: str | None
    subject: str | None = Field(None, description="An account event's user, token or grant")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    page: int
    size: int
    pages: int


def _json(model: BaseModel, status: int = 200) -> Response:
    return current_app.response_class(model.model_dump_json(), status=status, mimetype="application/json")


def _token_out(token: ApiToken, user: str, model: type[TokenOut] = TokenOut, **extra: Any) -> Any:
    return model(id=token.id, name=token.name, scope=token.scope, user=user, created_at=token.created_at,
                 last_used_at=token.last_used_at, expires_at=token.expires_at, **extra)


def _grant_out(grant: TreeGrant, user: str) -> GrantOut:
    return GrantOut(id=grant.id, user=user, root_id=grant.root_id, role=grant.role, created_at=grant.created_at)


AUTH_ERRORS = {401: NO_CREDENTIAL}
ADMIN_ERRORS = {401: NO_CREDENTIAL, 403: "The credential is not an administrator's (or a token without the admin scope)"}


@bp.get("/tokens")
@operation("The caller's API tokens (never their secrets)", responses={200: reply("The tokens", TokenList), **AUTH_ERRORS})
def list_tokens() -> Response:
    principal = current_principal()
    items = [_token_out(token, name) for token, name in get_accounts().tokens(principal.user)]
    return _json(TokenList(items=items, total=len(items)))


@bp.post("/tokens")
@operation(
    "Create an API token for the caller; the answer holds its secret, shown once",
    body=TokenIn,
    responses={201: reply("Created", NewToken), 400: "The body is not valid JSON", 415: "Not application/json",
               422: "Bad field, or a scope above the user's role", **AUTH_ERRORS},
)
def create_token() -> Response:
    principal = current_principal()
    request_body = body(TokenIn)
    token, secret = get_accounts().create_token(principal.user, request_body.name, request_body.scope, request_body.expires_in)
    return _json(_token_out(token, principal.user.name, NewToken, secret=secret), 201)


@bp.delete("/tokens/<token:token_id>")
@operation("Revoke a token at once (the caller's own; an admin's: anyone's)",
           responses={204: "Revoked", 404: "No such token of the caller's", **AUTH_ERRORS})
def revoke_token(token_id: str) -> Response:
    get_accounts().revoke_token(token_id[:40], by=current_principal())
    return Response(status=204)


@bp.get("/grants")
@operation("Every per-tree grant (admin)", responses={200: reply("The grants", GrantList), **ADMIN_ERRORS})
def list_grants() -> Response:
    items = [_grant_out(grant, name) for grant, name in get_accounts().grants()]
    return _json(GrantList(items=items, total=len(items)))


@bp.post("/grants")
@operation(
    "Give a user a role on one root tree and everything under it (admin)",
    body=GrantIn,
    responses={201: reply("Granted", GrantOut), 400: "The body is not valid JSON", 404: "No such user or artifact",
               415: "Not application/json", 422: "Bad field, or the artifact is not a root", **ADMIN_ERRORS},
)
def create_grant() -> Response:
    request_body = body(GrantIn)
    grant = get_accounts().grant(request_body.user, str(request_body.root_id), request_body.role)
    return _json(_grant_out(grant, request_body.user), 201)


@bp.delete("/grants/<grant:grant_id>")
@operation("Remove a grant (admin)", responses={204: "Removed", 404: "No such grant", **ADMIN_ERRORS})
def delete_grant(grant_id: int) -> Response:
    get_accounts().revoke_grant(grant_id)
    return Response(status=204)


@bp.get("/audit")
@operation(
    "Who did what, when, from where (admin): artifact changes and account events, newest first",
    query=AuditQuery,
    responses={200: reply("One page", AuditPage), 422: "Bad query parameter", **ADMIN_ERRORS},
)
def audit() -> Response:
    params = query(AuditQuery)
    entries, total = get_accounts().audit_page(
        page=params.page, size=params.size, actor=params.actor, action=params.action,
        artifact=str(params.artifact) if params.artifact else None, since=params.since, until=params.until,
    )
    pages = max(1, (total + params.size - 1) // params.size)
    return _json(AuditPage(items=[AuditEntry(**entry) for entry in entries], total=total, page=params.page,
                           size=params.size, pages=pages))


requires(SIGNED_IN, "accounts_api.list_tokens", "accounts_api.create_token", "accounts_api.revoke_token")
requires(ADMIN, "accounts_api.list_grants", "accounts_api.create_grant", "accounts_api.delete_grant", "accounts_api.audit")
