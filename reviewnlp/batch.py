"""Streaming batch scoring: CSV, JSONL or Parquet in, CSV, JSONL or Parquet out, one chunk at a time.

The stages, each a small function or class::

    source (records with their file position) -> chunks -> score (in-process or N workers)
    -> output rows (input id + pass-through columns + prediction + routing) -> sink + checkpoint

Memory stays flat whatever the input size: readers stream (the ``csv`` module over a binary
line iterator, JSON lines, ``pyarrow.parquet.ParquetFile.iter_batches``), at most
``2 * jobs`` chunks are in flight, and every chunk is written before the next is read.

Output columns, in order: ``id`` (the input id, or the row number when the input has none),
``row`` (1-based position of the record in the input), every input column except the id column
(renamed ``input_<name>`` if it clashes with an output column), then :data:`PREDICTION_COLUMNS`.
``causes``, ``flags``, ``reasons`` (the routing rules that fired) and ``suggested_actions`` are
lists in JSONL and Parquet and ``;``-joined strings in CSV. Scores are the columns
``p_cause_<cause>``, ``p_sev_<severity>`` and ``p_flag_<flag>``.

Crash safety (``resume=True``): after each chunk the output is appended and fsynced, then a
checkpoint ``<output>.progress.json`` is replaced atomically. It records the input byte offset
(row index for Parquet), the rows done and the output and errors file sizes. Resuming truncates
the output back to the checkpointed size (dropping a half-written chunk), seeks the input to the
offset and continues, so a ``kill -9`` at any moment loses and duplicates nothing. Parquet output is
written as one part file per chunk under ``<output>.parts/`` and merged into ``<output>`` when the
input is exhausted (streamed, in row groups of about 32k rows). The checkpoint is removed after success.

Bad rows (non-string, empty or too long text, malformed JSON, invalid UTF-8, wrong CSV field
count) go to ``<output>.errors.jsonl`` with their position (``file:line``) and are counted in the
summary: ``rows_in == rows_out + errors``.

Examples
--------
>>> import tempfile, pathlib, shutil
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "in.jsonl").write_text('{"id": "a", "text": "快递三天都没到"}\\n{"id": "b", "text": ""}\\n',
...                                   encoding="utf-8")
>>> s = run_batch(tmp / "in.jsonl", tmp / "out.csv", quiet=True)
>>> s["rows_in"], s["rows_out"], s["errors"]
(2, 1, 1)
>>> (tmp / "out.csv").read_text(encoding="utf-8").splitlines()[0].split(",")[:4]
['id', 'row', 'text', 'lang']
>>> shutil.rmtree(tmp)
"""
from __future__ import annotations

import csv
import dataclasses
import errno
import io
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .errors import InputError
from .labels import CAUSES, FLAGS, SEVERITIES

__all__ = [
    "FORMATS",
    "PREDICTION_COLUMNS",
    "LIST_COLUMNS",
    "SCORE_COLUMNS",
    "run_batch",
    "flatten",
    "detect_format",
    "checkpoint_path",
    "errors_path",
    "cached_model",
    "model_loads",
]

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
_SUFFIXES: Mapping[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                                ".parquet": "parquet", ".pq": "parquet"}
SCORE_COLUMNS: tuple[str, ...] = (tuple(f"p_cause_{c}" for c in CAUSES) + tuple(f"p_sev_{s}" for s in SEVERITIES)
                                  + tuple(f"p_flag_{f}" for f in FLAGS))
