"""The PostgreSQL escalation store (psycopg 3), chosen by a ``postgresql://`` URL.

Same API and guarantees as the SQLite store: a unique ``(review_id, model_version)``, writes that
return after COMMIT (``synchronous_commit`` is the server's), and a trigger that makes ``events``
append-only (UPDATE, DELETE and TRUNCATE are rejected). Tables go to the first schema of the
connection's ``search_path``; to keep them apart, give the URL
``?options=-csearch_path%3Dreviewnlp`` and create that schema.

psycopg is imported only when a store is opened: ``pip install 'reviewnlp[postgres]'``.

>>> redact_url("postgresql://triage:s3cret@db.example:5432/reviews")
'postgresql://triage:***@db.example:5432/reviews'
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import StoreError
from .base import SCHEMA_VERSION_UPSERT, Run, SQLEscalationStore

__all__ = ["PostgresStore", "redact_url"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 7_318_204_551  # pg_advisory_xact_lock key: one schema creator at a time

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS escalations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        review_id TEXT NOT NULL,
        model_version TEXT NOT NULL,
        queue TEXT NOT NULL,
        team TEXT,
        priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
        due_at TIMESTAMPTZ,
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        created_at TIMESTAMPTZ NOT NULL,
        prediction JSONB NOT NULL,
        decision JSONB NOT NULL,
        text TEXT NOT NULL,
        UNIQUE (review_id, model_version))""",
    "CREATE INDEX IF NOT EXISTS escalations_status_queue ON escalations (status, queue)",
    """CREATE TABLE IF NOT EXISTS events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        escalation_id BIGINT NOT NULL REFERENCES escalations (id),
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        actor TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        note TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_escalation ON events (escalation_id)",
    """CREATE OR REPLACE FUNCTION reviewnlp_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'events are append-only: % rejected', TG_OP;
        END $$""",
    "DROP TRIGGER IF EXISTS events_append_only ON events",
    """CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION reviewnlp_events_append_only()""",
    "DROP TRIGGER IF EXISTS events_no_truncate ON events",
    """CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION reviewnlp_events_append_only()""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        escalation_id BIGINT NOT NULL REFERENCES escalations (id),
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMPTZ NOT NULL,
        payload JSONB NOT NULL,
        last_error TEXT,
        delivered_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
)


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, for messages and logs.

    >>> redact_url("postgresql://localhost/reviews?user=triage&password=s3cret")
    'postgresql://localhost/reviews?user=triage&password=***'
    """
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit(parts._replace(query=query))


class PostgresStore(SQLEscalationStore):
    """An escalation store in a PostgreSQL database.

    Parameters
    ----------
    url
        A libpq URL, ``postgresql://user:password@host:port/dbname``.
    outbox
        Also write an outbox row per new escalation, for the webhook forwarder.
    connect_timeout
        Seconds to wait for the server.

    A lost connection is reported as a :class:`~reviewnlp.errors.StoreError`; the next call
    reconnects.
    """

    backend = "postgresql"
    _claim_lock_clause = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, outbox: bool = False, connect_timeout: float = 10.0):
        super().__init__(redact_url(url), outbox=outbox)
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg.types.json import Jsonb
        except ImportError:
            raise StoreError(f"{self.location}: the PostgreSQL store needs psycopg 3: "
                             "pip install 'reviewnlp[postgres]'") from None
        self._psycopg, self._dict_row, self._jsonb = psycopg, dict_row, Jsonb
        self._url = url
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._closed = False
        with self._guard("open the escalation store"):
            self._connection()

    def _connection(self) -> Any:
        if self._closed:
            raise StoreError(f"{self.location}: the escalation store is closed")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            logger.warning("%s: connection lost; reconnecting", self.location)
        conn = self._psycopg.connect(self._url, autocommit=True, row_factory=self._dict_row,
                                     connect_timeout=max(1, int(self.connect_timeout)))
        try:
            if not self._schema_is_current(self._schema_version(conn)):
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    if not self._schema_is_current(self._schema_version(conn)):
                        for statement in (*_SCHEMA, SCHEMA_VERSION_UPSERT):
                            conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    @staticmethod
    def _schema_version(conn: Any) -> str | None:
        if not conn.execute("SELECT to_regclass('meta') IS NOT NULL AS present").fetchone()["present"]:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else row["value"]

    def _runner(self, conn: Any) -> Run:
        return lambda sql, params: conn.execute(self._sql(sql), params)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Run]:
        conn = self._connection()
        with conn.transaction():
            yield self._runner(conn)

    @contextmanager
    def _reader(self) -> Iterator[Run]:
        yield self._runner(self._connection())

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def _error(self, exc: Exception, action: str) -> StoreError:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"{self.location}: cannot {action}: {type(exc).__name__}: {first_line}")

    def _json_param(self, obj: Any) -> Any:
        return self._jsonb(obj)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
