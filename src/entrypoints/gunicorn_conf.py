"""gunicorn settings for the Procfile's web process (`--config python:entrypoints.gunicorn_conf`):
the configuration is checked once in the master before any worker starts, so an error is one
line and exit status 2 (a worker that cannot boot would otherwise be restarted over and over)."""


def on_starting(server: object) -> None:
    from entrypoints.config import load_settings
    from entrypoints.startup import operator_errors

    with operator_errors():
        load_settings()
