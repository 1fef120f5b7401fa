"""Training: data loading, fitting, threshold tuning on dev, test metrics, saving.

The CLI (``reviewnlp train``) and the notebooks call these same functions.

Reproducible: the same data and seed give the same scores (liblinear and the calibration folds
are seeded; feature vocabularies are deterministic, also across machines: ties at the
``max_features`` cut keep the alphabetically first terms, see :class:`reviewnlp.features.TextFeatures`;
the number of worker processes does not change the model).
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
from .estimators import build_pipeline
from .model import HEADS, ReviewModel, default_thresholds, label_matrix
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
    "heads__dual": "auto",  # liblinear's dual solver when a head has more features than rows: same optimum, faster
}


def data_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """sha256 over the (id, text, labels) of the rows, order-independent.

    >>> data_hash([{"id": "a", "text": "t", "causes": [], "severity": "none", "flags": []}])[:12]
    'c9a2c11cf9e7'
    """
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r["id"]):
        h.update(json.dumps([r["id"], r["text"], sorted(r["causes"]), r["severity"], sorted(r["flags"])],
                            ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def load_weak(path: str | Path) -> list[dict[str, Any]]:
    """Weak complaint rows (``complaint`` bool); they never carry cause, severity or flag labels."""
    from .dataset import read_jsonl

    out = []
    for n, row in read_jsonl(path):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("complaint"), bool):
            raise ValueError(f"{path}:{n}: weak rows need a string 'text' and a boolean 'complaint'")
        out.append(row)
    return out


def fit(rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None, seed: int = 0,
        weak: Sequence[Mapping[str, Any]] = (), weak_weight: float = 0.3, n_jobs: int | None = None) -> ReviewModel:
    """Fit the pipeline on gold rows (plus weak complaint rows for the complaint head only).

    Thresholds stay at 0.5 until :func:`tune_thresholds`. ``n_jobs`` heads are fitted at once, in
    worker processes (``-1``: every core; default: one after the other, which is as fast on 2 cores,
    see :class:`~reviewnlp.estimators.MultiHeadLinear`); the model does not depend on it.
    """
    p = dict(DEFAULT_PARAMS, **(params or {}))
    p["heads__random_state"] = seed
    p["heads__n_jobs"] = n_jobs
    pipe = build_pipeline(**p)
    texts = [normalize(r["text"]) for r in rows] + [normalize(r["text"]) for r in weak]
    Y = label_matrix(rows)
    sw = None
    if weak:
        W = np.full((len(weak), Y.shape[1]), np.nan)
        W[:, HEADS.index("severity>none")] = [float(r["complaint"]) for r in weak]
        Y = np.vstack([Y, W])
        sw = np.concatenate([np.ones(len(rows)), np.full(len(weak), weak_weight)])
    t0 = time.perf_counter()
    pipe.fit(texts, Y, heads__sample_weight=sw)
    logger.info("fitted on %d rows in %.1fs", len(rows), time.perf_counter() - t0)
    return ReviewModel(pipe, default_thresholds())


def tune_thresholds(model: ReviewModel, dev_rows: Sequence[Mapping[str, Any]],
                    grid: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.025), 3))) -> dict[str, float]:
    """Choose each head's threshold to maximize its F1 on the dev rows (never the test split)."""
    if any(r.get("split") == "test" for r in dev_rows):
        raise ValueError("thresholds must not be tuned on the test split")
    norm = [normalize(r["text"]) for r in dev_rows]
    P = model._proba_normalized(norm, "lean")  # the texts are normalized once, here
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
    # strong-lexicon rules: keep a flag's rule only when it raises that flag's F1 on dev
    from .labels import FLAGS
    from .lexicon import strong_hits

    strong = [strong_hits(t) for t in norm]
    def f1(pred, y):
        tp = float((pred & y).sum())
        return 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0

    for f in FLAGS:
        j = HEADS.index(f"flag:{f}")
        for lang in ("zh", "en"):
            key = f"{f}@{lang}"
            y = Y[:, j] > 0.5
            base = P[:, j] >= out[f"flag:{f}"]
            fires = np.array([key in s for s in strong])
            # judge the rule where it can fire: dev rows of that cue language
            in_lang = np.array([(r["lang"] == "en") == (lang == "en") for r in dev_rows])
            y_l, base_l = y[in_lang], base[in_lang]
            with_rule = base_l | fires[in_lang]
            # too few dev positives to measure: trust the curated strong cues
            out[f"lexicon:{key}"] = 1.0 if y_l.sum() < 3 or f1(with_rule, y_l) > f1(base_l, y_l) + 1e-9 else 0.0
    out["rule:flag_floor"] = 1.0
    model.thresholds = out
    return out


def train(data: str | Path, out: str | Path | None = None, *, params: Mapping[str, Any] | None = None,
          seed: int = 0, version: str | None = None, evaluate_test: bool = True,
          weak: str | Path | None = None, weak_weight: float = 0.3,
          n_jobs: int | None = None) -> tuple[ReviewModel, dict]:
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
    weak_rows = load_weak(weak) if weak else []
    model = fit(train_rows, params, seed, weak=weak_rows, weak_weight=weak_weight, n_jobs=n_jobs)
    fit_s = time.perf_counter() - t0
    thresholds = tune_thresholds(model, dev_rows)
    metrics: dict[str, Any] = {"dev": evaluate(model, dev_rows)}
    if evaluate_test:
        test_rows = load_gold(Path(data) / "test.jsonl")
        metrics["test"] = evaluate(model, test_rows)
    metrics["fit_seconds"] = round(fit_s, 2)
    metrics["data"] = {"path": str(data), "train": len(train_rows), "dev": len(dev_rows),
                       "weak": str(weak) if weak else None, "weak_rows": len(weak_rows), "weak_weight": weak_weight}
    if out is not None:
        recipe = hashlib.sha256(json.dumps([data_hash(train_rows), len(weak_rows), weak_weight,
                                            sorted(dict(DEFAULT_PARAMS, **(params or {})).items())],
                                           default=str).encode()).hexdigest()
        version = version or f"{__version__}+{recipe[:8]}.s{seed}"
        save_model(model, out, version=version, training_data_hash=data_hash(train_rows), metrics=metrics,
                   extra={"params": {k: v for k, v in dict(DEFAULT_PARAMS, **(params or {})).items()},
                          "seed": seed, "thresholds_tuned_on": "dev",
                          "training_data": {"gold_train": data_hash(train_rows),
                                            "weak": data_hash([dict(r, causes=[], severity="none", flags=[])
                                                               for r in weak_rows]) if weak_rows else None}})
    logger.info("thresholds: %s", thresholds)
    return model, metrics
