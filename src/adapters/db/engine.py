"""Engine construction for Postgres (production) and SQLite (the embedded default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    statement_timeout_ms: int | None = None,
    connect_timeout_s: int = 5,
    pre_ping: bool = True,
    autocommit: bool = False,
) -> Engine:
    """`pre_ping=False` and `autocommit=True` suit a pool for single statements whose caller
    handles a broken connection itself (the webhook intake's: see SqlWebhookIntake)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout_s}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={statement_timeout_ms}"
    # Pre-ping costs a round trip per checkout but keeps a Postgres restart from failing the
    # first request on every pooled connection.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        pool_timeout=5,
        connect_args=connect_args,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class DatabaseProbe:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
