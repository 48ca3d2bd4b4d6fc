"""Accounts and access (issue 11): secure by default, sign-in, tokens, roles, per-tree grants,
401/403, CSRF for cookie use of the API, the rate limit, the set-up link, attribution, audit."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_module
from sqlalchemy import update

from tests.support.frames import sample_csv
from webapp import create_app
from webapp.accounts import Accounts, ApiToken
from webapp.accounts.limits import RedisCounter
from webapp.artifacts import ArtifactValidationError
from webapp.artifacts.models import utcnow
from webapp.extensions import db

pytestmark = pytest.mark.app_config(AUTH_ANONYMOUS="none", METRICS_ANONYMOUS=False)

API = "/api/v1"
MISSING = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
PASSWORD = "correct horse battery"


def accounts_of(app: Any) -> Accounts:
    return Accounts(db.session(), app.extensions["account_settings"])


@pytest.fixture
def people(app: Any) -> dict[str, str]:
    """A user of each role, and a token of each with their own role's scope: {name: secret}."""
    secrets = {}
    with app.app_context():
        accounts = accounts_of(app)
        for name, role, scope in (("ada", "admin", "admin"), ("eve", "editor", "write"), ("vic", "viewer", "read")):
            user = accounts.create_user(name, PASSWORD, role)
            secrets[name] = accounts.create_token(user, f"{name}-token", scope, None)[1]
        db.session.remove()
    return secrets


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create(client: Any, secret: str, parent: str | None = None, **data: Any) -> str:
    response = client.post(f"{API}/artifacts", json={"parent_id": parent, "data": data or {"name": "x"}}, headers=bearer(secret))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def sign_in(client: Any, name: str, password: str = PASSWORD, next: str | None = None) -> Any:
    return client.post("/login", data={"name": name, "password": password, **({"next": next} if next else {})})


def csrf_of(client: Any) -> str:
    page = client.get("/account").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


# Secure by default: the URL map walk ----------------------------------------------------------

PUBLIC_ENDPOINTS = {"static", "health.health", "accounts_web.login", "accounts_web.setup", "accounts_web.logout"}
SAMPLE_VALUES = {"artifact_id": MISSING, "name": "a.txt", "revision": 1, "token_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
                 "grant_id": 1, "filename": "css/app.css"}


