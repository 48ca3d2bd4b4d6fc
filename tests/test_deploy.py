"""Deployment: gunicorn.conf.py, the production secret key, proxy headers and /health."""

from __future__ import annotations

import os
import runpy
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic.script import ScriptDirectory

from tests.support import ROOT
from tests.support.problems import assert_problem
from tests.support.servers import children_of, gunicorn_server
from webapp import create_app
from webapp.config import from_environment
from webapp.extensions import db

GUNICORN_ENV = ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "GUNICORN_ACCESS_LOG")
HEAD_REVISION = ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def gunicorn_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The settings gunicorn.conf.py defines when read with this environment."""
    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


# gunicorn.conf.py --------------------------------------------------------------------


def test_gunicorn_defaults_listen_on_loopback_and_log_access(monkeypatch):
    settings = gunicorn_settings(monkeypatch)
    assert settings["bind"] == "127.0.0.1:8000"
    assert 1 <= settings["workers"] <= 8
    assert settings["accesslog"] == "-" and settings["errorlog"] == "-"
    assert settings["timeout"] == 60 and settings["graceful_timeout"] <= settings["timeout"]
    assert settings["preload_app"] is False  # each worker opens its own database connections


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    settings = gunicorn_settings(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:9001",
        WEB_CONCURRENCY="3",
        GUNICORN_TIMEOUT="15",
        GUNICORN_ACCESS_LOG="",
    )
    assert (settings["bind"], settings["workers"], settings["timeout"]) == ("127.0.0.1:9001", 3, 15)
    assert settings["accesslog"] is None
    assert gunicorn_settings(monkeypatch, PORT="8080")["bind"] == "0.0.0.0:8080"


@pytest.mark.slow
def test_gunicorn_accepts_the_config_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "wsgi:app"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_gunicorn_serves_health_and_writes_the_access_log(database_url, tmp_path):
    access_log = tmp_path / "access.log"
    with gunicorn_server(database_url, workers=2, env={"GUNICORN_ACCESS_LOG": str(access_log)}) as base:
        response = requests.get(f"{base}/health", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "healthy", "database": "ok", "schema_version": HEAD_REVISION}
    assert '"GET /health HTTP/1.1" 200' in access_log.read_text()


@pytest.mark.slow
def test_the_gunicorn_master_loads_the_libraries_so_workers_boot_fast(tmp_path):
    """Workers (and each one max_requests recycles) fork with pandas & co. already loaded."""
    pid_file = tmp_path / "gunicorn.pid"
    with gunicorn_server(f"sqlite:///{tmp_path / 'db.sqlite'}", workers=1, args=("--pid", str(pid_file))):
        master_maps = Path(f"/proc/{pid_file.read_text().strip()}/maps").read_text()
    assert "/pandas/_libs/" in master_maps and "/pyarrow/" in master_maps


@pytest.mark.slow
def test_a_worker_replaced_while_the_database_is_gone_boots_and_answers_503(tmp_path):
    """A worker that failed to boot would make gunicorn stop the whole server."""
    folder = tmp_path / "data"
    folder.mkdir()
    pid_file = tmp_path / "gunicorn.pid"
    with gunicorn_server(f"sqlite:///{folder / 'store.sqlite'}", workers=1, args=("--pid", str(pid_file))) as base:
        master = int(pid_file.read_text())
        (worker,) = children_of(master)
        folder.rename(tmp_path / "elsewhere")  # the database can no longer be opened
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not [pid for pid in children_of(master) if pid != worker]:
            assert time.monotonic() < deadline, "gunicorn did not start a new worker"
            time.sleep(0.1)
        unavailable = requests.get(f"{base}/api/v1/artifacts", timeout=10)
        assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "5"
        assert unavailable.headers["Content-Type"] == "application/problem+json"
        assert requests.get(f"{base}/", timeout=10).status_code == 503
        (tmp_path / "elsewhere").rename(folder)  # back: the same worker serves again
        assert requests.post(f"{base}/api/v1/artifacts", json={"data": {}}, timeout=10).status_code == 201
        assert requests.get(f"{base}/health", timeout=10).status_code == 200


@pytest.mark.slow
def test_gunicorn_refuses_to_start_when_the_schema_cannot_be_brought_up_to_date(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'store.sqlite'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "could not start or bring its database schema up to date" in result.stderr


# Secret key ---------------------------------------------------------------------------


@pytest.mark.slow
def test_production_server_refuses_to_start_without_a_secret_key(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    environment |= {"ARTIFACT_STORE_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite'}"}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ARTIFACT_STORE_ENV=production needs a SECRET_KEY" in result.stderr


@pytest.mark.parametrize("weak", ["dev", "changeme", "x" * 31])
def test_production_refuses_a_weak_secret_key(app_config, weak):
    with pytest.raises(RuntimeError, match="too short for production"):
        create_app({**app_config, "ENV_NAME": "production", "SECRET_KEY": weak})


def test_production_accepts_a_random_secret_key(app_config):
    key = secrets.token_hex(32)
    assert create_app({**app_config, "ENV_NAME": "production", "SECRET_KEY": key}).config["SECRET_KEY"] == key


# Proxy headers ------------------------------------------------------------------------

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "artifacts.example.org"}


def test_forwarded_headers_are_ignored_unless_configured(client):
    response = client.post("/api/v1/artifacts", json={"data": {}}, headers=FORWARDED)
    assert response.headers["Location"].startswith("http://localhost/api/v1/artifacts/")


def test_forwarded_headers_are_trusted_when_configured(app_config, monkeypatch):
    monkeypatch.setenv("PROXY_FIX_X_PROTO", "1")
    monkeypatch.setenv("PROXY_FIX_X_HOST", "1")
    settings = from_environment()
    assert (settings["PROXY_FIX_X_PROTO"], settings["PROXY_FIX_X_HOST"], settings["PROXY_FIX_X_PREFIX"]) == (1, 1, 0)
    app = create_app({**app_config, **{k: v for k, v in settings.items() if k.startswith("PROXY_FIX_")}})
    with app.app_context():
        db.create_all()
    response = app.test_client().post("/api/v1/artifacts", json={"data": {}}, headers=FORWARDED)
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://artifacts.example.org/api/v1/artifacts/")


def migrated_app(config: dict[str, Any]) -> Any:
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


def test_trusted_hosts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_HOSTS", " store.example.org, .example.net ,")
    assert from_environment()["TRUSTED_HOSTS"] == ["store.example.org", ".example.net"]
    monkeypatch.setenv("TRUSTED_HOSTS", "")
    assert from_environment()["TRUSTED_HOSTS"] is None  # any host


def test_a_request_for_an_untrusted_host_is_400_and_names_no_foreign_host(app_config):
    app = migrated_app({**app_config, "TRUSTED_HOSTS": ["store.example.org", ".example.net"]})
    client = app.test_client()
    evil = {"Host": "evil.example"}
    refused = client.post("/api/v1/artifacts", json={"data": {}}, headers=evil)
    assert_problem(refused, 400)
    assert "Location" not in refused.headers
    for page in (client.get("/artifacts/new", headers=evil), client.post("/artifacts/new", data={}, headers=evil)):
        assert page.status_code == 400 and "TRUSTED_HOSTS" in page.get_data(as_text=True)
        assert "evil.example" not in page.get_data(as_text=True)
    assert client.get("/health", headers=evil).status_code == 400
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM artifacts")).scalar() == 0
    created = client.post("/api/v1/artifacts", json={"data": {}}, headers={"Host": "store.example.org"})
    assert created.headers["Location"].startswith("http://store.example.org/api/v1/artifacts/")
    assert client.get("/health", headers={"Host": "a.example.net:8000"}).status_code == 200  # subdomains, any port


def test_an_untrusted_host_is_refused_before_the_csrf_check(app_config):
    app = migrated_app({**app_config, "TRUSTED_HOSTS": ["store.example.org"], "WTF_CSRF_ENABLED": True})
    response = app.test_client().post("/artifacts/new", data={"data": "{}"}, headers={"Host": "evil.example"})
    assert response.status_code == 400 and "TRUSTED_HOSTS" in response.get_data(as_text=True)


def test_trusted_hosts_check_the_forwarded_host_behind_a_proxy(app_config):
    app = migrated_app({**app_config, "TRUSTED_HOSTS": ["artifacts.example.org"], "PROXY_FIX_X_HOST": 1, "PROXY_FIX_X_PROTO": 1})
    client = app.test_client()
    assert client.get("/health", headers=FORWARDED).status_code == 200  # the public name, as nginx forwards it
    assert client.get("/health", headers={**FORWARDED, "X-Forwarded-Host": "evil.example"}).status_code == 400


# Environment names and cookies --------------------------------------------------------


@pytest.mark.parametrize("name", ["Production", "PRODUCTION", " production "])
def test_environment_names_match_in_any_case(app_config, monkeypatch, name):
    monkeypatch.setenv("ARTIFACT_STORE_ENV", name)
    assert from_environment()["ENV_NAME"] == "production"
    app = create_app({**app_config, "ENV_NAME": name, "SECRET_KEY": secrets.token_hex(32)})
    assert app.config["ENV_NAME"] == "production"


@pytest.mark.parametrize("name", ["prod", "staging", "dev"])
def test_unknown_environment_names_are_refused_at_start(app_config, monkeypatch, name):
    monkeypatch.setenv("ARTIFACT_STORE_ENV", name)
    with pytest.raises(RuntimeError, match=f"ARTIFACT_STORE_ENV='{name}' is not an environment.*development, production"):
        from_environment()
    with pytest.raises(RuntimeError, match="use one of development, production"):
        create_app({**app_config, "ENV_NAME": name})


def test_the_session_cookie_is_samesite_lax_and_secure_in_production(app_config, monkeypatch):
    development = migrated_app(app_config)
    assert (development.config["SESSION_COOKIE_SAMESITE"], development.config["SESSION_COOKIE_SECURE"]) == ("Lax", False)
    monkeypatch.setenv("ARTIFACT_STORE_ENV", "Production")
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    production = migrated_app({key: value for key, value in app_config.items() if key != "SECRET_KEY"})
    cookie = production.test_client().get("/artifacts/new").headers["Set-Cookie"]  # the CSRF token's session
    assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie


# /health ------------------------------------------------------------------------------


def test_health_reports_the_migrated_schema_version(app_config):
    app = create_app({**app_config, "AUTO_MIGRATE": True})
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "healthy", "database": "ok", "schema_version": HEAD_REVISION}


@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent-directory/artifacts.sqlite", "postgresql+psycopg://postgres@127.0.0.1:1/none"],
    ids=["sqlite-missing-directory", "postgresql-refused"],
)
def test_health_is_503_problem_when_the_database_does_not_answer(url):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "AUTO_MIGRATE": False})
    body = assert_problem(app.test_client().get("/health"), 503)
    assert body["detail"] == "The database does not answer."
