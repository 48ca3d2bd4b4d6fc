"""The account commands: create-user, create-token (the secret on the last line), revoke-token, grant."""

from __future__ import annotations

import pytest

from webapp.accounts import Accounts
from webapp.extensions import db

pytestmark = pytest.mark.app_config(AUTH_ANONYMOUS="none")
API = "/api/v1"


def test_create_user_reads_the_password_from_stdin_and_can_sign_in(runner, client):
    result = runner.invoke(args=["create-user", "ada", "--role", "admin", "--password-stdin"], input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "Created ada (admin)" in result.output and "a long password" not in result.output
    assert client.post("/login", data={"name": "ada", "password": "a long password"}).status_code == 303
    assert client.get("/admin/users").status_code == 200


def test_create_user_prompts_twice_without_stdin(runner, app):
    result = runner.invoke(args=["create-user", "eve", "--role", "editor"], input="a long password\na long password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert Accounts(db.session()).user("eve").role == "editor"
        db.session.remove()


def test_create_user_refuses_a_short_password_and_a_taken_name(runner):
    short = runner.invoke(args=["create-user", "ada", "--role", "admin", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "8 to 1024 characters" in short.output
    runner.invoke(args=["create-user", "ada", "--role", "admin", "--password-stdin"], input="a long password\n")
    taken = runner.invoke(args=["create-user", "ada", "--role", "viewer", "--password-stdin"], input="a long password\n")
    assert taken.exit_code != 0 and "exists already" in taken.output


def test_create_token_prints_the_secret_last_and_revoke_token_ends_it(runner, client):
    runner.invoke(args=["create-user", "eve", "--role", "editor", "--password-stdin"], input="a long password\n")
    result = runner.invoke(args=["create-token", "eve", "--name", "ci", "--scope", "write", "--expires", "12h"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post(f"{API}/artifacts", json={"data": {"name": "from ci"}}, headers=headers)
    assert created.status_code == 201
    history = client.get(f"{API}/artifacts/{created.get_json()['id']}/$history", headers=headers).get_json()
    assert history["items"][0]["actor"]["user"] == "eve" and history["items"][0]["actor"]["token"] == "ci"
    token_id = client.get(f"{API}/tokens", headers=headers).get_json()["items"][0]["id"]
    assert token_id in result.output
    revoked = runner.invoke(args=["revoke-token", token_id])
    assert revoked.exit_code == 0, revoked.output
    assert client.get(f"{API}/artifacts", headers=headers).status_code == 401
    assert runner.invoke(args=["revoke-token", token_id]).exit_code != 0  # gone


@pytest.mark.parametrize("expires", ["0m", "1y", "12", "999999w"])
def test_create_token_refuses_a_bad_duration(runner, expires):
    runner.invoke(args=["create-user", "eve", "--role", "editor", "--password-stdin"], input="a long password\n")
    result = runner.invoke(args=["create-token", "eve", "--scope", "read", "--expires", expires])
    assert result.exit_code != 0 and ("is not a duration" in result.output or "at most 5 years" in result.output)
    assert "ast_" not in result.output  # no token was made


def test_grant_hides_a_tree_from_a_user(runner, client, make_artifact):
    hidden, shown = make_artifact(name="hidden"), make_artifact(name="shown")
    runner.invoke(args=["create-user", "vic", "--role", "viewer", "--password-stdin"], input="a long password\n")
    secret = runner.invoke(args=["create-token", "vic", "--scope", "read"]).output.strip().splitlines()[-1]
    result = runner.invoke(args=["grant", "vic", str(hidden.id).lower(), "--role", "none"])
    assert result.exit_code == 0, result.output
    assert f"vic is none on the tree {hidden.id}" in result.output
    listing = client.get(f"{API}/artifacts", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert [item["id"] for item in listing["items"]] == [str(shown.id)]
    unknown = runner.invoke(args=["grant", "nobody", str(hidden.id), "--role", "viewer"])
    assert unknown.exit_code != 0 and "not found" in unknown.output
