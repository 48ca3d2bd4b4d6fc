"""WSGI entry point: `gunicorn wsgi:app` (the factory brings the schema up to date)."""

from webapp import create_app

app = create_app()
