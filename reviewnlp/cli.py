"""The ``reviewnlp`` command line: thin subcommands over the library.

Every handler is a few lines that call the modules; errors print one line naming the file,
line or field and exit with status 2 (never a traceback for bad input).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import ReviewNLPError

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _cmd_segment(args: argparse.Namespace) -> int:
    from .batch import read_records
    from .errors import InputError
    from .normalize import normalize
    from .segment import detect_language, segment

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for rec in read_records(args.input, text_column=args.text_column):
            if rec.error or not isinstance(rec.text, str):
                raise InputError(f"{args.input}:{rec.line}: {rec.error or f'{args.text_column!r} is not text'}",
                                 field=args.text_column, line=rec.line)
            norm = normalize(rec.text)
            row = {"id": rec.id if rec.id is not None else str(rec.row), "lang": detect_language(norm),
                   "tokens": segment(norm, drop_stopwords=args.drop_stopwords)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _add_segment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="normalize and segment reviews (CSV/JSONL/Parquet) to JSONL tokens")
    p.add_argument("input", help="input file (.csv, .jsonl, .parquet) or - for JSONL on stdin")
    p.add_argument("-o", "--output", help="output JSONL (default: stdout)")
    p.add_argument("--text-column", default="text", help="column holding the review text (default: text)")
    p.add_argument("--drop-stopwords", action="store_true", help="remove stop words")
    p.set_defaults(func=_cmd_segment)


_REGISTRARS: list[tuple[str, str]] = [
    # (module, function) that add subcommands; modules are imported when the parser is built,
    # and each keeps its heavy imports inside its handlers.
    ("reviewnlp.commands", "register"),
    ("reviewnlp.escalations_cli", "register"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reviewnlp",
        description="Triage customer reviews (zh/en): causes, severity, risk flags, routing, escalations.",
    )
    parser.add_argument("--version", action="version", version=f"reviewnlp {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_segment(sub)
    import importlib

    for mod, fn in _REGISTRARS:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # optional part not built or extra not installed
            if exc.name and exc.name.startswith("reviewnlp"):
                continue
            raise
        getattr(module, fn)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ReviewNLPError as exc:
        print(f"reviewnlp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"reviewnlp {args.command}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
