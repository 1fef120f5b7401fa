"""The escalation store contract, its records, and the SQL both backends share.

An escalation is stored once per ``(review_id, model_version)``. Its status moves
``open -> acknowledged -> resolved`` (``open -> resolved`` is allowed too); every change is a row
in the append-only ``events`` table, written in the same transaction as the denormalized
``escalations.status``. With ``outbox=True`` each new escalation also gets an ``outbox`` row, in the
same transaction, that :class:`~reviewnlp.store.webhook.WebhookForwarder` delivers.

>>> can_move("open", "acknowledged"), can_move("acknowledged", "acknowledged")
(True, False)
"""
from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Protocol, runtime_checkable

from ..errors import ReviewNLPError, StoreError
from ..types import Escalation, Prediction, RoutingDecision

__all__ = [
    "STATUSES",
    "EscalationStore",
    "Event",
    "Health",
    "OutboxItem",
    "UnknownEscalationError",
    "TransitionError",
    "can_move",
    "SQLEscalationStore",
]

logger = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved")
#: For each target status, the statuses it may be reached from.
_ALLOWED_FROM: Mapping[str, tuple[str, ...]] = {
    "acknowledged": ("open",),
    "resolved": ("open", "acknowledged"),
}
OUTBOX_STATUSES: tuple[str, ...] = ("pending", "delivered", "dead")
SCHEMA_VERSION = 1
#: Records the schema version after the tables are created (both dialects).
SCHEMA_VERSION_UPSERT = (f"INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}') "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
MAX_LIMIT = 10_000


class UnknownEscalationError(StoreError, LookupError):
    """No escalation has the given id."""


class TransitionError(StoreError, ValueError):
    """The requested status change is not allowed from the escalation's current status."""


def can_move(current: str, target: str) -> bool:
    """Return whether an escalation in status ``current`` may move to ``target``.

    >>> can_move("open", "resolved"), can_move("resolved", "acknowledged")
    (True, False)
    """
    return current in _ALLOWED_FROM.get(target, ())


@dataclass(frozen=True)
class Event:
    """One status change of an escalation (``status`` is the status it moved to)."""

    id: int
    escalation_id: int
    status: str
    actor: str
    at: datetime
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "escalation_id": self.escalation_id, "status": self.status,
                "actor": self.actor, "at": self.at.isoformat(), "note": self.note}


@dataclass(frozen=True)
class Health:
    """The result of :meth:`EscalationStore.healthcheck`: ``ok`` means a write was committed."""

    ok: bool
    backend: str
    location: str
    detail: str = ""


@dataclass(frozen=True)
class OutboxItem:
    """One webhook delivery of an escalation, and its delivery state."""

    id: int
    escalation_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    delivered_at: datetime | None = None


