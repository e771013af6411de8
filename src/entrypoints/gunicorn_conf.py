"""gunicorn settings for the Procfile's web process (`--config python:entrypoints.gunicorn_conf`):
the configuration is checked once in the master before any worker starts, so an error is one
line and exit status 2 (a worker that cannot boot would otherwise be restarted over and over).

With `PROMETHEUS_MULTIPROC_DIR` set, the master empties that directory on start (samples of an
earlier run would be counted again) and marks each exited worker dead, so its gauges go."""


def on_starting(server: object) -> None:
    from entrypoints.config import load_settings
    from entrypoints.startup import operator_errors

    with operator_errors():
        settings = load_settings()
    if settings.prometheus_multiproc_dir is not None:
        from entrypoints.metrics import clear_multiproc_dir

        clear_multiproc_dir(settings.prometheus_multiproc_dir)


def child_exit(server: object, worker: object) -> None:
    from entrypoints.config import load_settings

    settings = load_settings()
    if settings.prometheus_multiproc_dir is not None:
        from entrypoints.metrics import mark_worker_dead

        mark_worker_dead(worker.pid, settings.prometheus_multiproc_dir)  # type: ignore[attr-defined]