#: Columns each scored row gets after ``id``, ``row`` and the pass-through columns.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "lang", "complaint", "causes", "primary_cause", "severity", "flags", "confidence", *SCORE_COLUMNS,
    "escalate", "queue", "team", "priority", "due_at", "needs_human_review", "reasons", "suggested_actions",
    "model_version",
)
#: Columns holding lists (``;``-joined in CSV).
LIST_COLUMNS: frozenset[str] = frozenset({"causes", "flags", "reasons", "suggested_actions"})
_CHECKPOINT_VERSION = 1
_PROGRESS_SUFFIX = ".progress.json"
_ERRORS_SUFFIX = ".errors.jsonl"
_PARTS_SUFFIX = ".parts"
_MODELS_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------------
# Records, positions and the prediction -> row flattening
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """How far a source has read: records consumed, byte offset (row index for Parquet), physical line."""

    rows: int = 0
    offset: int = 0
    line: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its 1-based ``row`` and starting ``line``, id, text and pass-through values.

    ``error`` is set when the record could not be parsed (then ``text`` is ``None``).
    """

    row: int
    line: int
    id: str | None
    text: Any
    values: tuple[Any, ...]
    error: str | None = None


def flatten(prediction: Any, decision: Any, explain: bool = False) -> dict[str, Any]:
    """One flat output row (:data:`PREDICTION_COLUMNS`) from a Prediction and its RoutingDecision.

    Lists stay tuples and ``due_at`` a datetime; each sink formats them.

    Examples
    --------
    >>> from reviewnlp.routing import _demo, load_policy, route
    >>> from datetime import datetime, timezone
    >>> p = _demo(severity="high")
    >>> row = flatten(p, route(p, load_policy(), now=datetime(2024, 5, 1, tzinfo=timezone.utc)))
    >>> row["severity"], row["complaint"], row["queue"], row["escalate"], "p_sev_high" in row
    ('high', True, 'quality', True, True)
    """
    row: dict[str, Any] = {
        "lang": prediction.lang,
        "complaint": prediction.severity != "none",
        "causes": tuple(prediction.causes),
        "primary_cause": prediction.primary_cause,
        "severity": prediction.severity,
        "flags": tuple(prediction.flags),
        "confidence": round(float(prediction.confidence), 6),
    }
    for prefix, names, scores in (("p_cause_", CAUSES, prediction.cause_scores),
                                  ("p_sev_", SEVERITIES, prediction.severity_scores),
                                  ("p_flag_", FLAGS, prediction.flag_scores)):
        for name in names:
            row[prefix + name] = round(float(scores.get(name, 0.0)), 6)
    row.update(
        escalate=bool(decision.escalate),
        queue=decision.queue,
        team=decision.team,
        priority=int(decision.priority),
        due_at=decision.due_at,
        needs_human_review=bool(decision.needs_human_review),
        reasons=tuple(r.rule for r in decision.reasons),
        suggested_actions=tuple(decision.suggested_actions),
        model_version=prediction.model_version,
    )
    if explain:
        row["explanation"] = json.dumps(prediction.explanation.to_dict(), ensure_ascii=False)
    return row


def detect_format(path: str | os.PathLike[str], override: str | None = None, what: str = "input") -> str:
    """The file format, from ``override`` or the suffix.

    >>> detect_format("reviews.ndjson"), detect_format("x.txt", "csv"), detect_format("a/b.PARQUET")
    ('jsonl', 'csv', 'parquet')
    """
    if override:
        if override not in FORMATS:
            raise InputError(f"{what} format must be one of {', '.join(FORMATS)}, got {override!r}", field="format")
        return override
    if str(path) == "-":
        return "jsonl"
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: cannot tell the {what} format from the suffix {Path(path).suffix!r}; "
                         f"use .csv, .jsonl or .parquet or pass --{what}-format", field="format")
    return fmt


def checkpoint_path(output: str | os.PathLike[str]) -> Path:
    """The resume checkpoint beside ``output``: ``<output>.progress.json``."""
    return Path(str(output) + _PROGRESS_SUFFIX)


def errors_path(output: str | os.PathLike[str]) -> Path:
    """The bad-row report beside ``output``: ``<output>.errors.jsonl``."""
    return Path(str(output) + _ERRORS_SUFFIX)


def _text_problem(text: Any, field: str, max_chars: int) -> str | None:
    """The reason a text cannot be classified (the model's own rules), or ``None``.

    >>> _text_problem("  ", "text", 10), _text_problem(3, "text", 10), _text_problem("ok", "text", 10)
    ("field 'text' is empty", "field 'text' must be a string, got int", None)
    """
    if text is None:
        return f"field {field!r} is missing or null"
    if not isinstance(text, str):
        return f"field {field!r} must be a string, got {type(text).__name__}"
    if not text.strip():
        return f"field {field!r} is empty"
    if len(text) > max_chars:
        return f"field {field!r} is {len(text)} characters; the limit is {max_chars}"
    return None


def _encodable(obj: Any) -> bool:
    """Whether a parsed JSON value can be written as UTF-8 (``\\ud800`` escapes give lone surrogates).

    >>> import json
    >>> _encodable(json.loads('{"t": "ok"}')), _encodable(json.loads('{"t": "\\\\ud800"}'))
    (True, False)
    """
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _id_of(value: Any, row: int) -> str:
    if value is None or value == "":
        return str(row)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


class _Lines:
    """Lines of a binary file decoded as UTF-8 (``surrogateescape``), tracking offset and line number.

    ``dirty`` is set when a line was not valid UTF-8; the CSV reader checks and resets it per record.
    """

    def __init__(self, fh: IO[bytes], offset: int, line: int):
        self.fh = fh
        self.offset = offset
        self.line = line
        self.dirty = False

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            if self.offset == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw_text = raw[3:]
            else:
                raw_text = raw
            self.offset += len(raw)
            self.line += 1
            try:
                yield raw_text.decode("utf-8")
            except UnicodeDecodeError:
                self.dirty = True
                yield raw_text.decode("utf-8", "surrogateescape")


class _Source:
    """A stream of :class:`Record`; ``columns`` are the input's columns, ``position`` how far it has read."""

    format: str
    columns: tuple[str, ...]
    total: int | None  # bytes (text formats) or rows (Parquet) for the progress bar
    position: Position

    def __iter__(self) -> Iterator[Record]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class _CSVSource(_Source):
    format = "csv"

    def __init__(self, path: Path, text_column: str, id_column: str, start: Position | None):
        csv.field_size_limit(2**31 - 1)  # a review may be long; the model enforces its own limit
        self.path = path
        self.name = str(path)
        self.fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.total = os.fstat(self.fh.fileno()).st_size
        header_lines = _Lines(self.fh, 0, 0)
        try:
            header = next(csv.reader(header_lines))
        except StopIteration:
            self.fh.close()
            raise InputError(f"{path}:1: empty CSV file, expected a header row", line=1) from None
        if header_lines.dirty:
            self.fh.close()
            raise InputError(f"{path}:1: the header is not valid UTF-8", line=1)
        self.columns = tuple(header)
        if text_column not in self.columns:
            self.fh.close()
            raise InputError(f"{path}:1: no column {text_column!r} (the header has {', '.join(self.columns)})",
                             field=text_column, line=1)
        self.text_index = self.columns.index(text_column)
        self.id_index = self.columns.index(id_column) if id_column in self.columns else None
        self.text_column = text_column
        if start is None:
            start = Position(0, header_lines.offset, header_lines.line)
        else:
            self.fh.seek(start.offset)
        self.position = start
        self.lines = _Lines(self.fh, start.offset, start.line)

    def __iter__(self) -> Iterator[Record]:
        lines = self.lines
        reader = csv.reader(lines)
        rows = self.position.rows
        width = len(self.columns)
        while True:
            first_line = lines.line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                lines.dirty = False
                rows += 1
                self.position = Position(rows, lines.offset, lines.line)
                yield Record(rows, first_line, None, None, (), f"{self.name}:{first_line}: malformed CSV: {exc}")
                continue
            if not fields:  # blank line
                lines.dirty = False
                self.position = Position(rows, lines.offset, lines.line)
                continue
            rows += 1
            self.position = Position(rows, lines.offset, lines.line)
            rid = _id_of(fields[self.id_index], rows) if self.id_index is not None and \
                self.id_index < len(fields) else str(rows)
            if lines.dirty:
                lines.dirty = False
                yield Record(rows, first_line, rid, None, (), f"{self.name}:{first_line}: not valid UTF-8")
            elif len(fields) != width:
                yield Record(rows, first_line, rid, None, (),
                             f"{self.name}:{first_line}: expected {width} fields, got {len(fields)}")
            else:
                yield Record(rows, first_line, rid, fields[self.text_index], tuple(fields))

    def close(self) -> None:
        self.fh.close()


class _JSONLSource(_Source):
    format = "jsonl"

    def __init__(self, path: str | Path, text_column: str, id_column: str, start: Position | None):
        self.name = str(path)
        if str(path) == "-":
            self.fh = sys.stdin.buffer
            self.total = None
        else:
            self.fh = open(path, "rb")  # noqa: SIM115 - closed by close()
            self.total = os.fstat(self.fh.fileno()).st_size
        self.text_column = text_column
        self.id_column = id_column
        self.position = start or Position()
        self.columns = ()
        self._pending: list[bytes] = []
        self._peek_columns()
        if start is not None:
            self._pending = []
            self.fh.seek(start.offset)

    def _peek_columns(self) -> None:
        """Read lines until the first valid JSON object: its keys are the pass-through columns."""
        for raw in self.fh:
            self._pending.append(raw)
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                self.columns = tuple(obj)
                return

    def _raw_lines(self) -> Iterator[bytes]:
        yield from self._pending
        self._pending = []
        yield from self.fh

    def __iter__(self) -> Iterator[Record]:
        rows, offset, line = self.position.rows, self.position.offset, self.position.line
        columns = self.columns
        for raw in self._raw_lines():
            offset += len(raw)
            line += 1
            if not raw.strip():
                self.position = Position(rows, offset, line)
                continue
            rows += 1
            self.position = Position(rows, offset, line)
            where = f"{self.name}:{line}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Record(rows, line, str(rows), None, (), f"{where}: not valid UTF-8 (byte {exc.start})")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Record(rows, line, str(rows), None, (),
                             f"{where}: malformed JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield Record(rows, line, str(rows), None, (),
                             f"{where}: expected a JSON object, got {type(obj).__name__}")
                continue
            if (b"\\ud" in raw or b"\\uD" in raw) and not _encodable(obj):
                yield Record(rows, line, _id_of(obj.get(self.id_column), rows), None, (),
                             f"{where}: a string holds a lone surrogate escape (not valid Unicode)")
                continue
            values = tuple(obj.get(c) for c in columns)
            yield Record(rows, line, _id_of(obj.get(self.id_column), rows), obj.get(self.text_column), values)

    def close(self) -> None:
        if self.fh is not sys.stdin.buffer:
            self.fh.close()


