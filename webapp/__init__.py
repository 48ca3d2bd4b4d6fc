"""Artifact Store: hierarchical artifact storage as a Flask application."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import (
    PROXY_HEADERS,
    Defaults,
    check_secret_key,
    environment_name,
    from_environment,
    load_hierarchies,
    load_secret_key,
)
from webapp.artifacts.database import engine_options

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a configured app: defaults, then the environment, then instance/config.py, then `config`."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Defaults)
    app.config.update(from_environment())
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config or {})
    app.config["ENV_NAME"] = environment_name(app.config["ENV_NAME"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(Path(app.instance_path), app.config["ENV_NAME"])
    check_secret_key(app.config["SECRET_KEY"], app.config["ENV_NAME"])
    app.config["ARTIFACT_HIERARCHIES"] = load_hierarchies(app.config.get("ARTIFACT_HIERARCHIES"), Path(app.instance_path))
    trusted_hops = {header.lower(): app.config[f"PROXY_FIX_{header}"] for header in PROXY_HEADERS}
    if any(trusted_hops.values()):  # trust X-Forwarded-* only when told a proxy sets them
        app.wsgi_app = ProxyFix(app.wsgi_app, **trusted_hops)  # type: ignore[method-assign]
    if app.config["ENV_NAME"] == "production" and not app.config.get("TRUSTED_HOSTS"):
        app.logger.warning("TRUSTED_HOSTS is not set: requests for any Host are answered (docs/deploying.md)")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    pool_size = app.config.get("DATABASE_POOL_SIZE", 5)  # one connection per gunicorn thread
    pool = {} if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else {"pool_size": pool_size}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        **pool,
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    app.json.sort_keys = False  # keep problem documents and artifacts in their natural order
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from webapp import access, cli, errors, observability, security, store
    from webapp.accounts import api as accounts_api, cli as accounts_cli, web as accounts_web
    from webapp.api.files import bp as files_api_bp
    from webapp.api.frames import bp as frames_api_bp
    from webapp.api.history import bp as history_api_bp
    from webapp.api.views import bp as api_bp, health_bp
    from webapp.artifacts.database import configure_engine
    from webapp.extensions import csrf, db, migrate
    from webapp.database import upgrade_schema
    from webapp.web.files import bp as files_bp
    from webapp.web.frames import bp as frames_bp
    from webapp.web.history import bp as history_bp
    from webapp.web.search import bp as search_bp
    from webapp.web.views import bp as web_bp

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    store.init_app(app)

    app.register_blueprint(web_bp)
    app.register_blueprint(search_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(health_bp)
    app.register_blueprint(frames_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(frames_api_bp, url_prefix="/api/v1")
    app.register_blueprint(files_api_bp, url_prefix="/api/v1")
    app.register_blueprint(history_api_bp, url_prefix="/api/v1")
    csrf.exempt(api_bp)  # the API checks X-CSRFToken itself, for cookie sessions only (webapp/access.py)
    csrf.exempt(frames_api_bp)
    csrf.exempt(files_api_bp)
    app.register_blueprint(accounts_api.bp, url_prefix="/api/v1")
    accounts_web.init_app(app)
    csrf.exempt(history_api_bp)
    csrf.exempt(accounts_api.bp)  # a cookie session writes to the API only with X-CSRFToken (webapp/access.py)
    csrf.exempt(health_bp)
    errors.register_error_handlers(app)
    observability.init_app(app)
    security.init_app(app)
    access.init_app(app)  # after security: the Host check stays first
    cli.register_commands(app)
    accounts_cli.register_commands(app)
    if app.config["AUTO_MIGRATE"]:
        try:
            upgrade_schema(app)  # zero set-up: a fresh or older database is brought up to date
        except OperationalError as error:
            # A gunicorn worker that (re)starts while the database is down must still come
            # up: one that fails to boot makes gunicorn stop the whole server. It answers
            # 503 until the database is back (gunicorn.conf.py migrates before any worker).
            app.logger.error("The database is unavailable, its schema was not checked: %s", error.orig or error)
        else:
            access.announce_setup_link(app)
    return app
