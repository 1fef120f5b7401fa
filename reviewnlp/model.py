"""The review model: causes, ordinal severity and risk flags over one shared feature space.

Thirteen calibrated binary linear heads share :class:`~reviewnlp.features.TextFeatures`:

- 4 cause heads, ``P(cause)``;
- 4 cumulative severity heads, ``P(severity > k)`` for k = none, low, medium, high
  (ordinal regression in the Frank & Hall style; class probabilities are differences of the
  monotone cumulative curve);
- 5 flag heads, ``P(flag)``, whose features include the negation-aware lexicon indicators.

Per-label thresholds are tuned on the dev split (:func:`reviewnlp.train.tune_thresholds`).

:class:`ReviewModel` is what users get from :func:`reviewnlp.load`. ``classify`` uses the
compiled lean scorer (:mod:`reviewnlp.lean`) by default; ``engine="sklearn"`` runs the
scikit-learn pipeline instead, with the same probabilities.

This module does not import scikit-learn: a serving process that only uses the lean scorer never
loads it (the estimators live in :mod:`reviewnlp.estimators`, the pipeline is unpickled on demand).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .labels import CAUSES, FLAGS, SEVERITIES
from .lexicon import negated_only, scan, strong_hits
from .normalize import normalize
from .segment import detect_language
from .types import Explanation, Prediction

logger = logging.getLogger(__name__)

SEVERITY_HEADS: tuple[str, ...] = tuple(f"severity>{s}" for s in SEVERITIES[:-1])
HEADS: tuple[str, ...] = tuple(f"cause:{c}" for c in CAUSES) + SEVERITY_HEADS + tuple(f"flag:{f}" for f in FLAGS)
N_HEADS = len(HEADS)
_CAUSE_SLICE = slice(0, 4)
_SEV_SLICE = slice(4, 8)
_FLAG_SLICE = slice(8, 13)

DEFAULT_MAX_CHARS = 20000


def label_matrix(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Turn gold records (``causes``, ``severity``, ``flags``) into the 13-column target matrix.

    >>> label_matrix([{"causes": ["logistics"], "severity": "high", "flags": ["fraud"]}]).astype(int).tolist()
    [[0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0]]
    """
    rows = []
    for r in records:
        sev = SEVERITIES.index(r["severity"])
        rows.append([float(c in r["causes"]) for c in CAUSES] + [float(sev > k) for k in range(4)]
                    + [float(f in r["flags"]) for f in FLAGS])
    return np.asarray(rows, dtype=np.float64).reshape(-1, N_HEADS)


def default_thresholds() -> dict[str, float]:
    """0.5 for every head; the strong-lexicon rules off; the flag severity floor on."""
    out = {h: 0.5 for h in HEADS}
    out.update({f"lexicon:{f}@{lang}": 0.0 for f in FLAGS for lang in ("zh", "en")})
    out["rule:flag_floor"] = 1.0
    return out


def severity_distribution(cum: np.ndarray) -> np.ndarray:
    """Class probabilities of the five severities from the four cumulative ``P(y > k)``.

    >>> severity_distribution(np.array([0.9, 0.6, 0.7, 0.1])).round(2).tolist()
    [0.1, 0.3, 0.0, 0.5, 0.1]
    """
    c = np.minimum.accumulate(np.clip(cum, 0.0, 1.0))
    p = np.empty(5)
    p[0] = 1.0 - c[0]
    p[1:4] = c[:3] - c[1:4]
    p[4] = c[3]
    return p


