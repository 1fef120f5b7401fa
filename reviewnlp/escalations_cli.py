"""``reviewnlp escalations``: list, show, acknowledge, resolve and export stored escalations.

:func:`register` adds the subcommand to an argparse ``subparsers`` object; each handler takes the
parsed ``args`` and returns an exit code (0 ok, 2 error: one line on stderr, no traceback).

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="reviewnlp")
>>> _ = register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["escalations", "ack", "7", "--by", "alice"])
>>> args.func.__name__, args.id, args.by, args.store
('cmd_ack', 7, 'alice', 'reviewnlp-escalations.db')
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from .errors import ReviewNLPError
from .store import STATUSES, open_store
from .store.base import SQLEscalationStore
from .types import Escalation

__all__ = ["register", "DEFAULT_STORE", "cmd_list", "cmd_show", "cmd_ack", "cmd_resolve", "cmd_export"]

DEFAULT_STORE = "reviewnlp-escalations.db"
_PROG = "reviewnlp escalations"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``escalations`` subcommand (``list|show|ack|resolve|export``) to ``subparsers``.

    Each leaf parser sets ``func``: call ``args.func(args)`` and exit with what it returns.
    ``--store`` is accepted before or after the sub-subcommand.

    >>> parser = argparse.ArgumentParser(prog="reviewnlp")
    >>> _ = register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["escalations", "list", "--store", "x.db", "--status", "open"]).store
    'x.db'
    """
    parser = subparsers.add_parser("escalations", description="Work with the escalations stored by routing.",
                                   help="list, show, acknowledge, resolve and export escalations")
    store_help = f"escalation store: a SQLite file or a postgresql:// URL (default {DEFAULT_STORE})"
    parser.add_argument("--store", default=DEFAULT_STORE, metavar="PATH_OR_URL", help=store_help)
    commands = parser.add_subparsers(dest="escalations_command", metavar="{list,show,ack,resolve,export}")
    commands.required = True

    def leaf(name: str, handler: Callable[[argparse.Namespace], int],
             help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--store", default=argparse.SUPPRESS, metavar="PATH_OR_URL", help=store_help)
        sub.set_defaults(func=handler)
        return sub

    listing = leaf("list", cmd_list, "list escalations, oldest first")
    listing.add_argument("--format", choices=("table", "jsonl"), default="table",
                         help="table for people, jsonl (one escalation per line) for programs")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--after", type=int, metavar="ID",
                         help="only escalations with an id above ID (the next page)")

    show = leaf("show", cmd_show, "show one escalation with its history, as JSON")
    show.add_argument("id", type=int)

    for name, handler, verb in (("ack", cmd_ack, "acknowledge an open escalation"),
                                ("resolve", cmd_resolve, "resolve an open or acknowledged escalation")):
        sub = leaf(name, handler, verb)
        sub.add_argument("id", type=int)
        sub.add_argument("--by", required=True, metavar="WHO", help="who does it (recorded in the history)")
        sub.add_argument("--note", help="an optional note for the history")

    export = leaf("export", cmd_export, "write every escalation with its history as JSON lines")
    export.add_argument("--out", required=True, metavar="FILE", help="output file, or - for stdout")
    return parser


@contextlib.contextmanager
def _store(args: argparse.Namespace) -> Iterator[SQLEscalationStore]:
    store = open_store(args.store, create=False)
    try:
        yield store
    finally:
        store.close()


def _handle(run: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """Turn a handler's expected failures into one line on stderr and exit code 2."""

    def handler(args: argparse.Namespace) -> int:
        try:
            run(args)
        except (ReviewNLPError, ValueError, OSError) as exc:
            print(f"{_PROG}: error: {exc}", file=sys.stderr)
            return 2
        return 0

    handler.__name__ = handler.__qualname__ = run.__name__
    handler.__doc__ = run.__doc__
    return handler


def _table(escalations: list[Escalation], out: IO[str]) -> None:
    columns = ("ID", "PRI", "STATUS", "QUEUE", "DUE (UTC)", "REVIEW")
    rows = [(str(e.id), str(e.priority), e.status, e.queue,
             e.due_at.strftime("%Y-%m-%d %H:%M") if e.due_at else "-", e.review_id) for e in escalations]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    for row in (columns, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


@_handle
def cmd_list(args: argparse.Namespace) -> None:
    """Print escalations as a table or as JSON lines (each with ``id`` and ``review_id``)."""
    with _store(args) as store:
        escalations = store.list(status=args.status, queue=args.queue, limit=args.limit, after_id=args.after)
    if args.format == "jsonl":
        for escalation in escalations:
            print(json.dumps(escalation.to_dict(), ensure_ascii=False))
    else:
        _table(escalations, sys.stdout)


@_handle
def cmd_show(args: argparse.Namespace) -> None:
    """Print one escalation and its events as indented JSON."""
    with _store(args) as store:
        record = store.get(args.id).to_dict()
        record["events"] = [event.to_dict() for event in store.events(args.id)]
    print(json.dumps(record, ensure_ascii=False, indent=2))


@_handle
def cmd_ack(args: argparse.Namespace) -> None:
    """Acknowledge an escalation."""
    with _store(args) as store:
        escalation = store.ack(args.id, args.by, args.note)
    print(f"escalation {escalation.id} acknowledged by {args.by}")


@_handle
def cmd_resolve(args: argparse.Namespace) -> None:
    """Resolve an escalation."""
    with _store(args) as store:
        escalation = store.resolve(args.id, args.by, args.note)
    print(f"escalation {escalation.id} resolved by {args.by}")


@_handle
def cmd_export(args: argparse.Namespace) -> None:
    """Export every escalation with its events as JSON lines to ``--out`` (``-``: stdout)."""
    with _store(args) as store:
        if args.out == "-":
            count = store.export(sys.stdout)
        else:  # write a temporary file and rename it: an interrupted export leaves no half file
            partial = f"{args.out}.partial"
            try:
                with open(partial, "w", encoding="utf-8") as fh:
                    count = store.export(fh)
                os.replace(partial, args.out)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(partial)
    print(f"exported {count} escalations to {args.out}", file=sys.stderr)
