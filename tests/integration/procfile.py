"""The service as the Procfile runs it, for outage tests: its processes as subprocesses, a
Redis server of the test's own, a TCP proxy to cut Postgres off, and a Stripe stand-in."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if re.match(r"^[a-z-]+: ", line))


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Processes:
    """Procfile processes started with `bash -c` as a platform would (the virtualenv first on
    PATH); every one is stopped in `stop()`, killed if it does not end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            **env,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
        }
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, extra: dict[str, str] | None = None, label: str | None = None
    ) -> None:
        """Starts the Procfile's `name`, known as `label` (two of one kind need two labels)."""
        command = procfile()[name]
        label = label or name
        out = (self.logs / f"{label}.log").open("ab")
        self.running[label] = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env={**self.env, **(extra or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def alive(self) -> dict[str, bool]:
        return {name: p.poll() is None for name, p in self.running.items()}

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class RedisServer:
    """A redis-server of the test's own on a loopback port. Without `aof` it has no persistence:
    stopping it loses everything. Stopping is a SIGKILL either way (a crash, not a shutdown)."""

    def __init__(self, port: int, aof: bool = False) -> None:
        self.port = port
        self.aof = aof  # appendonly with fsync every second, as docs/production.md advises
        self.url = f"redis://127.0.0.1:{port}/0"
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.aof else "no",
                "--appendfsync",
                "everysec",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 20, f"redis-server on {self.port}")
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """A loopback TCP proxy the test can cut (listener closed, open connections reset) and
    restore, to make Postgres unreachable without touching the server."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._cut = False

    def start(self) -> None:
        self._cut = False
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._cut:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._cut:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                sock.close()
            with self._lock:
                self._sockets.difference_update((a, b))

    def cut(self) -> None:
        with self._lock:
            self._cut = True
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would not.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()


class StripeStandIn:
    """Answers the refetches (GET /v1/subscriptions|invoices|checkout/sessions/<id>) from a
    FakeStripe's objects after a delay, as Stripe would over the network; counts them. Lists (what a
    reconciliation run reads) answer empty."""

    def __init__(self, stripe: Any, port: int, delay_s: float = 0.0) -> None:
        self.stripe, self.delay_s = stripe, delay_s
        self.refetches: Counter[str] = Counter()
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # http.server dispatches on this name
                stand_in.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    LISTS = (
        "/v1/events",
        "/v1/customers",
        "/v1/subscriptions",
        "/v1/invoices",
        "/v1/checkout/sessions",
    )

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path in self.LISTS:  # the reconciliation run at the scheduler's start: nothing listed
            body = json.dumps({"object": "list", "data": [], "has_more": False, "url": path})
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body.encode())
            return
        kinds = {
            "subscriptions": self.stripe.subscriptions,
            "invoices": self.stripe.invoices,
            "checkout/sessions": self.stripe.sessions,
        }
        found = None
        for prefix, store in kinds.items():
            if path.startswith(f"/v1/{prefix}/"):
                object_id = path[len(f"/v1/{prefix}/") :]
                found = store.get(object_id)
                with self._lock:
                    self.refetches[object_id] += 1
        time.sleep(self.delay_s)
        body = json.dumps(
            found
            if found is not None
            else {"error": {"type": "invalid_request_error", "message": "No such object"}}
        ).encode()
        request.send_response(200 if found is not None else 404)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()
