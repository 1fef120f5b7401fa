"""Durable escalation stores behind one protocol, :class:`EscalationStore`.

``open_store`` picks the backend from its argument: a ``postgresql://`` (or ``postgres://``) URL
opens PostgreSQL, anything else is the path of a SQLite file.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = open_store(pathlib.Path(tmp) / "escalations.db")
...     print(store.backend, store.count())
...     store.close()
sqlite 0
"""
from __future__ import annotations

import os

from .base import (
    STATUSES,
    EscalationStore,
    Event,
    Health,
    OutboxItem,
    SQLEscalationStore,
    TransitionError,
    UnknownEscalationError,
)

__all__ = [
    "open_store",
    "EscalationStore",
    "SQLEscalationStore",
    "Event",
    "Health",
    "OutboxItem",
    "STATUSES",
    "TransitionError",
    "UnknownEscalationError",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url_or_path: str | os.PathLike[str], *, outbox: bool = False,
               create: bool = True) -> SQLEscalationStore:
    """Open (and create the tables of) an escalation store.

    Parameters
    ----------
    url_or_path
        ``postgresql://user:password@host:port/db`` for PostgreSQL; otherwise a SQLite file path.
    outbox
        Write a webhook outbox row with each new escalation (run a
        :class:`~reviewnlp.store.webhook.WebhookForwarder` to deliver them).
    create
        SQLite only: when false, a missing file is a :class:`~reviewnlp.errors.StoreError`.

    Returns
    -------
    SQLEscalationStore
        A store implementing :class:`EscalationStore`; close it, or use it in a ``with`` block.

    Examples
    --------
    >>> from reviewnlp.errors import StoreError
    >>> try:
    ...     open_store("/no-such-dir/esc.db")
    ... except StoreError as exc:
    ...     print(exc)
    /no-such-dir/esc.db: cannot create the escalation store: directory /no-such-dir does not exist
    """
    target = os.fspath(url_or_path)
    if target.lower().startswith(_POSTGRES_SCHEMES):
        from .postgres import PostgresStore

        return PostgresStore(target, outbox=outbox)
    from .sqlite import SQLiteStore

    return SQLiteStore(target, outbox=outbox, create=create)
