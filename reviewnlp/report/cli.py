"""``reviewnlp report``: a seller report (``report.html`` + CSV tables) from raw or classified reviews.

Raw reviews (no prediction columns) are classified first, streaming, into ``DIR/predictions.parquet``
with :func:`reviewnlp.batch.run_batch`; ``reviewnlp classify`` output (CSV, JSONL or Parquet,
recognised by its columns) is read directly. Only the columns the report needs are loaded.

Files written to ``DIR``: ``report.html`` (self-contained), ``complaints_by_category.csv``,
``complaints_by_product.csv``, ``weekly.csv``, ``weekly_by_product.csv``, ``severity.csv``,
``top_terms.csv``, ``spike_alerts.csv``, ``contradictions.csv``, ``escalated.csv`` (the ones the
input's columns allow) and ``summary.json``.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["register", "build_report", "ReportOptions", "read_columns", "peek_columns"]

logger = logging.getLogger(__name__)

_NEEDED = ("id", "severity", "causes", "flags", "complaint", "escalate", "queue", "priority", "due_at",
           "confidence", "primary_cause")


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report (see ``reviewnlp report --help``)."""

    week: str | None = None
    spike_min_reviews: int = 10
    spike_min_history: int = 20
    spike_alpha: float = 0.01
    top_terms: int = 12
    title: str = "Review report"


def peek_columns(path: str | Path, fmt: str) -> tuple[str, ...]:
    """The column names of a CSV header, a Parquet schema or the first JSON object of a JSONL file."""
    import csv

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return tuple(pq.read_schema(path).names)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        if fmt == "csv":
            return tuple(next(csv.reader(fh), []))
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    return tuple(obj)
            if n > 1000:
                break
    return ()


