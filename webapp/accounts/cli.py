"""Account commands: `flask --app webapp create-user | create-token | revoke-token | grant`.
They run as no user (the shell's owner already holds the database)."""

from __future__ import annotations

import sys

import click
from flask import Flask

from webapp.artifacts.errors import ArtifactError
from webapp.extensions import db

from .service import GRANT_ROLES, ROLES, SCOPES, Accounts


def _accounts(app: Flask) -> Accounts:
    return Accounts(db.session(), app.extensions["account_settings"])


def _fail(error: ArtifactError) -> None:
    raise click.ClickException(error.detail)


def register_commands(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("name")
    @click.option("--role", type=click.Choice(list(ROLES)), required=True)
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
    def create_user(name: str, role: str, password_stdin: bool) -> None:
        """Create an account (the first admin too, instead of the set-up link)."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = _accounts(app).create_user(name, password, role)
        except ArtifactError as error:
            _fail(error)
        click.echo(f"Created {user.name} ({user.role}).")

    @app.cli.command("create-token")
    @click.argument("user")
    @click.option("--name", default="token", help="A label for the token.")
    @click.option("--scope", type=click.Choice(list(SCOPES)), required=True)
    @click.option("--expires", default=None, help="How long it lasts: 30m, 12h, 90d, 2w (default: no expiry).")
    def create_token(user: str, name: str, scope: str, expires: str | None) -> None:
        """Create an API token; its secret is the last line printed (shown only this once)."""
        accounts = _accounts(app)
        try:
            token, secret = accounts.create_token(accounts.user(user), name, scope, expires)
        except ArtifactError as error:
            _fail(error)
        expiry = token.expires_at.isoformat() if token.expires_at else "never"
        click.echo(f"Token {token.id} ({token.name}, {token.scope}) for {user}, expires {expiry}. Its secret, shown once:")
        click.echo(secret)

    @app.cli.command("revoke-token")
    @click.argument("token_id")
    def revoke_token(token_id: str) -> None:
        """Revoke an API token at once."""
        try:
            _accounts(app).revoke_token(token_id)
        except ArtifactError as error:
            _fail(error)
        click.echo(f"Revoked token {token_id.upper()}.")

    @app.cli.command("grant")
    @click.argument("user")
    @click.argument("root_id")
    @click.option("--role", type=click.Choice(list(GRANT_ROLES)), required=True)
    def grant(user: str, root_id: str, role: str) -> None:
        """Give USER a role on the tree of ROOT_ID (none: they do not see it at all)."""
        try:
            made = _accounts(app).grant(user, root_id, role)
        except ArtifactError as error:
            _fail(error)
        click.echo(f"{user} is {made.role} on the tree {made.root_id}.")
