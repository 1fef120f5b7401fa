"""Partition-wise scoring of Dask DataFrames (``pip install 'reviewnlp[scale]'``).

:func:`score_dataframe` maps :func:`score_partition` over the partitions. Tasks carry only the
model *path*: each worker process loads the model the first time it needs it and keeps it in a
module-level cache (:func:`reviewnlp.batch.cached_model`, keyed by the model directory), so a
model is loaded at most once per worker however many partitions it scores. :func:`model_loads_on`
asks every worker how many loads it made.

Each output row is the input row plus :data:`reviewnlp.batch.PREDICTION_COLUMNS` and ``error``.
List columns (``causes``, ``flags``, ``reasons``, ``suggested_actions``) are ``;``-joined
strings, ``due_at`` an ISO 8601 string (UTC). A row whose text cannot be classified (missing,
empty, too long) keeps nulls in the prediction columns and says why in ``error``; no row is
dropped. Input columns whose names clash with output columns are renamed ``input_<name>``.

Examples
--------
>>> import pandas as pd
>>> out = score_partition(pd.DataFrame({"text": ["快递三天都没到，客服也不回", None]}))
>>> out[["severity", "error"]].iloc[1].tolist()
[<NA>, "field 'text' is missing or null"]
>>> bool(out["complaint"].iloc[0])
True
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .batch import LIST_COLUMNS, PREDICTION_COLUMNS, SCORE_COLUMNS, model_loads
from .errors import InputError

__all__ = ["score_dataframe", "score_partition", "output_dtypes", "model_loads", "model_loads_on"]

logger = logging.getLogger(__name__)

_BOOL = ("complaint", "escalate", "needs_human_review")
_SCORERS: dict[tuple[str | None, str | None, bool], Any] = {}
_LOCK = threading.Lock()


def output_dtypes(explain: bool = False) -> dict[str, Any]:
    """The pandas dtype of each column :func:`score_partition` adds, in order.

    >>> d = output_dtypes()
    >>> str(d["p_sev_high"]), str(d["escalate"]), str(d["priority"]), list(d)[-1]
    ('float64', 'boolean', 'Int64', 'error')
    """
    dtypes: dict[str, Any] = {}
    for col in PREDICTION_COLUMNS:
        if col in SCORE_COLUMNS or col == "confidence":
            dtypes[col] = "float64"
        elif col in _BOOL:
            dtypes[col] = "boolean"
        elif col == "priority":
            dtypes[col] = "Int64"
        else:
            dtypes[col] = "string"
    if explain:
        dtypes["explanation"] = "string"
    dtypes["error"] = "string"
    return {k: pd.api.types.pandas_dtype(v) for k, v in dtypes.items()}


def _scorer(model_path: str | None, policy_path: str | None, explain: bool) -> Any:
    from .batch import _Scorer

    key = (model_path, policy_path, explain)
    with _LOCK:  # one load even when a worker runs several threads
        scorer = _SCORERS.get(key)
        if scorer is None:
            scorer = _SCORERS[key] = _Scorer(model_path, policy_path, explain)
    return scorer


def _text(value: Any) -> Any:
    try:
        return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value
    except (TypeError, ValueError):  # pd.isna of a list-like
        return value


def _cell(col: str, value: Any) -> Any:
    if col in LIST_COLUMNS:
        return ";".join(value)
    if col == "due_at":
        return value.isoformat() if value is not None else None
    return value


def score_partition(df: pd.DataFrame, text_column: str = "text", model_path: str | None = None, *,
                    policy_path: str | None = None, id_column: str | None = None,
                    explain: bool = False) -> pd.DataFrame:
    """Classify and route one pandas partition; the model comes from the per-process cache.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with a ``text_column``; the index is kept.
    text_column : str
    model_path : str, optional
        Model directory (``None``: the shipped model).
    policy_path : str, optional
        Routing policy TOML (``None``: the shipped policy).
    id_column : str, optional
        Column carried into the predictions' ``review_id``.
    explain : bool
        Add an ``explanation`` column (JSON).

    Returns
    -------
    pandas.DataFrame
        ``df`` (clashing columns renamed ``input_<name>``) plus :func:`output_dtypes` columns.
    """
    if text_column not in df.columns:
        raise InputError(f"no column {text_column!r} (the frame has {', '.join(map(str, df.columns))})",
                         field=text_column)
    dtypes = output_dtypes(explain)
    base = df.rename(columns={c: f"input_{c}" for c in df.columns if c in dtypes})
    columns: dict[str, list[Any]] = {c: [] for c in dtypes}
    if len(df):
        scorer = _scorer(model_path, policy_path, explain)
        texts = [_text(v) for v in df[text_column].tolist()]
        ids = df[id_column].astype(str).tolist() if id_column else [None] * len(texts)
        result = scorer.score(list(zip(ids, texts, strict=True)), text_column, False)
        for item in result.items:
            if isinstance(item, str):
                for col in columns:
                    columns[col].append(item if col == "error" else None)
            else:
                for col in columns:
                    columns[col].append(None if col == "error" else _cell(col, item[col]))
    added = pd.DataFrame({c: pd.array(v, dtype=dtypes[c]) for c, v in columns.items()}, index=df.index)
    return pd.concat([base, added], axis=1)


def score_dataframe(ddf: Any, text_column: str = "text", model_path: str | os.PathLike[str] | None = None, *,
                    policy_path: str | os.PathLike[str] | None = None, id_column: str | None = None,
                    explain: bool = False) -> Any:
    """Score a Dask DataFrame partition by partition; lazy (call ``.compute()`` or ``.to_parquet()``).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Reviews with a ``text_column``, e.g. ``dd.read_parquet("s3://bucket/reviews/")``.
    text_column : str
    model_path : path, optional
        Model directory, readable by every worker (same path on each machine, or a shared
        volume); only the path travels with the tasks. ``None`` is the shipped model.
    policy_path : path, optional
        Routing policy TOML, readable by every worker.
    id_column : str, optional
    explain : bool

    Returns
    -------
    dask.dataframe.DataFrame
        One output row per input row, same partitions and index; see :func:`score_partition`.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> ddf = dd.from_pandas(pd.DataFrame({"text": ["送餐超时一个小时", "很好吃"]}), npartitions=2)
    >>> out = score_dataframe(ddf).compute(scheduler="sync")
    >>> len(out), "p_cause_logistics" in out.columns
    (2, True)
    """
    if text_column not in ddf.columns:
        raise InputError(f"no column {text_column!r} (the frame has {', '.join(map(str, ddf.columns))})",
                         field=text_column)
    kwargs = {"text_column": text_column, "model_path": os.fspath(model_path) if model_path else None,
              "policy_path": os.fspath(policy_path) if policy_path else None, "id_column": id_column,
              "explain": explain}
    meta = score_partition(ddf._meta, **kwargs)  # empty: no model needed
    return ddf.map_partitions(score_partition, **kwargs, meta=meta)


def model_loads_on(client: Any) -> Mapping[str, int]:
    """How many times each worker of a ``distributed.Client`` has loaded a model.

    Returns ``{worker address: loads}``; with the per-process cache each value is 0 or 1 per model.
    """
    return {addr: len(loads) for addr, loads in client.run(model_loads).items()}