def test_every_route_but_the_public_ones_refuses_an_anonymous_request(app, client):
    """A route added later without thought is refused too: the need defaults to read or write."""
    checked = 0
    for rule in app.url_map.iter_rules():
        url = rule.build({name: SAMPLE_VALUES[name] for name in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if rule.endpoint in PUBLIC_ENDPOINTS:
                assert "WWW-Authenticate" not in response.headers, (method, url)
                assert not response.headers.get("Location", "").startswith("/login?"), (method, url)
                continue
            checked += 1
            if (url.startswith(API) and rule.endpoint != "api.api_docs") or url == "/metrics":
                assert response.status_code == 401, (method, url, response.status_code)
                assert response.mimetype == "application/problem+json"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            else:
                assert response.status_code == 302, (method, url, response.status_code)
                assert response.headers["Location"].startswith("/login?next=")
    assert checked > 60  # the walk did reach the app's routes (docs and OpenAPI document included)


def test_the_public_routes_answer_anonymous_users(client):
    assert client.get("/health").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/setup?token=wrong").status_code == 403  # the page, saying the link is not valid
    assert client.post("/logout").status_code == 303


def test_metrics_need_a_credential_unless_metrics_anonymous(app, app_config, client, people):
    refused = client.get("/metrics")  # a scraper is told, not sent to a sign-in page
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.content_type == "application/problem+json"
    assert client.get("/metrics", headers=bearer(people["vic"])).status_code == 200
    opened = create_app({**app_config, "METRICS_ANONYMOUS": True})
    assert opened.test_client().get("/metrics").status_code == 200


def test_auth_anonymous_read_opens_reads_only(app_config, people):
    opened = create_app({**app_config, "AUTH_ANONYMOUS": "read"})
    client = opened.test_client()
    assert client.get(f"{API}/artifacts").status_code == 200
    assert client.get("/").status_code == 200
    refused = client.post(f"{API}/artifacts", json={"data": {}})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(f"{API}/artifacts/$tree", json={"root_id": MISSING}).status_code == 404  # a read sent as POST


def test_an_unknown_auth_anonymous_value_is_refused_at_start(app_config):
    with pytest.raises(RuntimeError, match="AUTH_ANONYMOUS"):
        create_app({**app_config, "AUTH_ANONYMOUS": "yes"})


# Roles and token scopes ---------------------------------------------------------------------


def test_each_role_allows_exactly_its_rights(client, people):
    root = create(client, people["eve"])
    assert client.get(f"{API}/artifacts/{root}", headers=bearer(people["vic"])).status_code == 200
    assert client.post(f"{API}/artifacts/$tree", json={"root_id": root}, headers=bearer(people["vic"])).status_code == 200
    assert client.post(f"{API}/artifacts/$expand", json={"artifact_id": root}, headers=bearer(people["vic"])).status_code == 200
    refused = client.put(f"{API}/artifacts/{root}", json={"data": {"name": "y"}}, headers=bearer(people["vic"]))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"] == "urn:artifact-store:error:forbidden"
    assert client.delete(f"{API}/artifacts/{root}", headers=bearer(people["vic"])).status_code == 403
    assert client.get(f"{API}/artifacts/{root}", headers=bearer(people["vic"])).get_json()["data"] == {"name": "x"}  # nothing changed
    assert client.put(f"{API}/artifacts/{root}", json={"data": {"name": "y"}}, headers=bearer(people["eve"])).status_code == 200
    for path in ("/grants", "/audit"):
        assert client.get(API + path, headers=bearer(people["eve"])).status_code == 403
        assert client.get(API + path, headers=bearer(people["ada"])).status_code == 200


def test_a_token_never_has_more_rights_than_its_scope_or_its_user(app, client, people):
    with app.app_context():
        accounts = accounts_of(app)
        read_only = accounts.create_token(accounts.user("ada"), "reader", "read", None)[1]
        eve = accounts.user("eve")
        with pytest.raises(ArtifactValidationError, match="more rights than its user"):
            accounts.create_token(eve, "too much", "admin", None)
        db.session.remove()
    assert client.get(f"{API}/artifacts", headers=bearer(read_only)).status_code == 200
    assert client.post(f"{API}/artifacts", json={"data": {}}, headers=bearer(read_only)).status_code == 403
    assert client.get(f"{API}/audit", headers=bearer(read_only)).status_code == 403
    refused = client.post(f"{API}/tokens", json={"name": "up", "scope": "admin"}, headers=bearer(people["eve"]))
    assert refused.status_code == 422
    # A user demoted after the token was made: the token follows the user's new role.
    with app.app_context():
        accounts_of(app).set_role("eve", "viewer")
        db.session.remove()
    assert client.post(f"{API}/artifacts", json={"data": {}}, headers=bearer(people["eve"])).status_code == 403


def test_tokens_expire_and_revoke_at_once(app, client, people):
    made = client.post(f"{API}/tokens", json={"name": "ci", "scope": "write", "expires_in": "30m"}, headers=bearer(people["eve"]))
    assert made.status_code == 201
    token = made.get_json()
    assert token["secret"].startswith("ast_") and token["expires_at"] is not None
    listed = client.get(f"{API}/tokens", headers=bearer(people["eve"])).get_json()
    assert {t["name"] for t in listed["items"]} == {"eve-token", "ci"}
    assert all("secret" not in t for t in listed["items"])
    assert client.get(f"{API}/artifacts", headers=bearer(token["secret"])).status_code == 200
    with app.app_context():  # half an hour later
        db.session.execute(update(ApiToken).where(ApiToken.id == token["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()
    expired = client.get(f"{API}/artifacts", headers=bearer(token["secret"]))
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    # Someone else's token is as missing as an unknown one; its owner revokes it at once.
    mine = client.get(f"{API}/tokens", headers=bearer(people["vic"])).get_json()["items"][0]["id"]
    assert client.delete(f"{API}/tokens/{mine}", headers=bearer(people["eve"])).status_code == 404
    assert client.delete(f"{API}/tokens/{mine}", headers=bearer(people["vic"])).status_code == 204
    assert client.get(f"{API}/artifacts", headers=bearer(people["vic"])).status_code == 401


def test_401_and_403_are_problem_documents(client, people):
    missing = client.get(f"{API}/artifacts")
    assert missing.status_code == 401 and missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="artifact-store"'
    assert missing.get_json()["type"] == "urn:artifact-store:error:unauthorized"
    wrong = client.get(f"{API}/artifacts", headers=bearer("ast_not-a-token"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    basic = client.get(f"{API}/artifacts", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    forbidden = client.post(f"{API}/artifacts", json={"data": {}}, headers=bearer(people["vic"]))
    assert forbidden.status_code == 403 and forbidden.get_json()["status"] == 403


# Per-tree grants ----------------------------------------------------------------------------


@pytest.fixture
def trees(app, client, people) -> dict[str, str]:
    """Two trees made by the editor; the viewer may not see `secret` (and its child) at all."""
    secret = create(client, people["eve"], name="secret tree", project="alpha")
    child = create(client, people["eve"], parent=secret, name="secret child", project="alpha")
    public = create(client, people["eve"], name="open tree", project="alpha")
    granted = client.post(f"{API}/grants", json={"user": "vic", "root_id": secret, "role": "none"}, headers=bearer(people["ada"]))
    assert granted.status_code == 201
    return {"secret": secret, "child": child, "public": public}


def _same_as_missing(response: Any, missing: Any, hidden: str) -> None:
    """The same status and body, but for the id itself."""
    assert response.status_code == missing.status_code == 404
    assert response.get_data(as_text=True).replace(hidden, "X") == missing.get_data(as_text=True).replace(MISSING, "X")


def test_a_hidden_tree_is_left_out_of_every_listing_total_and_search(client, people, trees):
    vic = bearer(people["vic"])
    listing = client.get(f"{API}/artifacts", headers=vic).get_json()
    assert [item["id"] for item in listing["items"]] == [trees["public"]] and listing["total"] == 1
    assert client.get(f"{API}/artifacts?roots=true", headers=vic).get_json()["total"] == 1
    assert client.get(f"{API}/artifacts?level=1", headers=vic).get_json()["total"] == 0
    assert client.get(f"{API}/artifacts?hierarchy=ml_pipeline", headers=vic).get_json()["total"] == 1
    assert client.get(f"{API}/artifacts?parent_id={trees['secret']}", headers=vic).get_json()["total"] == 0
    searched = client.get(f"{API}/artifacts?filter=data.project = 'alpha'&facets=data.name", headers=vic).get_json()
    assert searched["total"] == 1 and [v["value"] for v in searched["facets"]["data.name"]] == ["open tree"]
    assert client.get(f"{API}/artifacts?q=secret", headers=vic).get_json()["total"] == 0
    hierarchies = client.get(f"{API}/hierarchies", headers=vic).get_json()["items"]
    assert next(h for h in hierarchies if h["name"] == "ml_pipeline")["artifacts"] == 1
    # The editor, without a grant, sees all of it.
    assert client.get(f"{API}/artifacts", headers=bearer(people["eve"])).get_json()["total"] == 3


def test_an_unreadable_artifact_answers_exactly_like_a_missing_one(client, people, trees):
    vic = bearer(people["vic"])
    for path in ("", "/$tree", "/$expand", "/$history", "/files", "/frame"):
        missing = client.get(f"{API}/artifacts/{MISSING}{path}", headers=vic)
        for hidden in (trees["secret"], trees["child"]):
            _same_as_missing(client.get(f"{API}/artifacts/{hidden}{path}", headers=vic), missing, hidden)
    missing = client.post(f"{API}/artifacts/$tree", json={"root_id": MISSING}, headers=vic)
    _same_as_missing(client.post(f"{API}/artifacts/$tree", json={"root_id": trees["secret"]}, headers=vic), missing, trees["secret"])
    compared = client.get(f"{API}/artifacts/$compare?ids={trees['public']},{trees['child']}", headers=vic)
    assert compared.status_code == 404
    # Pages too: a hidden artifact's page is the missing one's.
    assert client.get(f"/artifacts/{trees['child']}", headers=vic).status_code == 404


def test_hidden_tables_and_files_are_not_found(client, people, trees):
    eve = bearer(people["eve"])
    csv = client.post(f"{API}/artifacts/$upload", headers=eve, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(sample_csv()), "sales.csv"), "parent_id": trees["secret"]})
    assert csv.status_code == 201, csv.get_json()
    table = csv.get_json()["id"]
    assert client.put(f"{API}/artifacts/{trees['child']}/files/notes.txt", data=b"hello", headers=eve).status_code == 201
    assert client.get(f"{API}/artifacts/{table}/frame/rows", headers=eve).status_code == 200
    vic = bearer(people["vic"])
    assert client.get(f"{API}/artifacts/{table}/frame/rows", headers=vic).status_code == 404
    assert client.get(f"{API}/artifacts/{table}/frame.csv", headers=vic).status_code == 404
    assert client.get(f"{API}/artifacts/{trees['child']}/files/notes.txt", headers=vic).status_code == 404


def test_grants_allow_writes_on_one_tree_only(client, people, trees):
    ada = bearer(people["ada"])
    assert client.post(f"{API}/grants", json={"user": "vic", "root_id": trees["public"], "role": "editor"}, headers=ada).status_code == 201
    assert client.post(f"{API}/grants", json={"user": "eve", "root_id": trees["secret"], "role": "viewer"}, headers=ada).status_code == 201
    vic_writes = client.post(f"{API}/tokens", json={"name": "w", "scope": "write"}, headers=bearer(people["vic"])).get_json()["secret"]
    vic, eve = bearer(vic_writes), bearer(people["eve"])
    assert client.put(f"{API}/artifacts/{trees['public']}", json={"data": {}}, headers=bearer(people["vic"])).status_code == 403  # read token
    assert create(client, vic_writes, parent=trees["public"], name="by vic")
    assert client.put(f"{API}/artifacts/{trees['public']}", json={"data": {"name": "renamed"}}, headers=vic).status_code == 200
    assert client.post(f"{API}/artifacts", json={"data": {}}, headers=vic).status_code == 403  # a new tree: a viewer's default
    assert client.put(f"{API}/artifacts/{trees['child']}", json={"data": {}}, headers=eve).status_code == 403
    assert client.put(f"{API}/artifacts/{trees['child']}/files/a.txt", data=b"x", headers=eve).status_code == 403
    assert client.get(f"{API}/artifacts/{trees['child']}", headers=eve).status_code == 200
    grants = client.get(f"{API}/grants", headers=ada).get_json()["items"]
    assert {(g["user"], g["role"]) for g in grants} == {("vic", "none"), ("vic", "editor"), ("eve", "viewer")}
    removed = next(g["id"] for g in grants if g["user"] == "eve")
    assert client.delete(f"{API}/grants/{removed}", headers=ada).status_code == 204
    assert client.put(f"{API}/artifacts/{trees['child']}", json={"data": {}}, headers=eve).status_code == 200


def test_deleted_artifacts_of_a_hidden_tree_stay_hidden_and_the_others_show(client, people, trees):
    eve, vic = bearer(people["eve"]), bearer(people["vic"])
    gone = create(client, people["eve"], parent=trees["public"], name="open child")
    for artifact_id in (gone, trees["child"]):
        assert client.delete(f"{API}/artifacts/{artifact_id}", headers=eve).status_code == 204
    assert [item["id"] for item in client.get(f"{API}/artifacts/$deleted", headers=vic).get_json()["items"]] == [gone]
    assert {item["id"] for item in client.get(f"{API}/artifacts/$deleted", headers=eve).get_json()["items"]} == {gone, trees["child"]}
    assert client.get(f"{API}/artifacts/{gone}/$history", headers=vic).status_code == 200
    missing = client.get(f"{API}/artifacts/{MISSING}/$history", headers=vic)
    _same_as_missing(client.get(f"{API}/artifacts/{trees['child']}/$history", headers=vic), missing, trees["child"])
    # An editor kept out of the secret tree cannot restore into it, nor learn that it is there.
    assert client.post(f"{API}/grants", json={"user": "eve", "root_id": trees["secret"], "role": "none"},
                       headers=bearer(people["ada"])).status_code == 201
    missing = client.post(f"{API}/artifacts/{MISSING}/$restore", headers=eve)
    _same_as_missing(client.post(f"{API}/artifacts/{trees['child']}/$restore", headers=eve), missing, trees["child"])
    _same_as_missing(client.post(f"{API}/artifacts/{trees['secret']}/$restore", headers=eve), missing, trees["secret"])
    assert client.post(f"{API}/artifacts/{gone}/$restore", headers=eve).status_code == 200


def test_a_grant_names_a_root(client, people, trees):
    refused = client.post(f"{API}/grants", json={"user": "vic", "root_id": trees["child"], "role": "none"}, headers=bearer(people["ada"]))
    assert refused.status_code == 422
    unknown = client.post(f"{API}/grants", json={"user": "nobody", "root_id": trees["secret"], "role": "none"}, headers=bearer(people["ada"]))
    assert unknown.status_code == 404


# Sessions, sign-in and CSRF -------------------------------------------------------------------


def test_pages_send_anonymous_users_to_sign_in_and_back(client, people):
    response = client.get("/search?q=x")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/search?q%3Dx"
    signed_in = sign_in(client, "vic", next="/search?q=x")
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/search?q=x"
    page = client.get("/")
    assert page.status_code == 200 and "vic" in page.get_data(as_text=True) and "Sign out" in page.get_data(as_text=True)
    assert client.get("/artifacts/new").status_code == 403  # a viewer's forbidden page (a form that writes)
    assert client.get("/admin/users").status_code == 403


def test_a_fragment_of_an_expired_session_sends_the_whole_page_to_sign_in(client):
    response = client.get(f"/artifacts/{MISSING}/children", headers={"HX-Request": "true", "Referer": "http://localhost/search?q=x"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/login?next=/search?q%3Dx"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, people, target):
    assert sign_in(client, "vic", next=target).headers["Location"] == "/"


def test_a_wrong_password_is_refused_with_one_message_for_every_cause(client, people):
    for name, password in (("vic", "wrong password"), ("nobody", PASSWORD)):
        response = sign_in(client, name, password)
        assert response.status_code == 401 and "user name or the password is wrong" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_signing_out_ends_the_session_on_the_server(app, client, people):
    sign_in(client, "eve")
    assert client.get("/").status_code == 200
    stolen = client.get_cookie("session").value
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/").status_code == 302  # the old cookie names a session that has ended


def test_signing_in_renews_the_session(client, people):
    client.get("/login")  # an anonymous session (its CSRF token) before signing in
    with client.session_transaction() as before:
        before["planted"] = "by someone else"
    sign_in(client, "eve")
    with client.session_transaction() as after:
        assert "planted" not in after and "account_session" in after
    first = client.get_cookie("session").value
    client.post("/logout")
    sign_in(client, "eve")
    with client.session_transaction() as again:
        assert again["account_session"] != first


def test_the_api_takes_a_session_cookie_for_writes_only_with_the_csrf_header(client, people):
    sign_in(client, "eve")
    assert client.get(f"{API}/artifacts").status_code == 200  # reads: the cookie counts
    refused = client.post(f"{API}/artifacts", json={"data": {"name": "from a form"}})
    assert refused.status_code == 401
    assert client.get(f"{API}/artifacts").get_json()["total"] == 0  # refused, nothing changed
    token = csrf_of(client)
    assert client.post(f"{API}/artifacts", json={"data": {}}, headers={"X-CSRFToken": "forged"}).status_code == 401
    assert client.post(f"{API}/artifacts", json={"data": {"name": "ok"}}, headers={"X-CSRFToken": token}).status_code == 201


def test_failed_sign_ins_are_limited_in_the_database_across_workers(app, app_config, client, people):
    other_worker = create_app(app_config).test_client()
    for attempt in range(5):
        assert sign_in(client if attempt % 2 else other_worker, "vic", "wrong password").status_code == 401
    limited = sign_in(client, "vic")  # even the right password, now
    assert limited.status_code == 429 and "try again in 15 minute" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) == 900
    assert sign_in(other_worker, "vic").status_code == 429
    assert sign_in(client, "eve").status_code == 303  # another account, same address: under its limit


@pytest.mark.app_config(RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:6379/15", SIGN_IN_ATTEMPTS_PER_USER=3)
def test_failed_sign_ins_are_limited_in_redis_when_configured(app, app_config, client, people):
    server = redis_module.Redis.from_url("redis://127.0.0.1:6379/15")
    key = RedisCounter.PREFIX + "user:vic"
    server.delete(key, RedisCounter.PREFIX + "address:127.0.0.1")
    other_worker = create_app(app_config).test_client()
    for attempt in range(3):
        assert sign_in(other_worker if attempt else client, "vic", "wrong password").status_code == 401
    assert int(server.get(key)) == 3 and 0 < server.ttl(key) <= 900
    assert sign_in(client, "vic").status_code == 429
    with app.app_context():
        assert accounts_of(app)._counter().failures("user:vic") == 3
        db.session.remove()
    server.delete(key, RedisCounter.PREFIX + "address:127.0.0.1")
    assert sign_in(client, "vic").status_code == 303


# The set-up link ------------------------------------------------------------------------------


def test_the_set_up_link_creates_the_first_admin_once(app, client):
    with app.app_context():
        secret = accounts_of(app).issue_setup_link()
        db.session.remove()
    assert client.get("/").status_code == 302  # no account: every other request is refused
    assert client.get("/setup?token=wrong").status_code == 403
    assert client.get(f"/setup?token={secret}").status_code == 200
    short = client.post("/setup", data={"token": secret, "name": "root", "password": "short"})
    assert short.status_code == 422
    made = client.post("/setup", data={"token": secret, "name": "root", "password": PASSWORD})
    assert made.status_code == 303
    assert client.get("/admin/users").status_code == 200  # signed in as the admin
    again = app.test_client().post("/setup", data={"token": secret, "name": "intruder", "password": PASSWORD})
    assert again.status_code == 403
    with app.app_context():
        assert [u.name for u in accounts_of(app).users()] == ["root"]
        assert accounts_of(app).issue_setup_link() is None  # there are users now
        db.session.remove()


def test_the_app_logs_a_set_up_link_at_start_while_no_account_exists(app_config, caplog):
    started = create_app({**app_config, "AUTO_MIGRATE": True})
    logged = [r.getMessage() for r in caplog.records if "setup?token=" in r.getMessage()]
    assert len(logged) == 1
    secret = re.search(r"/setup\?token=([\w-]+)", logged[0])[1]
    assert started.test_client().get(f"/setup?token={secret}").status_code == 200


# Attribution and audit ------------------------------------------------------------------------


def test_every_change_names_its_user_and_token_and_the_audit_lists_it(app, client, people):
    root = create(client, people["eve"])
    history = client.get(f"{API}/artifacts/{root}/$history", headers=bearer(people["eve"])).get_json()
    assert history["items"][0]["actor"] == {"user": "eve", "token": "eve-token", "address": "127.0.0.1"}
    sign_in(client, "vic", "wrong password")
    sign_in(client, "eve")
    client.post(f"{API}/tokens", json={"name": "t", "scope": "read"}, headers=bearer(people["vic"]))
    with app.app_context():
        accounts_of(app).set_role("vic", "editor")
        db.session.remove()
    ada = bearer(people["ada"])
    audit = client.get(f"{API}/audit?size=100", headers=ada).get_json()
    actions = [entry["action"] for entry in audit["items"]]
    assert {"created", "sign-in-failed", "sign-in", "token-created", "role-changed"} <= set(actions)
    assert set(audit["items"][0]) == {"at", "actor", "token", "action", "artifact_id", "address", "subject"}
    created = client.get(f"{API}/audit?action=created", headers=ada).get_json()
    assert created["total"] == 1 and created["items"][0]["artifact_id"] == root and created["items"][0]["token"] == "eve-token"
    assert client.get(f"{API}/audit?actor=eve&action=sign-in", headers=ada).get_json()["total"] == 1
    assert client.get(f"{API}/audit?artifact={root}", headers=ada).get_json()["total"] == 1
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert client.get(f"{API}/audit", headers=ada, query_string={"since": later}).get_json()["total"] == 0
    paged = client.get(f"{API}/audit?size=2&page=2", headers=ada).get_json()
    assert len(paged["items"]) == 2 and paged["pages"] == (audit["total"] + 1) // 2
    sign_in(client, "ada")
    assert "sign-in-failed" in client.get("/audit").get_data(as_text=True)


# The account and admin pages --------------------------------------------------------------------


def test_users_change_their_password_and_tokens_on_the_account_page(client, people):
    sign_in(client, "vic")
    token = csrf_of(client)
    wrong = client.post("/account/password", data={"csrf_token": token, "current_password": "nope", "new_password": "another long one"})
    assert wrong.status_code == 303 and "current password is wrong" in client.get("/account").get_data(as_text=True)
    client.post("/account/password", data={"current_password": PASSWORD, "new_password": "another long one"})
    client.post("/logout")
    assert sign_in(client, "vic").status_code == 401
    assert sign_in(client, "vic", "another long one").status_code == 303
    made = client.post("/account/tokens", data={"name": "notebook", "scope": "read", "expires_in": "2w"})
    page = client.get("/account").get_data(as_text=True)
    secret = re.search(r'id="new-token-secret">([^<]+)<', page)[1]
    assert made.status_code == 303 and "notebook" in page
    assert 'id="new-token-secret"' not in client.get("/account").get_data(as_text=True)  # shown once
    assert client.get(f"{API}/artifacts", headers=bearer(secret)).status_code == 200
    token_id = re.search(r'id="token-(\w+)">\s*<td>notebook', page)[1]
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 303
    assert client.get(f"{API}/artifacts", headers=bearer(secret)).status_code == 401


def test_admins_create_re_role_and_disable_users_on_the_users_page(app, client, people):
    sign_in(client, "ada")
    assert client.post("/admin/users", data={"name": "new", "password": PASSWORD, "role": "viewer"}).status_code == 303
    assert 'id="user-new"' in client.get("/admin/users").get_data(as_text=True)
    client.post("/admin/users/new", data={"role": "editor"})
    client.post("/admin/users/eve", data={"disabled": "1"})
    with app.app_context():
        accounts = accounts_of(app)
        assert accounts.user("new").role == "editor" and accounts.user("eve").disabled
        db.session.remove()
    assert client.get(f"{API}/artifacts", headers=bearer(people["eve"])).status_code == 401  # her tokens stop at once
    assert sign_in(app.test_client(), "eve").status_code == 401
    client.post("/admin/users/ada", data={"role": "viewer"})  # the only admin may not demote herself
    assert "only active administrator" in client.get("/admin/users").get_data(as_text=True)
    audit = client.get(f"{API}/audit?action=role-changed", headers=bearer(people["ada"])).get_json()
    assert [entry["subject"] for entry in audit["items"]] == ["new: viewer → editor"]


def test_admins_grant_on_the_trees_page(client, people, trees):
    sign_in(client, "ada")
    page = client.get(f"/artifacts/{trees['public']}").get_data(as_text=True)
    assert "Access to this tree" in page
    assert client.post(f"/artifacts/{trees['public']}/grants", data={"user": "vic", "role": "none"}).status_code == 303
    assert client.get(f"{API}/artifacts", headers=bearer(people["vic"])).get_json()["total"] == 0
    grant = client.get(f"{API}/grants", headers=bearer(people["ada"])).get_json()["items"][-1]["id"]
    assert client.post(f"/artifacts/{trees['public']}/grants/{grant}/delete").status_code == 303
    assert client.get(f"{API}/artifacts", headers=bearer(people["vic"])).get_json()["total"] == 1
    client.post("/logout")
    sign_in(client, "eve")
    assert "Access to this tree" not in client.get(f"/artifacts/{trees['public']}").get_data(as_text=True)
    assert client.post(f"/artifacts/{trees['public']}/grants", data={"user": "vic", "role": "none"}).status_code == 403


def test_the_session_cookie_is_http_only_lax_and_secure_over_https(client, people):
    plain = sign_in(client, "vic").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    secure = client.post("/login", data={"name": "vic", "password": PASSWORD}, base_url="https://localhost")
    assert "Secure" in secure.headers["Set-Cookie"]
