"""Small readers shared by the CLI commands (the streaming batch engine lives in ``batch.py``)."""
from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

csv.field_size_limit(2**31 - 1)


def iter_texts(path: str, text_column: str = "text", id_column: str = "id") -> Iterator[dict]:
    """Yield ``{"id", "text", "line"}`` from a CSV, JSONL, TXT or Parquet file, one row at a time.

    Bad rows raise :class:`InputError` naming the file and line.
    """
    if path == "-":
        for n, line in enumerate(sys.stdin, 1):
            if line.strip():
                yield {"id": str(n), "text": line.rstrip("\n"), "line": n}
        return
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(p)
        n = 0
        for batch in pf.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield _row(row, path, n, text_column, id_column)
        return
    with open(p, encoding="utf-8-sig", errors="strict", newline="") as fh:
        try:
            if suffix == ".csv":
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or text_column not in reader.fieldnames:
                    raise InputError(f"{path}: no column {text_column!r} (have {reader.fieldnames})",
                                     field=text_column)
                for row in reader:
                    yield _row(row, path, reader.line_num, text_column, id_column)
            elif suffix in (".jsonl", ".ndjson", ".json"):
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}:{n}: malformed JSON: {exc.msg}", line=n) from None
                    if not isinstance(row, dict):
                        raise InputError(f"{path}:{n}: expected a JSON object", line=n)
                    yield _row(row, path, n, text_column, id_column)
            else:
                for n, line in enumerate(fh, 1):
                    if line.strip():
                        yield {"id": str(n), "text": line.rstrip("\n"), "line": n}
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not valid UTF-8 near byte {exc.start}") from None


def _row(row: dict, path: str, n: int, text_column: str, id_column: str) -> dict:
    text = row.get(text_column)
    if not isinstance(text, str):
        raise InputError(f"{path}:{n}: field {text_column!r} must be a string, got {type(text).__name__}",
                         field=text_column, line=n)
    rid = row.get(id_column)
    return {"id": str(rid) if rid not in (None, "") else str(n), "text": text, "line": n, "row": row}
