"""The embedded escalation store: one SQLite file.

The file is opened in WAL mode with ``synchronous=FULL`` (a committed escalation survives a
crash or power loss) and a busy timeout (writers in other threads and processes wait their turn
instead of failing). Triggers make ``events`` append-only.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp, SQLiteStore(pathlib.Path(tmp) / "esc.db") as store:
...     store.count(), store.healthcheck().ok
(0, True)
"""
from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .base import SCHEMA_VERSION_UPSERT, Run, SQLEscalationStore

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS escalations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        review_id TEXT NOT NULL,
        model_version TEXT NOT NULL,
        queue TEXT NOT NULL,
        team TEXT,
        priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
        due_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        created_at TEXT NOT NULL,
        prediction TEXT NOT NULL,
        decision TEXT NOT NULL,
        text TEXT NOT NULL,
        UNIQUE (review_id, model_version))""",
    "CREATE INDEX IF NOT EXISTS escalations_status_queue ON escalations (status, queue)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        escalation_id INTEGER NOT NULL REFERENCES escalations (id),
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        note TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_escalation ON events (escalation_id)",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE rejected'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE rejected'); END""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        escalation_id INTEGER NOT NULL REFERENCES escalations (id),
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        last_error TEXT,
        delivered_at TEXT,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
)

_HINTS = (
    ("readonly", "the file or its directory is read-only"),
    ("unable to open", "cannot open or create the file: check that its directory exists and is writable"),
    ("disk is full", "the disk is full"),
    ("disk i/o error", "the disk failed to read or write"),
    ("locked", "another writer held the database longer than the busy timeout"),
    ("not a database", "the file is not an escalation store"),
    ("malformed", "the file is corrupt"),
)


class SQLiteStore(SQLEscalationStore):
    """An escalation store in one SQLite file.

    Parameters
    ----------
    path
        The database file; it is created (with its tables) unless ``create`` is false.
    outbox
        Also write an outbox row per new escalation, for the webhook forwarder.
    create
        When false, a missing file is an error instead of a new, empty store.
    busy_timeout
        Seconds a writer waits for another one before failing.
    """

    backend = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, outbox: bool = False, create: bool = True,
                 busy_timeout: float = 15.0):
        super().__init__(os.fspath(path), outbox=outbox)
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        if not create and not self.path.is_file():
            raise StoreError(f"{self.location}: no escalation store at this path")
        if not self.path.parent.is_dir():
            raise StoreError(f"{self.location}: cannot create the escalation store: "
                             f"directory {self.path.parent} does not exist")
        self._conn: sqlite3.Connection | None = None
        with self._guard("open the escalation store"):
            self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                logger.warning("%s: journal mode is %s, not WAL (file system without shared memory?)",
                               self.location, mode)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._schema_is_current(self._schema_version(conn)):
                # Only a new or older file is written to here: a read-only store stays readable.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if not self._schema_is_current(self._schema_version(conn)):
                        for statement in (*_SCHEMA, SCHEMA_VERSION_UPSERT):
                            conn.execute(statement)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> str | None:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else row[0]

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.location}: the escalation store is closed")
        return self._conn

    @staticmethod
    def _runner(conn: sqlite3.Connection) -> Run:
        return lambda sql, params: conn.execute(sql, params)

    @contextmanager
    def _transaction(self) -> Iterator[Run]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._runner(conn)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:  # the original error is the one worth reporting
                    logger.warning("%s: rollback failed: %s", self.location, exc)

    @contextmanager
    def _reader(self) -> Iterator[Run]:
        yield self._runner(self._connection())

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _error(self, exc: Exception, action: str) -> StoreError:
        message = str(exc)
        hint = next((text for needle, text in _HINTS if needle in message.lower()), "")
        return StoreError(f"{self.location}: cannot {action}: {message}" + (f" ({hint})" if hint else ""))

    def _ts_param(self, moment: datetime | None) -> Any:
        return None if moment is None else moment.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def _ts_value(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
