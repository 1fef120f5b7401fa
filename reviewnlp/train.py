"""Training: data loading, fitting, threshold tuning on dev, test metrics, saving.

The CLI (``reviewnlp train``) and the notebooks call these same functions.

Reproducible: the same data and seed give the same scores (liblinear and the calibration folds
are seeded; feature vocabularies are deterministic).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import load_gold
from .model import HEADS, ReviewModel, build_pipeline, default_thresholds, label_matrix
from .normalize import normalize

logger = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "features__word_ngram": 2,
    "features__char_ngram": 3,
    "features__word_max_features": 40000,
    "features__char_max_features": 60000,
    "features__min_df": 2,
    "heads__C": 4.0,
    "heads__class_weight": "balanced",
    "heads__calibration": "sigmoid",
}


def data_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """sha256 over the (id, text, labels) of the rows, order-independent.

    >>> data_hash([{"id": "a", "text": "t", "causes": [], "severity": "none", "flags": []}])[:12]
    'bb06e0b1c4b5'
    """
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r["id"]):
        h.update(json.dumps([r["id"], r["text"], sorted(r["causes"]), r["severity"], sorted(r["flags"])],
                            ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def fit(rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None, seed: int = 0) -> ReviewModel:
    """Fit the pipeline on gold rows; thresholds stay at 0.5 until :func:`tune_thresholds`."""
    p = dict(DEFAULT_PARAMS, **(params or {}))
    p["heads__random_state"] = seed
    pipe = build_pipeline(**p)
    texts = [normalize(r["text"]) for r in rows]
    t0 = time.perf_counter()
    pipe.fit(texts, label_matrix(rows))
    logger.info("fitted on %d rows in %.1fs", len(rows), time.perf_counter() - t0)
    return ReviewModel(pipe, default_thresholds())


def tune_thresholds(model: ReviewModel, dev_rows: Sequence[Mapping[str, Any]],
                    grid: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.025), 3))) -> dict[str, float]:
    """Choose each head's threshold to maximize its F1 on the dev rows (never the test split)."""
    if any(r.get("split") == "test" for r in dev_rows):
        raise ValueError("thresholds must not be tuned on the test split")
    P = model.predict_proba([r["text"] for r in dev_rows])
    Y = label_matrix(dev_rows)
    out = {}
    for j, head in enumerate(HEADS):
        y = Y[:, j] > 0.5
        if y.sum() < 3:
            out[head] = 0.5
            continue
        best, best_t = -1.0, 0.5
        for t in grid:
            pred = P[:, j] >= t
            tp = float((pred & y).sum())
            f1 = 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0
            if f1 > best + 1e-9:
                best, best_t = f1, float(t)
        out[head] = best_t
    model.thresholds = out
    return out


def train(data: str | Path, out: str | Path | None = None, *, params: Mapping[str, Any] | None = None,
          seed: int = 0, version: str | None = None, evaluate_test: bool = True) -> tuple[ReviewModel, dict]:
    """Train on ``train``, tune thresholds on ``dev``, measure ``test``; save to ``out`` when given.

    Parameters
    ----------
    data : path
        A directory with ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` (the gold format).
    out : path, optional
        Model directory to write (``model.joblib`` + ``metadata.json``).
    """
    from . import __version__
    from .evaluate import evaluate
    from .persistence import save_model

    train_rows = load_gold(Path(data) / "train.jsonl")
    dev_rows = load_gold(Path(data) / "dev.jsonl")
    t0 = time.perf_counter()
    model = fit(train_rows, params, seed)
    fit_s = time.perf_counter() - t0
    thresholds = tune_thresholds(model, dev_rows)
    metrics: dict[str, Any] = {"dev": evaluate(model, dev_rows)}
    if evaluate_test:
        test_rows = load_gold(Path(data) / "test.jsonl")
        metrics["test"] = evaluate(model, test_rows)
    metrics["fit_seconds"] = round(fit_s, 2)
    metrics["data"] = {"path": str(data), "train": len(train_rows), "dev": len(dev_rows)}
    if out is not None:
        version = version or f"{__version__}+{data_hash(train_rows)[:8]}.s{seed}"
        save_model(model, out, version=version, training_data_hash=data_hash(train_rows), metrics=metrics,
                   extra={"params": {k: v for k, v in dict(DEFAULT_PARAMS, **(params or {})).items()},
                          "seed": seed, "thresholds_tuned_on": "dev"})
    logger.info("thresholds: %s", thresholds)
    return model, metrics