class _ParquetSource(_Source):
    format = "parquet"

    def __init__(self, path: Path, text_column: str, id_column: str, start: Position | None, batch_rows: int):
        import pyarrow.parquet as pq

        self.name = str(path)
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
        self.schema = self.file.schema_arrow
        self.columns = tuple(self.schema.names)
        if text_column not in self.columns:
            raise InputError(f"{path}: no column {text_column!r} (the schema has {', '.join(self.columns)})",
                             field=text_column)
        self.text_column = text_column
        self.id_column = id_column
        self.total = self.file.metadata.num_rows
        self.position = start or Position()
        self.batch_rows = batch_rows

    def __iter__(self) -> Iterator[Record]:
        skip = self.position.rows
        groups, first = [], 0
        meta = self.file.metadata
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if first + n > skip:
                groups.append(g)
            else:
                first += n
        if not groups:
            return
        drop = skip - first
        rows = skip
        text_i = self.columns.index(self.text_column)
        id_i = self.columns.index(self.id_column) if self.id_column in self.columns else None
        for batch in self.file.iter_batches(batch_size=self.batch_rows, row_groups=groups, use_threads=False):
            if drop:
                if drop >= batch.num_rows:
                    drop -= batch.num_rows
                    continue
                batch = batch.slice(drop)
                drop = 0
            cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*cols, strict=True):
                rows += 1
                self.position = Position(rows, rows, rows)
                rid = _id_of(values[id_i], rows) if id_i is not None else str(rows)
                yield Record(rows, rows, rid, values[text_i], tuple(values))