@runtime_checkable
class EscalationStore(Protocol):
    """What every escalation store provides; open one with :func:`reviewnlp.store.open_store`.

    Every write returns only after its transaction is committed. Errors of the database or the
    file system are raised as :class:`~reviewnlp.errors.StoreError` naming ``location``.
    """

    backend: str
    location: str

    def put(self, prediction: Prediction, decision: RoutingDecision,
            text: str = "") -> tuple[Escalation, bool]:
        """Store an escalation once per ``(review_id, model_version)``; return it and whether it is new."""

    def get(self, escalation_id: int) -> Escalation:
        """Return one escalation, or raise :class:`UnknownEscalationError`."""

    def list(self, status: str | None = None, queue: str | None = None, limit: int = 100,
             after_id: int | None = None) -> list[Escalation]:
        """Return escalations in id order, filtered; ``after_id`` is the cursor of the next page."""

    def count(self, status: str | None = None, queue: str | None = None) -> int:
        """Return how many escalations match the filters."""

    def ack(self, escalation_id: int, who: str, note: str | None = None) -> Escalation:
        """Move an open escalation to ``acknowledged``."""

    def resolve(self, escalation_id: int, who: str, note: str | None = None) -> Escalation:
        """Move an open or acknowledged escalation to ``resolved``."""

    def events(self, escalation_id: int) -> list[Event]:
        """Return the status history of one escalation, oldest first."""

    def export(self, fh: IO[str], format: str = "jsonl") -> int:
        """Write every escalation with its events to ``fh``; return how many."""

    def healthcheck(self) -> Health:
        """Commit a small write and report whether it worked."""

    def claim_outbox(self, limit: int = 20, lease: timedelta = timedelta(seconds=60),
                     now: datetime | None = None) -> list[OutboxItem]:
        """Take due outbox rows for delivery (attempts + 1; not due again before ``now + lease``)."""

    def outbox_delivered(self, item_id: int, now: datetime | None = None) -> None:
        """Mark an outbox row delivered."""

    def outbox_failed(self, item_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed delivery; retry at ``retry_at``, or give up (status ``dead``) when it is None."""

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Return outbox rows in id order."""

    def close(self) -> None:
        """Close the connection."""


# --------------------------------------------------------------------------------------------------
# Shared implementation
# --------------------------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_id(escalation_id: Any) -> int:
    if isinstance(escalation_id, bool) or not isinstance(escalation_id, int):
        raise ValueError(f"escalation id must be an integer, got {escalation_id!r}")
    return escalation_id


def _check_filters(status: str | None, limit: int | None = None) -> None:
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {limit!r}")


def _check_put(prediction: Prediction, decision: RoutingDecision) -> None:
    if not prediction.review_id:
        raise ValueError("prediction.review_id: an escalation needs a review id (it is the idempotency key)")
    if not prediction.model_version:
        raise ValueError("prediction.model_version: an escalation needs a model version")
    if decision.review_id is not None and decision.review_id != prediction.review_id:
        raise ValueError(f"decision.review_id: {decision.review_id!r} does not match prediction.review_id "
                         f"{prediction.review_id!r}")
    if decision.queue is None:
        raise ValueError(f"decision.queue: review {prediction.review_id!r} needs no action; nothing to store")


Run = Callable[[str, Sequence[Any]], Any]


class SQLEscalationStore(ABC):
    """The escalation store over a DB-API connection; subclasses supply the dialect.

    SQL here uses ``?`` placeholders (converted by :meth:`_sql`), and only syntax that SQLite
    (3.35+) and PostgreSQL share: ``INSERT ... ON CONFLICT DO NOTHING``, ``RETURNING``. One lock
    serializes the use of the connection by threads; open one store per process.
    """

    backend: str = "sql"
    #: Appended to the outbox claim's sub-select (PostgreSQL: skip rows another claimer holds).
    _claim_lock_clause: str = ""

    def __init__(self, location: str, *, outbox: bool = False):
        self.location = location
        self.outbox_enabled = outbox
        self._lock = threading.RLock()

    # ---- dialect hooks -------------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> Any:
        """A context manager: one write transaction, yielding a ``run(sql, params)`` function."""

    @abstractmethod
    def _reader(self) -> Any:
        """A context manager yielding a ``run(sql, params)`` function for reads."""

    @abstractmethod
    def _error(self, exc: Exception, action: str) -> StoreError:
        """Translate a driver error into a StoreError that names the location."""

    @abstractmethod
    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes that :meth:`_error` translates."""

    def _sql(self, sql: str) -> str:
        return sql

    def _schema_is_current(self, found: str | None) -> bool:
        """Whether the tables are this version's; a newer schema is an error (never downgrade it)."""
        if found is not None and int(found) > SCHEMA_VERSION:
            raise StoreError(f"{self.location}: the store's schema version {found} is newer than this "
                             f"reviewnlp supports ({SCHEMA_VERSION}); upgrade reviewnlp")
        return found is not None and int(found) == SCHEMA_VERSION

    def _ts_param(self, moment: datetime | None) -> Any:
        return moment

    def _ts_value(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(timezone.utc)

    def _json_param(self, obj: Any) -> Any:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True)

    def _json_value(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    # ---- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Hold the lock; turn driver errors into StoreError naming the location."""
        with self._lock:
            try:
                yield
            except ReviewNLPError:
                raise
            except self._driver_errors() as exc:
                error = self._error(exc, action)
                logger.warning("%s", error)
                raise error from exc

    @contextmanager
    def _write(self, action: str) -> Iterator[Run]:
        with self._guard(action), self._transaction() as run:
            yield run

    @contextmanager
    def _read(self, action: str) -> Iterator[Run]:
        with self._guard(action), self._reader() as run:
            yield run

    def _escalation(self, row: Mapping[str, Any]) -> Escalation:
        return Escalation(
            review_id=row["review_id"], model_version=row["model_version"], queue=row["queue"],
            team=row["team"], priority=int(row["priority"]), due_at=self._ts_value(row["due_at"]),
            status=row["status"], created_at=self._ts_value(row["created_at"]),
            prediction=self._json_value(row["prediction"]), decision=self._json_value(row["decision"]),
            text=row["text"], id=int(row["id"]))

    def _event(self, row: Mapping[str, Any]) -> Event:
        return Event(id=int(row["id"]), escalation_id=int(row["escalation_id"]), status=row["status"],
                     actor=row["actor"], at=self._ts_value(row["at"]), note=row["note"])

    def _outbox_item(self, row: Mapping[str, Any]) -> OutboxItem:
        return OutboxItem(id=int(row["id"]), escalation_id=int(row["escalation_id"]), status=row["status"],
                          attempts=int(row["attempts"]),
                          next_attempt_at=self._ts_value(row["next_attempt_at"]),
                          payload=self._json_value(row["payload"]), last_error=row["last_error"],
                          delivered_at=self._ts_value(row["delivered_at"]))

    # ---- API -----------------------------------------------------------------------------------

    def put(self, prediction: Prediction, decision: RoutingDecision,
            text: str = "") -> tuple[Escalation, bool]:
        """Store an escalation once per ``(review_id, model_version)``.

        ``text`` is stored as given: mask personal data before calling. Returns the stored
        escalation (the existing one when it was already stored) and whether this call created
        it; returns only after the transaction (escalation, ``open`` event and outbox row) is
        committed.
        """
        _check_put(prediction, decision)
        if not isinstance(text, str):
            raise ValueError(f"text: expected a string, got {type(text).__name__}")
        now = _utc_now()
        with self._write(f"store escalation for review {prediction.review_id!r}") as run:
            row = run("INSERT INTO escalations (review_id, model_version, queue, team, priority, due_at, "
                      "status, created_at, prediction, decision, text) "
                      "VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?) "
                      "ON CONFLICT (review_id, model_version) DO NOTHING RETURNING id",
                      (prediction.review_id, prediction.model_version, decision.queue, decision.team,
                       decision.priority, self._ts_param(decision.due_at), self._ts_param(now),
                       self._json_param(prediction.to_dict()), self._json_param(decision.to_dict()),
                       text)).fetchone()
            created = row is not None
            if created:
                run("INSERT INTO events (escalation_id, status, actor, at, note) "
                    "VALUES (?, 'open', 'system', ?, NULL)", (int(row["id"]), self._ts_param(now)))
            row = run("SELECT * FROM escalations WHERE review_id = ? AND model_version = ?",
                      (prediction.review_id, prediction.model_version)).fetchone()
            escalation = self._escalation(row)
            if created and self.outbox_enabled:
                payload = {"event": "escalation.created", "escalation": escalation.to_dict()}
                run("INSERT INTO outbox (escalation_id, status, attempts, next_attempt_at, payload, "
                    "created_at) VALUES (?, 'pending', 0, ?, ?, ?)",
                    (escalation.id, self._ts_param(now), self._json_param(payload), self._ts_param(now)))
        if created:
            logger.info("stored escalation %s for review %r in queue %s", escalation.id, escalation.review_id,
                        escalation.queue)
        return escalation, created

    def get(self, escalation_id: int) -> Escalation:
        """Return escalation ``escalation_id``; raise :class:`UnknownEscalationError` if there is none."""
        escalation_id = _check_id(escalation_id)
        with self._read(f"read escalation {escalation_id}") as run:
            row = run("SELECT * FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
        if row is None:
            raise UnknownEscalationError(f"{self.location}: no escalation with id {escalation_id}")
        return self._escalation(row)

    def list(self, status: str | None = None, queue: str | None = None, limit: int = 100,
             after_id: int | None = None) -> list[Escalation]:
        """Return up to ``limit`` escalations with id above ``after_id``, in id order."""
        _check_filters(status, limit)
        where, params = self._where(status, queue)
        if after_id is not None:
            where.append("id > ?")
            params.append(_check_id(after_id))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._read("list escalations") as run:
            rows = run(f"SELECT * FROM escalations{clause} ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [self._escalation(row) for row in rows]

    def count(self, status: str | None = None, queue: str | None = None) -> int:
        """Return how many escalations have this status and queue (``None``: any)."""
        _check_filters(status)
        where, params = self._where(status, queue)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._read("count escalations") as run:
            row = run(f"SELECT COUNT(*) AS n FROM escalations{clause}", params).fetchone()
        return int(row["n"])

    @staticmethod
    def _where(status: str | None, queue: str | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status), ("queue", queue)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return where, params

    def ack(self, escalation_id: int, who: str, note: str | None = None) -> Escalation:
        """Acknowledge an open escalation; raise :class:`TransitionError` if it is not open."""
        return self._move(escalation_id, "acknowledged", who, note)

    def resolve(self, escalation_id: int, who: str, note: str | None = None) -> Escalation:
        """Resolve an open or acknowledged escalation; raise :class:`TransitionError` otherwise."""
        return self._move(escalation_id, "resolved", who, note)

    def _move(self, escalation_id: int, target: str, who: str, note: str | None) -> Escalation:
        escalation_id = _check_id(escalation_id)
        if not isinstance(who, str) or not who.strip():
            raise ValueError(f"who: the person changing escalation {escalation_id} is required")
        if note is not None and not isinstance(note, str):
            raise ValueError(f"note: expected a string, got {type(note).__name__}")
        sources = _ALLOWED_FROM[target]
        marks = ", ".join("?" for _ in sources)
        verb = {"acknowledged": "acknowledge", "resolved": "resolve"}[target]
        with self._write(f"{verb} escalation {escalation_id}") as run:
            # Compare-and-set: concurrent callers cannot both move the same escalation.
            moved = run(f"UPDATE escalations SET status = ? WHERE id = ? AND status IN ({marks}) "
                        "RETURNING id", (target, escalation_id, *sources)).fetchone()
            if moved is None:
                row = run("SELECT status FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
                if row is None:
                    raise UnknownEscalationError(f"{self.location}: no escalation with id {escalation_id}")
                raise TransitionError(f"cannot {verb} escalation {escalation_id}: it is {row['status']}; "
                                      f"allowed only from {' or '.join(sources)}")
            run("INSERT INTO events (escalation_id, status, actor, at, note) VALUES (?, ?, ?, ?, ?)",
                (escalation_id, target, who.strip(), self._ts_param(_utc_now()), note))
            row = run("SELECT * FROM escalations WHERE id = ?", (escalation_id,)).fetchone()
        logger.info("escalation %s %s by %s", escalation_id, target, who)
        return self._escalation(row)

    def events(self, escalation_id: int) -> list[Event]:
        """Return the status history of one escalation, oldest first."""
        escalation_id = _check_id(escalation_id)
        with self._read(f"read events of escalation {escalation_id}") as run:
            rows = run("SELECT * FROM events WHERE escalation_id = ? ORDER BY id",
                       (escalation_id,)).fetchall()
            exists = bool(rows) or run("SELECT id FROM escalations WHERE id = ?",
                                       (escalation_id,)).fetchone() is not None
            if not exists:
                raise UnknownEscalationError(f"{self.location}: no escalation with id {escalation_id}")
        return [self._event(row) for row in rows]

    def export(self, fh: IO[str], format: str = "jsonl") -> int:
        """Write every escalation, with an ``events`` list, as one JSON object per line; return the count."""
        if format != "jsonl":
            raise ValueError(f"format: unsupported export format {format!r}; expected 'jsonl'")
        written, after = 0, None
        while page := self.list(limit=500, after_id=after):
            for escalation in page:
                record = escalation.to_dict()
                record["events"] = [event.to_dict() for event in self.events(escalation.id)]
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += len(page)
            after = page[-1].id
        return written

    def healthcheck(self) -> Health:
        """Commit a one-row write; ``ok`` is false (with the reason) when the store cannot be written."""
        try:
            with self._write("write the health-check row") as run:
                run("INSERT INTO meta (key, value) VALUES ('healthcheck', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (_utc_now().isoformat(),))
        except StoreError as exc:
            return Health(ok=False, backend=self.backend, location=self.location, detail=str(exc))
        return Health(ok=True, backend=self.backend, location=self.location, detail="writable")

    # ---- outbox --------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 20, lease: timedelta = timedelta(seconds=60),
                     now: datetime | None = None) -> list[OutboxItem]:
        """Claim due ``pending`` outbox rows: count the attempt and hide them until ``now + lease``.

        A forwarder that dies after claiming loses nothing: the rows are due again after the lease.
        """
        _check_filters(None, limit)
        now = now or _utc_now()
        with self._write("claim outbox rows") as run:
            rows = run("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? "
                       "WHERE status = 'pending' AND next_attempt_at <= ? AND id IN (SELECT id FROM outbox "
                       "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?"
                       f"{self._claim_lock_clause}) RETURNING *",
                       (self._ts_param(now + lease), self._ts_param(now), self._ts_param(now),
                        limit)).fetchall()
        return sorted((self._outbox_item(row) for row in rows), key=lambda item: item.id)

    def outbox_delivered(self, item_id: int, now: datetime | None = None) -> None:
        """Mark outbox row ``item_id`` delivered."""
        with self._write(f"mark outbox row {item_id} delivered") as run:
            run("UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = NULL WHERE id = ?",
                (self._ts_param(now or _utc_now()), _check_id(item_id)))

    def outbox_failed(self, item_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed delivery: due again at ``retry_at``, or ``dead`` when ``retry_at`` is None."""
        status = "pending" if retry_at is not None else "dead"
        with self._write(f"record failed delivery of outbox row {item_id}") as run:
            run("UPDATE outbox SET status = ?, next_attempt_at = COALESCE(?, next_attempt_at), "
                "last_error = ? WHERE id = ?",
                (status, self._ts_param(retry_at), error[:2000], _check_id(item_id)))

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Return outbox rows (optionally only ``pending``, ``delivered`` or ``dead``) in id order."""
        if status is not None and status not in OUTBOX_STATUSES:
            expected = ", ".join(OUTBOX_STATUSES)
            raise ValueError(f"status: unknown outbox status {status!r}; expected one of {expected}")
        _check_filters(None, limit)
        clause, params = (" WHERE status = ?", [status]) if status else ("", [])
        with self._read("read the outbox") as run:
            rows = run(f"SELECT * FROM outbox{clause} ORDER BY id LIMIT ?", (*params, limit)).fetchall()
        return [self._outbox_item(row) for row in rows]

    def __enter__(self) -> SQLEscalationStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