def decide(probs: np.ndarray, thresholds: Mapping[str, float], strong: frozenset[str] = frozenset(),
           negated: frozenset[str] = frozenset()) -> tuple[tuple[str, ...], str, np.ndarray, tuple[str, ...], float]:
    """Turn the 13 head probabilities into labels that obey LABELS.md's constraints.

    - complaint iff ``P(severity > none) >= t``; no complaint means no causes and severity ``none``;
    - severity = 1 + the number of higher cumulative heads over their thresholds;
    - a complaint always gets at least one cause (the most probable one);
    - a flag is set when its head passes its threshold, or when a strong lexicon cue occurs and the
      dev-tuned rule ``lexicon:<flag>@<lang>`` is on;
    - a flag whose lexicon cues are all negated (``negated``) is not set ("没有过敏");
    - a flag makes it a complaint; any flag means at least ``high``, ``legal``/``media`` mean
      ``critical`` (LABELS.md §2-4).

    Returns ``(causes, severity, severity_probs, flags, confidence)``. Confidence is the weaker of
    the two cumulative probabilities that bound the chosen level (``P(y >= level)`` and
    ``P(y <= level)``), or the most certain set flag's probability when that is higher.
    """
    cum = np.minimum.accumulate(np.clip(probs[_SEV_SLICE], 0.0, 1.0))
    sev_p = severity_distribution(probs[_SEV_SLICE])
    flags = tuple(f for f, p in zip(FLAGS, probs[_FLAG_SLICE])
                  if f not in negated
                  and (p >= thresholds[f"flag:{f}"]
                       or any(f"{f}@{lang}" in strong and thresholds.get(f"lexicon:{f}@{lang}", 0.0) >= 0.5
                              for lang in ("zh", "en"))))
    complaint = cum[0] >= thresholds[SEVERITY_HEADS[0]] or bool(flags)
    if not complaint:
        return (), "none", sev_p, (), float(sev_p[0])
    level = 1
    for k in range(1, 4):
        if cum[k] >= thresholds[SEVERITY_HEADS[k]]:
            level = k + 1
        else:
            break
    if flags and thresholds.get("rule:flag_floor", 1.0) >= 0.5:
        level = max(level, 4 if {"legal", "media"} & set(flags) else 3)
    cause_p = probs[_CAUSE_SLICE]
    causes = tuple(c for c, p in zip(CAUSES, cause_p) if p >= thresholds[f"cause:{c}"])
    if not causes:
        causes = (CAUSES[int(np.argmax(cause_p))],)
    # confidence in the decided level: both of its boundaries, P(y >= level) and P(y <= level)
    conf = float(min(cum[level - 1], 1.0 - cum[level])) if level < 4 else float(cum[3])
    if flags:  # a flag-driven decision is as certain as its most certain flag
        conf = max(conf, max(float(probs[_FLAG_SLICE][FLAGS.index(f)]) for f in flags))
    return causes, SEVERITIES[level], sev_p, flags, conf


