"""What the Stripe CLI tests run: the CLI installed by scripts/ensure-stripe-cli.sh, the README's
own command lines, and the service as deployed (gunicorn and the RQ worker) in subprocesses."""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".stripe-cli" / "node_modules" / ".bin" / "stripe"
# A test-mode-shaped key the stand-in accepts; the CLI sends it nowhere else.
API_KEY = "sk_test_standin" + "0123456789abcdef"
README_SERVICE = "http://127.0.0.1:8000"
PORTS = range(18000, 19000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port of this suite's range that nothing listens on and no other caller was given."""
    for port in random.sample(PORTS, 50):
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 18000-18999")


def readme_commands() -> list[str]:
    """The shell lines of the README's "Local development with the Stripe CLI" block."""
    text = (REPO / "README.md").read_text()
    section = text.split("**Local development with the Stripe CLI", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's Stripe CLI section has no sh block"
    joined = block.group(1).replace("\\\n", " ")
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def readme_stripe(verb: str) -> list[list[str]]:
    """Every `stripe <verb> ...` the README's block runs, also inside `$(...)`, as argv."""
    found = []
    for line in readme_commands():
        for command in re.findall(r"\$\((stripe [^)]*)\)", line) or [line]:
            argv = shlex.split(command)
            if argv[:2] == ["stripe", verb]:
                found.append(argv)
    return found


def localized(argv: list[str], api_base: str, service_url: str = README_SERVICE) -> list[str]:
    """The README's command with only the CLI's path, Stripe's address, the key and the
    service's port replaced."""
    args = [arg.replace(README_SERVICE, service_url) for arg in argv[1:]]
    return [str(CLI), *args, "--api-base", api_base, "--api-key", API_KEY]


def cli_env(home: Path, api_base: str) -> dict[str, str]:
    """A fresh config dir; the CLI's own update check and telemetry go through a proxy on
    loopback (the stand-in refuses them), so nothing leaves the machine."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "STRIPE_CLI_TELEMETRY_OPTOUT": "1",
        "HTTPS_PROXY": api_base,
        "HTTP_PROXY": api_base,
        "NO_PROXY": "127.0.0.1",
    }


def require_cli() -> Path:
    if not os.access(CLI, os.X_OK):
        pytest.fail(
            f"the Stripe CLI is not installed at {CLI}: run scripts/ensure-stripe-cli.sh "
            "(make test does)",
            pytrace=False,
        )
    return CLI


class Processes:
    """Subprocesses in their own process groups (the CLI's npm shim has a child; RQ forks work
    horses), each logging to a file; stop_all ends every group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd or self.log_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def check_running(self, name: str) -> None:
        if self.started[name].poll() is not None:
            pytest.fail(
                f"{name} exited ({self.started[name].returncode}):\n{self.log(name)}", pytrace=False
            )

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def wait_until_up(url: str, processes: Processes, name: str, timeout_s: float = 30) -> None:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        processes.check_running(name)
        try:
            with direct.open(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"{name} did not answer {url} within {timeout_s} s:\n{processes.log(name)}", pytrace=False
    )


def service_env(
    database_url: str, redis_url: str, api_base: str, secret: str, instance: Path
) -> dict[str, str]:
    """The service's configuration as an operator sets it, with Stripe at the stand-in."""
    from tests.helpers import TEST_JWT_SECRET

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_API_BASE": api_base,
        "STRIPE_WEBHOOK_SECRET": secret,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "JOB_RETRY_INTERVALS_S": "1,1",
        "INSTANCE_PATH": str(instance),
        "PYTHONPATH": str(REPO),
    }