def read_columns(path: str | Path, fmt: str, wanted: set[str]) -> Any:
    """A pandas DataFrame of the ``wanted`` columns present in the file (strings stay strings)."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        names = [c for c in pq.read_schema(path).names if c in wanted]
        return pq.read_table(path, columns=names).to_pandas()
    if fmt == "csv":
        return pd.read_csv(path, usecols=lambda c: c in wanted, dtype=str, keep_default_na=False,
                           encoding="utf-8-sig")
    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                logger.warning("%s:%d: skipped a malformed JSON line", path, n)
                continue
            if isinstance(obj, dict):
                records.append({k: v for k, v in obj.items() if k in wanted})
    return pd.DataFrame.from_records(records)


def build_report(input: str | Path, out_dir: str | Path, *, model_path: str | None = None,
                 text_column: str = "text", id_column: str = "id", product_column: str = "product",
                 category_column: str = "category", date_column: str = "date", star_column: str = "star",
                 input_format: str | None = None, jobs: int = 1, quiet: bool = True,
                 options: ReportOptions = ReportOptions(), font: str | None = "auto",
                 required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write the report for ``input`` into ``out_dir``; returns a summary with the file paths.

    Parameters
    ----------
    input : path
        Raw reviews or ``reviewnlp classify`` output (CSV, JSONL or Parquet).
    out_dir : path
        Created if needed.
    text_column, id_column, product_column, category_column, date_column, star_column : str
        Input column names; product, category, date and star are optional (their sections are
        skipped with a note) unless named in ``required``.
    model_path : str, optional
        Model for raw input (``None``: the shipped model).
    jobs : int
        Worker processes to classify raw input.
    options : ReportOptions
    font : str or None
        Chart font for CJK labels; ``"auto"`` finds one, ``None`` forces the English fallback.
    required : tuple of str
        Column roles (``"product"``, ...) that must exist: the CLI marks those given explicitly.
    """
    from ..batch import detect_format, run_batch
    from . import html as report_html
    from . import stats

    if not Path(input).is_file():
        raise FileNotFoundError(errno.ENOENT, "no such input file", str(input))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fmt = detect_format(input, input_format, "input")
    columns = peek_columns(input, fmt)
    classified = stats.is_classified(columns)
    meta: dict[str, str] = {"input": str(input)}
    notes: dict[str, str] = {}
    classify_summary = None
    roles = {"product": product_column, "category": category_column, "date": date_column, "star": star_column}
    for role in required:
        if roles[role] not in columns:
            raise InputError(f"{input}: no {role} column {roles[role]!r} (the columns are {', '.join(columns)})",
                             field=roles[role])
    if not classified:
        if text_column not in columns:
            raise InputError(f"{input}: no column {text_column!r} to classify and no prediction columns "
                             f"(the columns are {', '.join(columns)})", field=text_column)
        target = out / "predictions.parquet"
        classify_summary = run_batch(input, target, model_path=model_path, text_column=text_column,
                                     id_column=id_column, jobs=jobs, quiet=quiet, input_format=input_format,
                                     output_format="parquet")
        meta["classified"] = f"{classify_summary['rows_out']:,} rows into {target.name}"
        if classify_summary["errors"]:
            notes["classify"] = (f"{classify_summary['errors']} rows could not be classified; see "
                                 f"{Path(classify_summary['errors_file']).name}.")
        source, source_fmt = target, "parquet"
        columns = peek_columns(target, "parquet")
    else:
        source, source_fmt = Path(input), fmt
        meta["classified"] = "input already classified"
    cols = stats.ReportColumns(text=text_column, id="id", product=product_column, category=category_column,
                               date=date_column, star=star_column)
    wanted = {*_NEEDED, text_column, product_column, category_column, date_column, star_column,
              "model_version"}
    raw = read_columns(source, source_fmt, wanted)
    if "model_version" in raw and len(raw):
        meta["model"] = ", ".join(sorted(map(str, raw["model_version"].dropna().unique())))[:80]
    df = stats.prepare(raw, cols)
    del raw
    tables, notes = _tables(df, options, notes, roles, text_column)
    summary = stats.summary(df)
    written = {}
    for name, filename in _CSV_NAMES.items():
        if name in tables:
            path = out / filename
            tables[name].to_csv(path, index=False, encoding="utf-8")
            written[name] = str(path)
    charts = report_html.make_charts(tables, font=font)
    content = report_html.ReportContent(title=options.title, meta=meta, summary=summary, tables=tables,
                                        notes={**notes, "by_category": notes.get("by_category", "")})
    html_path = out / "report.html"
    html_path.write_text(report_html.render(content, charts), encoding="utf-8")
    result = {"report": str(html_path), "tables": written, "summary": summary, "charts": sorted(charts),
              "classified_input": classified, "options": asdict(options), "notes": notes}
    if classify_summary is not None:
        result["classify"] = classify_summary
    (out / "summary.json").write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n",
                                      encoding="utf-8")
    return result


_CSV_NAMES = {"by_category": "complaints_by_category.csv", "by_product": "complaints_by_product.csv",
              "weekly": "weekly.csv", "weekly_by_product": "weekly_by_product.csv", "severity": "severity.csv",
              "top_terms": "top_terms.csv", "spikes": "spike_alerts.csv", "contradictions": "contradictions.csv",
              "escalated": "escalated.csv"}