def _open_source(path: str | Path, fmt: str, text_column: str, id_column: str, start: Position | None,
                 chunk_size: int) -> _Source:
    if fmt == "csv":
        return _CSVSource(Path(path), text_column, id_column, start)
    if fmt == "jsonl":
        return _JSONLSource(path, text_column, id_column, start)
    return _ParquetSource(Path(path), text_column, id_column, start, batch_rows=max(256, min(chunk_size, 8192)))


def read_records(path: str | os.PathLike[str], *, text_column: str = "text", id_column: str = "id",
                 input_format: str | None = None) -> Iterator[Record]:
    """Stream the :class:`Record` s of a CSV, JSONL or Parquet file (``-``: JSONL on stdin).

    The same readers as :func:`run_batch`; a record that could not be parsed has ``error`` set.
    """
    source = _open_source(path, detect_format(path, input_format), text_column, id_column, None, 4096)
    try:
        yield from source
    finally:
        source.close()


# --------------------------------------------------------------------------------------------------
# Chunks and scoring (in-process or in worker processes)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Consecutive records and the source position just after the last one."""

    index: int
    records: tuple[Record, ...]
    end: Position


def _chunks(source: _Source, size: int, first_index: int = 0) -> Iterator[Chunk]:
    buf: list[Record] = []
    index = first_index
    for rec in source:
        buf.append(rec)
        if len(buf) >= size:
            yield Chunk(index, tuple(buf), source.position)
            index += 1
            buf = []
    if buf:
        yield Chunk(index, tuple(buf), source.position)


@dataclass(frozen=True)
class ChunkResult:
    """What scoring one chunk's payload gave: per item a flat row (dict) or an error message.

    ``kept`` holds ``(item index, Prediction, RoutingDecision)`` of escalated items when asked for.
    """

    items: tuple[dict[str, Any] | str, ...]
    kept: tuple[tuple[int, Any, Any], ...] = ()
    model_version: str = ""


_MODELS: dict[tuple[str, int, int], Any] = {}
_MODEL_LOADS: list[str] = []


