"""Operator errors at startup are one line on stderr and exit status 2, for every process of
the Procfile and the CLI; the traceback only with --debug or LOG_LEVEL=DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRODUCTION = {"APP_ENV": "production"}
MISSING = "APP_ENV=production refuses to start without: JWT_SECRET_KEY"


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    clean.update({"INSTANCE_PATH": str(tmp_path / "instance"), "LOG_LEVEL": "INFO", **env})
    return subprocess.run(
        args, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def flask(*args: str) -> list[str]:
    return [str(BIN / "flask"), "--app", str(ROOT / "wsgi.py"), *args]


def worker(*args: str) -> list[str]:
    return [sys.executable, "-m", "entrypoints.worker", *args]


CASES = [
    (flask("billing", "migrate"), PRODUCTION, MISSING),
    (worker("urgent"), PRODUCTION, MISSING),
    (worker("urgent"), {"USAGE_CURRENCY": "xyz"}, "usage invoices cannot be billed in 'xyz'"),
    (worker("urgent"), {}, "the worker needs REDIS_URL"),
    (worker("nine"), {"REDIS_URL": "redis://127.0.0.1:1/0"}, "unknown pool 'nine'"),
    ([sys.executable, "-m", "entrypoints.worker.scheduler"], {}, "the scheduler needs REDIS_URL"),
    (
        flask("billing", "migrate"),
        {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        "cannot migrate the database at postgresql+psycopg://nobody@127.0.0.1:1/none",
    ),
    (flask("billing", "token", "--org", "bad org"), {}, "--org: org_id must be"),
]


@pytest.mark.parametrize(("args", "env", "says"), CASES, ids=lambda v: str(v)[-30:])
def test_one_line_and_exit_status_2(tmp_path, args, env, says):
    done = run(args, tmp_path, **env)
    lines = [line for line in done.stderr.splitlines() if '"ts"' not in line]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], lines
    assert "Traceback" not in done.stderr


def test_the_traceback_comes_with_debug(tmp_path):
    for done in (
        run(worker("urgent"), tmp_path, APP_ENV="production", LOG_LEVEL="DEBUG"),
        run(worker("--debug", "urgent"), tmp_path, APP_ENV="production"),
    ):
        assert done.returncode != 0 and "Traceback" in done.stderr and MISSING in done.stderr


def test_gunicorn_checks_the_configuration_once_before_any_worker(tmp_path):
    done = run(
        [
            str(BIN / "gunicorn"),
            f"--chdir={ROOT}",
            "wsgi:app",
            "--config",
            "python:entrypoints.gunicorn_conf",
            "--bind",
            "127.0.0.1:0",
        ],
        tmp_path,
        **PRODUCTION,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and MISSING in errors[0] and "Traceback" not in done.stderr
    assert "Booting worker" not in done.stderr


@pytest.mark.parametrize("period", ["2026-11", "2027-01", "2026-13", "soon"])
def test_run_invoicing_refuses_a_month_that_has_not_closed(app, period):
    # The fake clock says November 2026: its month is open, December is the future.
    result = app.test_cli_runner().invoke(args=["billing", "run-invoicing", "--period", period])
    assert result.exit_code == 2
    assert "has not closed yet" in result.output or "use YYYY-MM" in result.output