def _tables(df: Any, options: ReportOptions, notes: dict[str, str], roles: dict[str, str],
            text_column: str) -> tuple[dict[str, Any], dict[str, str]]:
    from . import stats

    tables: dict[str, Any] = {}
    notes = dict(notes)
    for key, by in (("by_category", "category"), ("by_product", "product")):
        if by in df and df[by].notna().any():
            tables[key] = stats.complaint_mix(df, by)
        else:
            notes[key] = f"No {by} column ({roles[by]!r}); pass --{by}-column."
    has_weeks = "week" in df and df["week"].notna().any()
    if has_weeks:
        tables["weekly"] = stats.weekly(df)
        if "product" in df:
            tables["weekly_by_product"] = stats.weekly(df, by="product")
    else:
        notes["weekly"] = f"No usable date column ({roles['date']!r}); weekly figures and spike alerts need one."
    tables["severity"] = stats.severity_distribution(df)
    if "text" in df:
        tables["top_terms"] = stats.top_terms(df, k=options.top_terms)
        notes["top_terms"] = ("Weighted log-odds (informative Dirichlet prior) of each term's document frequency "
                              "in the complaints with the cause against the other complaints; z = score / sd. "
                              "Stop words, single characters, numbers and masked personal data removed.")
    else:
        notes["top_terms"] = f"No text column ({text_column!r}) in the classified input."
    if has_weeks and "product" in df:
        tables["spikes"] = stats.spike_alerts(df, "product", week=options.week,
                                              min_reviews=options.spike_min_reviews,
                                              min_history=options.spike_min_history, alpha=options.spike_alpha)
        notes["spikes"] = (f"Complaint rate of each product in the week against its own earlier weeks: one-sided "
                           f"binomial test (alert when p <= {options.spike_alpha} and z >= 2), only products "
                           f"with >= {options.spike_min_reviews} reviews that week and "
                           f">= {options.spike_min_history} before.")
    elif not has_weeks:
        notes["spikes"] = "Spike alerts need a date column."
    else:
        notes["spikes"] = f"Spike alerts need a product column ({roles['product']!r})."
    if "star" in df and df["star"].notna().any():
        tables["contradictions"] = stats.contradictions(df)
        notes["contradictions"] = ("4-5 stars with a safety flag or severity high/critical, and 1 star without a "
                                   "complaint.")
    else:
        notes["contradictions"] = f"No star column ({roles['star']!r})."
    tables["escalated"] = stats.escalated(df)
    return tables, notes


def _cmd_report(args: argparse.Namespace) -> int:
    defaults = {"product": "product", "category": "category", "date": "date", "star": "star"}
    required = tuple(role for role, default in defaults.items() if getattr(args, f"{role}_column") != default)
    options = ReportOptions(week=args.week, spike_min_reviews=args.min_reviews,
                            spike_min_history=args.min_history, title=args.title)
    result = build_report(args.input, args.out, model_path=args.model, text_column=args.text_column,
                          id_column=args.id_column, product_column=args.product_column,
                          category_column=args.category_column, date_column=args.date_column,
                          star_column=args.star_column, input_format=args.input_format, jobs=args.jobs,
                          quiet=args.quiet, options=options, required=required)
    if not args.quiet:
        s = result["summary"]
        print(json.dumps({"report": result["report"], "reviews": s["reviews"], "complaints": s["complaints"],
                          "escalated": s["escalated"], "tables": sorted(result["tables"])}, ensure_ascii=False),
              file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser("report", help="seller report (HTML + CSV tables) from raw or classified reviews")
    p.add_argument("input", help="raw reviews or `reviewnlp classify` output (.csv, .jsonl, .parquet)")
    p.add_argument("--out", required=True, help="directory for report.html and the CSV tables")
    p.add_argument("--model", help="model directory for raw input (default: the shipped model)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", default="id", help="id column of raw input")
    p.add_argument("--product-column", default="product")
    p.add_argument("--category-column", default="category")
    p.add_argument("--date-column", default="date", help="ISO dates or epoch seconds/milliseconds")
    p.add_argument("--star-column", default="star", help="1-5 stars (10-50 is rescaled)")
    p.add_argument("--week", help="ISO week of the spike alerts, e.g. 2024-W05 (default: the latest week)")
    p.add_argument("--min-reviews", type=int, default=10, help="spike alerts: minimum reviews in the week")
    p.add_argument("--min-history", type=int, default=20, help="spike alerts: minimum reviews in earlier weeks")
    p.add_argument("--title", default="Review report")
    p.add_argument("--jobs", type=int, default=1, help="worker processes to classify raw input")
    p.add_argument("--input-format", choices=["csv", "jsonl", "parquet"])
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=_cmd_report)