def cached_model(model_path: str | os.PathLike[str] | None = None) -> Any:
    """The model at ``model_path`` (``None``: the shipped one), loaded at most once per process.

    The cache key includes ``metadata.json``'s size and mtime, so a model retrained in place is
    reloaded. Every real load is logged in ``model_loads()``.

    >>> cached_model() is cached_model()
    True
    """
    from .model import load
    from .persistence import METADATA, default_model_dir

    folder = Path(model_path) if model_path else default_model_dir()
    try:
        st = (folder / METADATA).stat()
        key = (str(folder.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (str(folder), -1, -1)  # load() raises the ModelError naming the path
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = load(model_path)
            _MODELS.clear()  # keep one model per process: they are large
            _MODELS[key] = model
            _MODEL_LOADS.append(key[0])
            logger.info("loaded model %s (version %s) in process %d", key[0], model.version, os.getpid())
    return model


def model_loads() -> list[str]:
    """The model directories this process has loaded, one entry per real load (not per cache hit)."""
    return list(_MODEL_LOADS)


class _Scorer:
    """The model and the policy, loaded once per process."""

    def __init__(self, model_path: str | None, policy_path: str | None, explain: bool):
        from .routing import load_policy

        self.model = cached_model(model_path)
        self.policy = load_policy(policy_path)
        self.explain = explain

    def score(self, payload: Sequence[tuple[str, Any]], text_field: str, keep_escalated: bool) -> ChunkResult:
        """Score ``(id, text)`` pairs; a text the model refuses becomes an error message, not an exception."""
        from .errors import InputError as _InputError
        from .routing import route

        items: list[dict[str, Any] | str | None] = [None] * len(payload)
        ok_index, ids, texts = [], [], []
        for i, (rid, text) in enumerate(payload):
            problem = _text_problem(text, text_field, self.model.max_chars)
            if problem:
                items[i] = problem
            else:
                ok_index.append(i)
                ids.append(rid)
                texts.append(text)
        try:
            preds = self.model.classify_many(texts, ids=ids, explain=self.explain)
        except Exception:  # a rule we do not pre-check, or a model bug: isolate the rows
            preds = []
            for j, (rid, text) in enumerate(zip(ids, texts, strict=True)):
                try:
                    preds.append(self.model.classify_many([text], ids=[rid], explain=self.explain)[0])
                except _InputError as exc:
                    items[ok_index[j]] = f"field {text_field!r}: {exc}"
                    preds.append(None)
                except Exception as exc:  # one row must not stop a million
                    logger.exception("review %r could not be classified", rid)
                    items[ok_index[j]] = f"internal error classifying field {text_field!r}: " \
                        f"{type(exc).__name__}: {exc}"
                    preds.append(None)
        now = datetime.now(timezone.utc)
        kept = []
        for i, pred in zip(ok_index, preds, strict=True):
            if pred is None:
                continue
            decision = route(pred, self.policy, now=now)
            items[i] = flatten(pred, decision, self.explain)
            if keep_escalated and decision.escalate:
                kept.append((i, pred, decision))
        return ChunkResult(tuple(items), tuple(kept), self.model.version)  # type: ignore[arg-type]


_WORKER: _Scorer | None = None


def _init_worker(model_path: str | None, policy_path: str | None, explain: bool) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates the pool
    _WORKER = _Scorer(model_path, policy_path, explain)


def _work(args: tuple[Sequence[tuple[str, Any]], str, bool]) -> ChunkResult:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.score(*args)


def _payload(chunk: Chunk) -> list[tuple[str, Any]]:
    return [(r.id, r.text) for r in chunk.records if r.error is None]


def _scored(chunks: Iterator[Chunk], *, jobs: int, model_path: str | None, policy_path: str | None,
            explain: bool, text_field: str, keep_escalated: bool) -> Iterator[tuple[Chunk, ChunkResult]]:
    """Score chunks in input order; with ``jobs > 1`` in a process pool, at most ``2 * jobs`` in flight."""
    if jobs <= 1:
        scorer = _Scorer(model_path, policy_path, explain)
        for chunk in chunks:
            yield chunk, scorer.score(_payload(chunk), text_field, keep_escalated)
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(model_path, policy_path, explain))
    try:
        window: deque[tuple[Chunk, Any]] = deque()
        for chunk in chunks:
            window.append((chunk, pool.apply_async(_work, ((_payload(chunk), text_field, keep_escalated),))))
            if len(window) >= 2 * jobs:
                done, pending = window.popleft()
                yield done, pending.get()
        while window:
            done, pending = window.popleft()
            yield done, pending.get()
        pool.close()
        pool.join()
    finally:
        pool.terminate()


# --------------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------------


def _fsync_append(path: Path, data: bytes) -> int:
    """Append ``data`` durably; returns the new size."""
    with open(path, "ab") as fh:
        if data:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return fh.tell()


def _cell(value: Any) -> Any:
    """A CSV cell: lists ``;``-joined, datetimes ISO 8601, containers as JSON, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class _Sink:
    """Where output rows go. ``state()`` is what the checkpoint needs to undo a half-written chunk."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = path
        self.columns = tuple(columns)

    def start(self, resume_state: Mapping[str, Any] | None) -> None:
        raise NotImplementedError  # pragma: no cover

    def write(self, rows: Sequence[Sequence[Any]], index: int) -> None:
        raise NotImplementedError  # pragma: no cover

    def state(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover

    def finish(self) -> None:
        pass


class _TextSink(_Sink):
    def start(self, resume_state: Mapping[str, Any] | None) -> None:
        if resume_state is None:
            with open(self.path, "wb"):
                pass
            self.size = 0
            header = self.header()
            if header:
                self.size = _fsync_append(self.path, header)
        else:
            self.size = int(resume_state["output_bytes"])
            _truncate(self.path, self.size, "output")

    def header(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        raise NotImplementedError  # pragma: no cover

    def write(self, rows: Sequence[Sequence[Any]], index: int) -> None:
        self.size = _fsync_append(self.path, self.encode(rows))

    def state(self) -> dict[str, Any]:
        return {"output_bytes": self.size}


class _CSVSink(_TextSink):
    def header(self) -> bytes:
        return self.encode([self.columns], raw=True)

    def encode(self, rows: Sequence[Sequence[Any]], raw: bool = False) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if raw:
            writer.writerows(rows)
        else:
            writer.writerows([_cell(v) for v in row] for row in rows)
        return buf.getvalue().encode("utf-8")


class _JSONLSink(_TextSink):
    def encode(self, rows: Sequence[Sequence[Any]]) -> bytes:
        cols = self.columns
        return "".join(json.dumps({c: _json_value(v) for c, v in zip(cols, row, strict=True)}, ensure_ascii=False,
                                  default=str) + "\n" for row in rows).encode("utf-8")


class _ParquetSink(_Sink):
    """One part file per chunk in ``<output>.parts/``, merged into ``<output>`` by :meth:`finish`."""

    def __init__(self, path: Path, columns: Sequence[str], schema: Any):
        super().__init__(path, columns)
        self.schema = schema
        self.parts_dir = Path(str(path) + _PARTS_SUFFIX)

    def start(self, resume_state: Mapping[str, Any] | None) -> None:
        if resume_state is None:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
            self.parts = 0
        else:
            self.parts = int(resume_state["parts"])
            for p in self.parts_dir.glob("part-*.parquet*"):  # parts written after the checkpoint
                if p.suffix != ".parquet" or int(p.stem.split("-")[1]) >= self.parts:
                    p.unlink()
            missing = [i for i in range(self.parts) if not self._part(i).exists()]
            if missing:
                raise InputError(f"{self.parts_dir}: part files {missing[:5]} listed in the checkpoint are missing; "
                                 f"start again without --resume")
        self.parts_dir.mkdir(parents=True, exist_ok=True)

    def _part(self, i: int) -> Path:
        return self.parts_dir / f"part-{i:06d}.parquet"

    def table(self, rows: Sequence[Sequence[Any]]) -> Any:
        import pyarrow as pa

        arrays = []
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in self.columns]
        for field, values in zip(self.schema, cols, strict=True):
            values = [_arrow_value(v, field.type) for v in values]
            arrays.append(pa.array(values, type=field.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def write(self, rows: Sequence[Sequence[Any]], index: int) -> None:
        import pyarrow.parquet as pq

        target = self._part(self.parts)
        tmp = target.with_name(target.name + ".tmp")
        pq.write_table(self.table(rows), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        self.parts += 1

    def state(self) -> dict[str, Any]:
        return {"parts": self.parts}

    def finish(self, row_group_rows: int = 32768, row_group_bytes: int = 32 << 20) -> None:
        """Merge the parts into ``<output>``, streaming, in row groups of about ``row_group_rows`` rows.

        Parts are regrouped because a Parquet writer keeps every row group's metadata until it
        writes the footer: thousands of small row groups would make memory grow with the input.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        tmp = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, self.schema) as writer:
            if self.parts == 0:
                writer.write_table(self.table([]))
            buf: list[Any] = []
            rows = size = 0
            for i in range(self.parts):
                part = pq.read_table(self._part(i), schema=self.schema)
                buf.append(part)
                rows += part.num_rows
                size += part.nbytes
                if rows >= row_group_rows or size >= row_group_bytes or i == self.parts - 1:
                    writer.write_table(pa.concat_tables(buf), row_group_size=max(rows, 1))
                    buf, rows, size = [], 0, 0
        os.replace(tmp, self.path)

    def cleanup(self) -> None:
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def _arrow_value(value: Any, arrow_type: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        if isinstance(value, str):
            return value
        if isinstance(value, datetime):
            return value.isoformat()
        return json.dumps(value, ensure_ascii=False, default=str)
    if pa.types.is_list(arrow_type) and isinstance(value, tuple):
        return list(value)
    return value


def _output_schema(columns: Sequence[str], passthrough: Mapping[str, Any], explain: bool) -> Any:
    import pyarrow as pa

    types: dict[str, Any] = {"id": pa.string(), "row": pa.int64(), "lang": pa.string(), "complaint": pa.bool_(),
                             "primary_cause": pa.string(), "severity": pa.string(), "confidence": pa.float64(),
                             "escalate": pa.bool_(), "queue": pa.string(), "team": pa.string(),
                             "priority": pa.int8(), "due_at": pa.timestamp("us", tz="UTC"),
                             "needs_human_review": pa.bool_(), "model_version": pa.string(),
                             "explanation": pa.string()}
    types.update({c: pa.float64() for c in SCORE_COLUMNS})
    types.update({c: pa.list_(pa.string()) for c in LIST_COLUMNS})
    types.update(passthrough)
    return pa.schema([pa.field(c, types[c]) for c in columns])


def _truncate(path: Path, size: int, what: str) -> None:
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        actual = -1
    if actual < size:
        raise InputError(f"{path}: the {what} file is shorter ({actual} bytes) than the checkpoint says ({size}); "
                         f"it was changed since the interrupted run: start again without --resume")
    with open(path, "r+b") as fh:
        fh.truncate(size)
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------------------------------


def _write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _input_identity(path: str | Path) -> dict[str, Any]:
    if str(path) == "-":
        return {"input": "-"}
    st = os.stat(path)
    return {"input": str(Path(path).resolve()), "input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns}


def _load_checkpoint(path: Path, expected: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable checkpoint ({exc}); start again without --resume") from None
    if data.get("version") != _CHECKPOINT_VERSION:
        raise InputError(f"{path}: checkpoint version {data.get('version')!r} is not {_CHECKPOINT_VERSION}")
    for key, value in expected.items():
        if data.get(key) != value:
            raise InputError(f"{path}: field {key!r} was {data.get(key)!r} in the interrupted run but is {value!r} "
                             f"now; start again without --resume", field=key)
    return data


# --------------------------------------------------------------------------------------------------
# run_batch
# --------------------------------------------------------------------------------------------------


def _passthrough(columns: Sequence[str], id_column: str) -> tuple[list[int], list[str]]:
    """Indices and output names of the input columns carried through (all but the id column)."""
    taken = {"id", "row", *PREDICTION_COLUMNS, "explanation"}
    idx, names = [], []
    for i, c in enumerate(columns):
        if c == id_column or c in names:
            continue
        name = c if c not in taken else f"input_{c}"
        while name in taken or name in names:
            name = f"input_{name}"
        idx.append(i)
        names.append(name)
    return idx, names


def _passthrough_types(source: _Source, idx: Sequence[int]) -> dict[int, Any]:
    import pyarrow as pa

    if isinstance(source, _ParquetSource):
        return {i: source.schema.field(i).type for i in idx}
    return {i: pa.string() for i in idx}


def _progress(total: int | None, unit: str, quiet: bool, initial: int) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, unit_scale=True, desc="classify", dynamic_ncols=True,
                file=sys.stderr)


def run_batch(input: str | os.PathLike[str], output: str | os.PathLike[str], *, model_path: str | None = None,
              text_column: str = "text", id_column: str = "id", jobs: int = 1, resume: bool = False,
              quiet: bool = False, policy_path: str | None = None, store: str | None = None,
              chunk_size: int = 2000, explain: bool = False, input_format: str | None = None,
              output_format: str | None = None, on_chunk: Callable[[dict[str, Any]], None] | None = None,
              ) -> dict[str, Any]:
    """Classify and route every row of ``input`` into ``output``, streaming in chunks.

    Parameters
    ----------
    input, output : path
        ``.csv``, ``.jsonl`` (``.ndjson``) or ``.parquet``; ``input`` may be ``-`` for JSON lines on stdin.
    model_path : str, optional
        Model directory; ``None`` is the shipped model.
    text_column, id_column : str
        Input columns holding the review text and its id (the row number is used when there is no id).
    jobs : int
        Worker processes; each loads the model once. Output keeps the input order.
    resume : bool
        Continue an interrupted run from ``<output>.progress.json`` (see the module docstring).
    quiet : bool
        No progress bar (there is none anyway when stderr is not a terminal).
    policy_path : str, optional
        Routing policy TOML; ``None`` is the shipped policy.
    store : str, optional
        Escalation store (SQLite path or ``postgresql://`` URL): escalated rows are put there with
        their normalized, personal-data-masked text. Idempotent per review id and model version.
    chunk_size : int
        Rows per chunk (the unit of work, of checkpointing and of memory).
    explain : bool
        Add an ``explanation`` column (JSON).
    input_format, output_format : {"csv", "jsonl", "parquet"}, optional
        Override the format given by the suffix.
    on_chunk : callable, optional
        Called with the checkpoint dict after each chunk is durably written (tests, monitoring).

    Returns
    -------
    dict
        ``rows_in``, ``rows_out``, ``errors``, ``escalated``, ``stored``, ``seconds``, ``rows_per_s``,
        ``resumed_at_row``, ``output``, ``errors_file`` (when there were errors), ``model_version``.

    Raises
    ------
    InputError
        The input cannot be read at all (missing text column, unreadable header, bad format), or a
        resume does not match its checkpoint. Single bad rows never raise: see ``errors``.
    """
    started = time.perf_counter()
    if jobs < 1:
        raise InputError(f"jobs must be >= 1, got {jobs}", field="jobs")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}", field="chunk_size")
    if str(input) != "-" and not Path(input).is_file():
        raise FileNotFoundError(errno.ENOENT, "no such input file", str(input))
    in_fmt = detect_format(input, input_format, "input")
    out_fmt = detect_format(output, output_format, "output")
    output = Path(output)
    if str(input) != "-" and Path(input).resolve() == output.resolve():
        raise InputError(f"{output}: the output would overwrite the input", field="output")
    if str(input) == "-" and resume:
        raise InputError("--resume needs a seekable input file, not stdin", field="resume")
    from .persistence import default_model_dir, read_metadata
    from .routing import load_policy

    load_policy(policy_path)  # fail fast, with the key at fault, before any worker starts
    model_version = str(read_metadata(model_path or default_model_dir()).get("version", "unversioned"))
    output.parent.mkdir(parents=True, exist_ok=True)
    ckpt_file, err_file = checkpoint_path(output), errors_path(output)

    identity = {**_input_identity(input), "input_format": in_fmt, "output_format": out_fmt,
                "text_column": text_column, "id_column": id_column, "explain": explain,
                "model_version": model_version}
    state: dict[str, Any] | None = None
    if resume and ckpt_file.exists():
        state = _load_checkpoint(ckpt_file, identity)
        logger.info("resuming %s at row %d", output, state["rows"])
    elif resume:
        logger.warning("%s: no checkpoint to resume from; starting from the beginning", ckpt_file)
    elif ckpt_file.exists():
        logger.warning("%s: discarding the checkpoint of an earlier unfinished run (use --resume to continue it)",
                       ckpt_file)

    start = Position(state["rows"], state["offset"], state["line"]) if state else None
    source = _open_source(input, in_fmt, text_column, id_column, start, chunk_size)
    try:
        idx, names = _passthrough(source.columns, id_column)
        pred_columns = [*PREDICTION_COLUMNS] + (["explanation"] if explain else [])
        columns = ["id", "row", *names, *pred_columns]
        if state and state.get("columns") != columns:
            raise InputError(f"{ckpt_file}: the output columns changed since the interrupted run; "
                             f"start again without --resume", field="columns")
        if out_fmt == "parquet":
            types = _passthrough_types(source, idx)
            schema = _output_schema(columns, {n: types[i] for i, n in zip(idx, names, strict=True)}, explain)
            sink: _Sink = _ParquetSink(output, columns, schema)
        elif out_fmt == "csv":
            sink = _CSVSink(output, columns)
        else:
            sink = _JSONLSink(output, columns)
        sink.start(state)
        if state:
            err_size = int(state["errors_bytes"])
            if err_size or err_file.exists():
                _truncate(err_file, err_size, "errors")
        else:
            err_file.unlink(missing_ok=True)
            err_size = 0
        counts = {k: int(state[k]) if state else 0 for k in ("rows", "rows_out", "errors", "escalated", "stored",
                                                               "chunks")}
        resumed_at = counts["rows"]
        elapsed_before = float(state.get("seconds", 0.0)) if state else 0.0
        store_obj = None
        if store:
            from .store import open_store

            store_obj = open_store(store)
        text_types = source.format != "parquet"
        bar = _progress(source.total, "B" if text_types else "row", quiet,
                        (start.offset if text_types else start.rows) if start else 0)
        last = (start.offset if text_types else start.rows) if start else 0
        scored = None
        try:
            scored = _scored(_chunks(source, chunk_size, counts["chunks"]), jobs=jobs, model_path=model_path,
                             policy_path=policy_path, explain=explain, text_field=text_column,
                             keep_escalated=store_obj is not None)
            for chunk, result in scored:
                if result.model_version and result.model_version != model_version:
                    raise InputError(f"model version {result.model_version!r} differs from its metadata "
                                     f"{model_version!r}", field="model")
                rows_out, problems = _assemble(chunk, result, idx, pred_columns, source.name, text_column)
                if rows_out:
                    sink.write(rows_out, chunk.index)
                if problems:
                    err_size = _fsync_append(err_file, "".join(json.dumps(p, ensure_ascii=False) + "\n"
                                                               for p in problems).encode("utf-8"))
                if store_obj is not None:
                    counts["stored"] += _put_escalations(store_obj, chunk, result, idx, names, text_column)
                counts["rows"] = chunk.end.rows
                counts["rows_out"] += len(rows_out)
                counts["errors"] += len(problems)
                counts["escalated"] += sum(1 for r in result.items if isinstance(r, dict) and r["escalate"])
                counts["chunks"] = chunk.index + 1
                checkpoint = {"version": _CHECKPOINT_VERSION, **identity, "columns": columns,
                              **counts, "offset": chunk.end.offset, "line": chunk.end.line,
                              "errors_bytes": err_size, **sink.state(),
                              "seconds": round(elapsed_before + time.perf_counter() - started, 3)}
                _write_json_atomic(ckpt_file, checkpoint)
                if on_chunk is not None:
                    on_chunk(checkpoint)
                if bar is not None:
                    now_pos = chunk.end.offset if text_types else chunk.end.rows
                    bar.update(now_pos - last)
                    last = now_pos
                    bar.set_postfix(rows=counts["rows"], errors=counts["errors"], refresh=False)
            sink.finish()
        finally:
            if scored is not None:
                scored.close()
            if bar is not None:
                bar.close()
            if store_obj is not None:
                store_obj.close()
    finally:
        source.close()
    ckpt_file.unlink(missing_ok=True)
    if isinstance(sink, _ParquetSink):
        sink.cleanup()
    if counts["errors"] == 0:
        err_file.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "input": str(input), "output": str(output), "format": f"{in_fmt}->{out_fmt}",
        "rows_in": counts["rows"], "rows_out": counts["rows_out"], "errors": counts["errors"],
        "escalated": counts["escalated"], "stored": counts["stored"], "resumed_at_row": resumed_at,
        "jobs": jobs, "seconds": round(seconds, 3),
        "rows_per_s": round((counts["rows"] - resumed_at) / seconds, 1) if seconds > 0 else None,
        "model_version": model_version,
    }
    if counts["errors"]:
        summary["errors_file"] = str(err_file)
    return summary


def _assemble(chunk: Chunk, result: ChunkResult, idx: Sequence[int], pred_columns: Sequence[str], source_name: str,
              text_column: str) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Join records with their scores: output rows (in input order) and error reports."""
    rows_out: list[tuple[Any, ...]] = []
    problems: list[dict[str, Any]] = []
    items = iter(result.items)
    for rec in chunk.records:
        if rec.error is not None:
            problems.append({"row": rec.row, "line": rec.line, "position": f"{source_name}:{rec.line}",
                             "id": rec.id, "field": None, "error": rec.error})
            continue
        item = next(items)
        if isinstance(item, str):
            problems.append({"row": rec.row, "line": rec.line, "position": f"{source_name}:{rec.line}",
                             "id": rec.id, "field": text_column, "error": f"{source_name}:{rec.line}: {item}"})
            continue
        values = rec.values
        rows_out.append((rec.id, rec.row, *(values[i] if i < len(values) else None for i in idx),
                         *(item[c] for c in pred_columns)))
    return rows_out, problems


def _put_escalations(store: Any, chunk: Chunk, result: ChunkResult, idx: Sequence[int],
                     names: Sequence[str], text_column: str) -> int:
    """Put the chunk's escalated predictions into the store with masked text; returns how many were new."""
    from .normalize import mask_personal_data, normalize

    valid = [r for r in chunk.records if r.error is None]
    created = 0
    for i, pred, decision in result.kept:
        rec = valid[i]
        meta = {n: rec.values[j] for j, n in zip(idx, names, strict=True)
                if j < len(rec.values) and n != text_column and rec.values[j] is not None}
        meta = {k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in meta.items()}
        pred = dataclasses.replace(pred, meta={**pred.meta, **meta, "row": rec.row})
        _, new = store.put(pred, decision, text=mask_personal_data(normalize(rec.text)))
        created += int(new)
    return created
