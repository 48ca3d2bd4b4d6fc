"""WSGI entry point: `gunicorn wsgi:app`. Brings the schema up to date on start-up."""

from webapp import create_app
from webapp.database import upgrade_schema

app = create_app()
upgrade_schema(app)
