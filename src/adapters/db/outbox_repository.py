"""The outbox: messages to the product, stored in the caller's transaction."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Connection, select, update

from adapters.db.tables import outbox_messages
from adapters.db.upsert import insert_if_absent
from domain.model.outbound import OutboxMessage


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_if_absent(self, message: OutboxMessage) -> bool:
        # Any conflict: the id is fresh, so a collision is the (org, dedupe key) one.
        values = [asdict(message)]
        return insert_if_absent(self.conn, outbox_messages, values, ["id"], any_conflict=True) == 1

    def get(self, message_id: str) -> OutboxMessage | None:
        row = (
            self.conn.execute(select(outbox_messages).where(outbox_messages.c.id == message_id))
            .mappings()
            .first()
        )
        return OutboxMessage(**row) if row else None

    def mark_fanned_out(self, message_id: str, now: datetime) -> bool:
        c = outbox_messages.c
        result = self.conn.execute(
            update(outbox_messages)
            .where(c.id == message_id, c.fanned_out_at.is_(None))
            .values(fanned_out_at=now)
        )
        return result.rowcount == 1

    def unsent(self, created_before: datetime, limit: int) -> list[str]:
        c = outbox_messages.c
        stmt = (
            select(c.id)
            .where(c.fanned_out_at.is_(None), c.created_at < created_before)
            .order_by(c.created_at)
            .limit(limit)
        )
        return list(self.conn.execute(stmt).scalars())

    def since(self, org_id: str, since: datetime, limit: int) -> list[OutboxMessage]:
        c = outbox_messages.c
        stmt = (
            select(outbox_messages)
            .where(c.org_id == org_id, c.created_at >= since)
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return [OutboxMessage(**row) for row in self.conn.execute(stmt).mappings()]