class ReviewModel:
    """A fitted pipeline plus thresholds and metadata; the object :func:`reviewnlp.load` returns.

    It is safe to share between threads: classification only reads the fitted arrays, and the
    lean scorer is compiled once under a lock.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``build_pipeline()``.
    thresholds : mapping of head name to float
    metadata : mapping
        ``metadata.json`` content (version, metrics, ...).
    max_chars : int
        Longer texts are rejected with :class:`~reviewnlp.errors.InputError`.
    """

    def __init__(self, pipeline=None, thresholds: Mapping[str, float] | None = None,
                 metadata: Mapping[str, Any] | None = None, max_chars: int = DEFAULT_MAX_CHARS, *,
                 lean=None, pipeline_loader=None):
        if pipeline is None and lean is None:
            raise ValueError("ReviewModel needs a fitted pipeline or a lean scorer")
        if pipeline is not None:
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(pipeline.named_steps["heads"], "coef_")
        self._pipeline = pipeline
        self._pipeline_loader = pipeline_loader
        self.thresholds = dict(default_thresholds(), **(thresholds or {}))
        self.metadata = dict(metadata or {})
        self.max_chars = max_chars
        self._lean = lean
        self._lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_pipeline"] = self.pipeline
        state["_pipeline_loader"] = None
        state["_lean"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def pipeline(self):
        """The scikit-learn pipeline (unpickled on first use when the model was loaded lean)."""
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    if self._pipeline_loader is None:
                        raise ValueError("this model has no scikit-learn pipeline")
                    self._pipeline = self._pipeline_loader()
        return self._pipeline

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    @property
    def lean(self):
        """The compiled :class:`~reviewnlp.lean.LeanScorer` (built on first use)."""
        if self._lean is None:
            with self._lock:
                if self._lean is None:
                    from .lean import LeanScorer

                    self._lean = LeanScorer.from_pipeline(self._pipeline)
        return self._lean

    # -- probabilities -------------------------------------------------------------------------
    def _check(self, text: Any, field: str = "text") -> str:
        if not isinstance(text, str):
            raise InputError(f"{field} must be a string, got {type(text).__name__}", field=field)
        if not text.strip():
            raise InputError(f"{field} is empty", field=field)
        if len(text) > self.max_chars:
            raise InputError(f"{field} is {len(text)} characters; the limit is {self.max_chars}", field=field)
        return normalize(text)

    def predict_proba(self, texts: Sequence[str], engine: str = "lean") -> np.ndarray:
        """Head probabilities for raw texts, shape ``(n, 13)``; columns follow :data:`HEADS`."""
        norm = [self._check(t, f"texts[{i}]") for i, t in enumerate(texts)]
        return self._proba_normalized(norm, engine)

    def _proba_normalized(self, norm: Sequence[str], engine: str) -> np.ndarray:
        if engine == "lean":
            return self.lean.predict_proba_many(norm)
        if engine == "sklearn":
            return self.pipeline.predict_proba(list(norm))
        raise ValueError(f"engine must be 'lean' or 'sklearn', got {engine!r}")

    # -- records ---------------------------------------------------------------------------------
    def classify(self, text: str, *, id: str | None = None, engine: str = "lean", explain: bool = True,
                 **meta: Any) -> Prediction:
        """Classify one review.

        Parameters
        ----------
        text : str
            The raw review text.
        id : str, optional
            The review's id, carried into the prediction.
        engine : {"lean", "sklearn"}
        explain : bool
            Compute the token/lexicon explanation.
        **meta
            Anything else (product, date, ...), carried into ``Prediction.meta``.
        """
        norm = self._check(text)
        if engine == "lean":
            probs, contrib = self.lean.predict_one(norm, explain=explain)
        else:
            probs, contrib = self._proba_normalized([norm], engine)[0], None
        return self._prediction(norm, probs, id, meta, contrib if explain else None, explain)

    def classify_many(self, texts: Sequence[str], *, ids: Sequence[str | None] | None = None,
                      engine: str = "lean", explain: bool | Callable[[Prediction], bool] = False,
                      metas: Sequence[Mapping[str, Any]] | None = None) -> list[Prediction]:
        """Classify many reviews at once (vectorized); see :meth:`classify`.

        Parameters
        ----------
        explain : bool or callable
            ``True`` explains every review; a function of a :class:`Prediction` explains the
            reviews for which it returns true (say, those that escalate), from the features
            already computed: the review is not scored twice. With the lean engine the function
            is called once per review, in order, with the prediction without explanation.
        """
        norm = [self._check(t, f"texts[{i}]") for i, t in enumerate(texts)]
        ids = list(ids) if ids is not None else [None] * len(norm)
        metas = list(metas) if metas is not None else [{}] * len(norm)
        lean = self.lean if engine == "lean" else None  # only the lean engine explains
        # one text at a time when every review is explained or there is only one (its feature row is
        # kept for the explanation); otherwise one vectorized pass, and the few reviews explained get
        # their feature row again
        explained_all = lean is not None and explain is True
        one_by_one = lean is not None and (explained_all or len(norm) == 1)
        rows = [lean.features_one(n) for n in norm] if one_by_one else None
        probs = [lean.proba_row(r) for r in rows] if one_by_one else self._proba_normalized(norm, engine)
        out = []
        for k, (n, p, i, m) in enumerate(zip(norm, probs, ids, metas)):
            prediction = None if explained_all else self._prediction(n, p, i, m, None, False)
            if lean is not None and (explained_all or (callable(explain) and explain(prediction))):
                row = rows[k] if rows is not None else lean.features_one(n)
                prediction = self._prediction(n, p, i, m, lean.contributions(row), True)
            out.append(prediction)
        return out

    def _prediction(self, norm: str, probs: np.ndarray, rid, meta, contrib, explain: bool) -> Prediction:
        causes, severity, sev_p, flags, conf = decide(probs, self.thresholds, strong_hits(norm), negated_only(norm))
        explanation = Explanation()
        if explain:
            hits = scan(norm)[0]
            lex = {k: v for k, v in hits.items() if v}
            tokens = {}
            if contrib is not None:
                wanted = ["severity>none"] + [f"cause:{c}" for c in causes] + [f"flag:{f}" for f in flags]
                tokens = {("complaint" if h == "severity>none" else h): contrib[h] for h in wanted if h in contrib}
            explanation = Explanation(tokens=tokens, lexicon_hits=lex)
        return Prediction(
            review_id=rid,
            lang=detect_language(norm),
            causes=causes,
            cause_scores={c: float(p) for c, p in zip(CAUSES, probs[_CAUSE_SLICE])},
            severity=severity,
            severity_scores={s: float(p) for s, p in zip(SEVERITIES, sev_p)},
            flags=flags,
            flag_scores={f: float(p) for f, p in zip(FLAGS, probs[_FLAG_SLICE])},
            confidence=conf,
            model_version=self.version,
            explanation=explanation,
            meta=dict(meta or {}),
        )


def load(path=None, **kwargs: Any) -> ReviewModel:
    """Load a model directory (artifact + ``metadata.json``); ``None`` means the shipped default.

    The sha256 and library versions are verified *before* anything is unpickled; see
    :mod:`reviewnlp.persistence`.
    """
    from .persistence import load_model

    return load_model(path, **kwargs)

