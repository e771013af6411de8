"""WSGI entry point: gunicorn wsgi:app, flask --app wsgi ..."""

from entrypoints.api.app import create_app

app = create_app()
