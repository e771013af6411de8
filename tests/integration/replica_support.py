"""A real Postgres primary and a streaming standby made from it with `pg_basebackup -R`, both on
local ports and in a temporary directory owned by the `postgres` OS user (initdb refuses root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"


def _as_postgres(*args: str | Path, timeout: float = 60) -> None:
    command = [str(a) for a in args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", OS_USER, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)


class StreamingPair:
    def __init__(self, primary_port: int, standby_port: int) -> None:
        self.ports = {"primary": primary_port, "standby": standby_port}
        self.root = Path(tempfile.mkdtemp(prefix="billing-replica-"))
        shutil.chown(self.root, OS_USER)
        self.running: set[str] = set()

    def url(self, node: str, database: str = "billing") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.ports[node]}/{database}"

    def start(self) -> None:
        primary = self.root / "primary"
        _as_postgres(BIN / "initdb", "-D", primary, "-A", "trust", "-U", "postgres", "-E", "UTF8")
        settings = [
            f"port={self.ports['primary']}",
            "listen_addresses='127.0.0.1'",
            f"unix_socket_directories='{self.root}'",
            "wal_level=replica",
            "max_wal_senders=4",
            "fsync=off",
            "synchronous_commit=on",
        ]
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self.start_node("primary")
        admin = self.engine("primary", "postgres", autocommit=True)
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE billing"))
        admin.dispose()
        _as_postgres(
            BIN / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.ports["primary"]),
            "-U",
            "postgres",
            "-D",
            self.root / "standby",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",  # checkpoint now, not spread over minutes
        )
        with (self.root / "standby" / "postgresql.conf").open("a") as conf:
            conf.write(f"port={self.ports['standby']}\nhot_standby_feedback=on\n")
        self.start_node("standby")

    def start_node(self, node: str) -> None:
        if node in self.running:
            return
        log = self.root / f"{node}.log"
        try:
            _as_postgres(
                BIN / "pg_ctl", "-D", self.root / node, "-l", log, "-w", "-t", "60", "start"
            )
        except subprocess.CalledProcessError as exc:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise AssertionError(f"{node} did not start: {exc.stderr!r}\n{tail}") from None
        self.running.add(node)

    def stop_node(self, node: str) -> None:
        if node in self.running:
            _as_postgres(BIN / "pg_ctl", "-D", self.root / node, "-m", "immediate", "stop")
            self.running.discard(node)

    def stop(self) -> None:
        try:
            for node in ("standby", "primary"):
                self.stop_node(node)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def engine(self, node: str, database: str = "billing", autocommit: bool = False) -> Engine:
        options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        return create_engine(
            self.url(node, database), connect_args={"connect_timeout": 5}, **options
        )

    def sql(self, node: str, statement: str, **params: object) -> object:
        engine = self.engine(node, autocommit=True)
        try:
            with engine.connect() as conn:
                return conn.execute(text(statement), params).scalar()
        finally:
            engine.dispose()

    def primary_position(self) -> int:
        value = self.sql("primary", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        return int(value)  # type: ignore[call-overload]

    def replayed(self) -> int:
        value = self.sql(
            "standby", "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint"
        )
        return int(value)  # type: ignore[call-overload]

    def wait_caught_up(self, timeout_s: float = 30) -> None:
        target = self.primary_position()
        deadline = time.monotonic() + timeout_s
        while self.replayed() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"standby did not replay {target} in {timeout_s} s")
            time.sleep(0.02)

    def pause_replay(self) -> None:
        self.sql("standby", "SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.sql("standby", "SELECT pg_wal_replay_resume()")
