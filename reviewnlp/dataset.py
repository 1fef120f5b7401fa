"""The labelled dataset: schema, loading and validation.

Gold rows are JSONL with exactly these fields::

    id, text, lang, source, source_ref, causes, severity, flags, stratum, annotator, split

``validate_files`` reports every malformed row with its file and line: unknown labels, causes with
severity ``none`` (or a complaint without causes), duplicate ids, split/file mismatches and text
shared between splits (after normalization).

>>> row = {"id": "x", "text": "太慢了", "lang": "zh", "source": "s", "source_ref": "f:1",
...        "causes": ["logistics"], "severity": "none", "flags": [], "stratum": "random:s",
...        "annotator": "a", "split": "train"}
>>> check_row(row)
['causes given but severity is none']
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError
from .labels import CAUSES, FLAGS, LANGS, SEVERITIES

FIELDS: tuple[str, ...] = ("id", "text", "lang", "source", "source_ref", "causes", "severity", "flags",
                           "stratum", "annotator", "split")
SPLITS: tuple[str, ...] = ("train", "dev", "test")


def check_row(row: Any) -> list[str]:
    """Problems of one gold row (empty list when it is valid)."""
    if not isinstance(row, dict):
        return [f"row must be a JSON object, got {type(row).__name__}"]
    errs = []
    missing = [f for f in FIELDS if f not in row]
    unknown = [f for f in row if f not in FIELDS]
    if missing:
        errs.append(f"missing fields: {', '.join(missing)}")
    if unknown:
        errs.append(f"unknown fields: {', '.join(unknown)}")
    for f in ("id", "text", "lang", "source", "source_ref", "severity", "stratum", "annotator", "split"):
        if f in row and not isinstance(row[f], str):
            errs.append(f"field {f!r} must be a string")
    for f in ("causes", "flags"):
        if f in row and (not isinstance(row[f], list) or not all(isinstance(x, str) for x in row[f])):
            errs.append(f"field {f!r} must be a list of strings")
    if errs:
        return errs
    if not row["text"].strip():
        errs.append("field 'text' is empty")
    if row["lang"] not in LANGS:
        errs.append(f"unknown lang {row['lang']!r}")
    bad = [c for c in row["causes"] if c not in CAUSES]
    if bad:
        errs.append(f"unknown causes: {', '.join(bad)}")
    bad = [f for f in row["flags"] if f not in FLAGS]
    if bad:
        errs.append(f"unknown flags: {', '.join(bad)}")
    if len(set(row["causes"])) != len(row["causes"]) or len(set(row["flags"])) != len(row["flags"]):
        errs.append("repeated label")
    if row["severity"] not in SEVERITIES:
        errs.append(f"unknown severity {row['severity']!r}")
    elif row["severity"] == "none" and row["causes"]:
        errs.append("causes given but severity is none")
    elif row["severity"] != "none" and not row["causes"]:
        errs.append(f"severity {row['severity']} but no causes")
    if row["split"] not in SPLITS:
        errs.append(f"unknown split {row['split']!r}")
    return errs


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, object)``; a malformed line raises :class:`InputError` naming file and line."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: malformed JSON: {exc.msg}", line=n) from None


def _text_key(text: str) -> str:
    from .normalize import normalize

    return "".join(ch for ch in normalize(text) if ch.isalnum())


def validate_files(paths: Iterable[str | Path]) -> list[str]:
    """Validate gold files together; returns ``"file:line: problem"`` strings (empty when valid)."""
    errors: list[str] = []
    seen_ids: dict[str, str] = {}
    text_split: dict[str, tuple[str, str]] = {}
    for path in paths:
        path = Path(path)
        expected_split = path.stem if path.stem in SPLITS else None
        try:
            rows = list(read_jsonl(path))
        except InputError as exc:
            errors.append(str(exc))
            continue
        for n, row in rows:
            where = f"{path}:{n}"
            errs = check_row(row)
            errors.extend(f"{where}: {e}" for e in errs)
            if errs:
                continue
            if expected_split and row["split"] != expected_split:
                errors.append(f"{where}: split {row['split']!r} in file {path.name}")
            if row["id"] in seen_ids:
                errors.append(f"{where}: duplicate id {row['id']!r} (first at {seen_ids[row['id']]})")
            else:
                seen_ids[row["id"]] = where
            key = _text_key(row["text"])
            if key in text_split and text_split[key][0] != row["split"]:
                errors.append(f"{where}: text also in split {text_split[key][0]!r} at {text_split[key][1]}")
            text_split.setdefault(key, (row["split"], where))
    return errors


def load_gold(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Load gold rows from a file or a directory of ``{train,dev,test}.jsonl``; validate as they load."""
    path = Path(path)
    files = [path / f"{s}.jsonl" for s in SPLITS] if path.is_dir() else [path]
    out = []
    for f in files:
        if not f.exists():
            raise InputError(f"{f}: no such dataset file")
        for n, row in read_jsonl(f):
            errs = check_row(row)
            if errs:
                raise InputError(f"{f}:{n}: {errs[0]}", line=n)
            if split is None or row["split"] == split:
                out.append(row)
    return out
