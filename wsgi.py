"""WSGI entry point: gunicorn wsgi:app, flask --app wsgi ..."""

from entrypoints.api.app import create_app
from entrypoints.startup import operator_errors

with operator_errors():  # a configuration error is one line on stderr and exit status 2
    app = create_app()
