"""Helpers of the batch tests: real reviews from /work/shared/corpora (never invented text)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", "/work/shared/corpora"))
WAIMAI = CORPORA / "waimai_10k" / "waimai_10k.csv"
SHOPPING = CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv"


def read_reviews(path: Path, n: int, step: int = 1, text_column: str = "review") -> list[dict[str, str]]:
    """The first ``n`` non-empty reviews of a corpus CSV (every ``step``-th one), with their source line."""
    if not path.exists():
        pytest.skip(f"corpus {path} is not available (set REVIEWNLP_CORPORA)")
    out: list[dict[str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i % step or not row[text_column].strip():
                continue
            out.append({**row, "text": row[text_column].lstrip("\ufeff"), "source_row": str(i + 2)})
            if len(out) >= n:
                break
    return out


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def write_parquet(path: Path, rows: list[dict], row_group_size: int | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    """Output rows as dicts, whatever the format (CSV cells stay strings)."""
    suffix = path.suffix
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def as_list(value: Any) -> list[str]:
    """A list column from any format (CSV joins it with ``;``)."""
    if isinstance(value, str):
        return value.split(";") if value else []
    return list(value or [])
