"""Evaluation: per-label P/R/F1, severity confusion / within-one / QWK, escalation recall and
precision under the LABELS.md §5 policy, and baselines measured in the same run.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from .labels import CAUSES, FLAGS, SEVERITIES

logger = logging.getLogger(__name__)

ESCALATING_FLAGS = frozenset(FLAGS)


def escalates(severity: str, flags: Sequence[str]) -> bool:
    """LABELS.md §5 rules 1-2: any flag, or severity high/critical, escalates.

    >>> escalates("medium", []), escalates("medium", ["fraud"]), escalates("high", [])
    (False, True, True)
    """
    return bool(set(flags) & ESCALATING_FLAGS) or severity in ("high", "critical")


def _prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    return {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
            "support": int(y_true.sum())}


def score(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Metrics of predicted label dicts (``causes``, ``severity``, ``flags``) against gold rows."""
    n = len(gold)
    out: dict[str, Any] = {"n": n}
    for group, names in (("causes", CAUSES), ("flags", FLAGS)):
        per = {}
        yt_all, yp_all = [], []
        for name in names:
            yt = np.array([name in g[group] for g in gold])
            yp = np.array([name in p[group] for p in pred])
            per[name] = _prf(yt, yp)
            yt_all.append(yt)
            yp_all.append(yp)
        yt_m, yp_m = np.concatenate(yt_all), np.concatenate(yp_all)
        out[group] = {"per_label": per, "micro": _prf(yt_m, yp_m),
                      "macro_f1": round(float(np.mean([v["f1"] for v in per.values()])), 4)}
    st = np.array([SEVERITIES.index(g["severity"]) for g in gold])
    sp_ = np.array([SEVERITIES.index(p["severity"]) for p in pred])
    out["severity"] = {
        "accuracy": round(float((st == sp_).mean()), 4) if n else 0.0,
        "within_one": round(float((np.abs(st - sp_) <= 1).mean()), 4) if n else 0.0,
        "qwk": round(float(cohen_kappa_score(st, sp_, weights="quadratic", labels=list(range(5)))), 4) if n else 0.0,
        "macro_f1": round(float(np.mean(precision_recall_fscore_support(
            st, sp_, labels=list(range(5)), average=None, zero_division=0)[2])), 4),
        "confusion_matrix": {"labels": list(SEVERITIES),
                             "rows_gold_cols_pred": confusion_matrix(st, sp_, labels=list(range(5))).tolist()},
    }
    out["complaint"] = _prf(st > 0, sp_ > 0)
    out["escalation"] = _prf(np.array([escalates(g["severity"], g["flags"]) for g in gold]),
                             np.array([escalates(p["severity"], p["flags"]) for p in pred]))
    out["critical"] = _prf(st == 4, sp_ == 4)
    return out


def predict_labels(model, rows: Sequence[Mapping[str, Any]], engine: str = "lean") -> list[dict[str, Any]]:
    """The model's label dicts (``causes``, ``severity``, ``flags``) for gold rows, in order."""
    return [{"causes": p.causes, "severity": p.severity, "flags": p.flags}
            for p in model.classify_many([r["text"] for r in rows], engine=engine)]


def evaluate(model, rows: Sequence[Mapping[str, Any]], engine: str = "lean", by_lang: bool = True,
             preds: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Score a :class:`~reviewnlp.model.ReviewModel` on gold rows (overall and per language).

    ``preds`` (from :func:`predict_labels`) skips classifying the rows again.
    """
    pd_ = list(preds) if preds is not None else predict_labels(model, rows, engine)
    res = score(rows, pd_)
    if by_lang:
        res["by_lang"] = {}
        for lang in sorted({r["lang"] for r in rows}):
            idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
            if len(idx) >= 20:
                sub = score([rows[i] for i in idx], [pd_[i] for i in idx])
                res["by_lang"][lang] = {k: sub[k] for k in ("n", "complaint", "escalation", "critical")} | {
                    "causes_micro_f1": sub["causes"]["micro"]["f1"], "flags_micro_f1": sub["flags"]["micro"]["f1"],
                    "severity_qwk": sub["severity"]["qwk"]}
    return res


# ---------------------------------------------------------------------------------------- baselines
_NEG_ZH = ("差", "慢", "不好", "失望", "垃圾", "退", "坏", "烂", "难吃", "不行", "问题", "投诉", "不满", "太贵",
           "假", "骗",
           "没收到", "一般", "凉", "少", "错", "不新鲜", "臭", "破", "漏")
_NEG_EN = ("bad", "poor", "broken", "terrible", "disappoint", "return", "refund", "never", "waste", "worst",
           "awful", "didn't", "not work", "doesn't", "defective", "late", "problem", "complain", "fraud", "scam")
_CAUSE_KW = {
    "logistics": ("快递", "物流", "送", "配送", "骑手", "到货", "发货", "包装", "delivery", "shipping", "shipped",
                  "arrived", "package", "courier"),
    "service_attitude": ("客服", "态度", "服务", "商家", "卖家", "售后", "退款", "customer service", "seller",
                         "support",
                         "refund", "rude", "response"),
    "other": ("价格", "贵", "发票", "优惠", "price", "expensive", "invoice", "coupon", "fee"),
}


def keyword_triage(text: str) -> dict[str, Any]:
    """A keyword-rule triage baseline: negative words, cause keywords and the risk lexicons.

    >>> keyword_triage("快递太慢了")["causes"]
    ('logistics',)
    """
    from .lexicon import find_hits
    from .normalize import normalize

    t = normalize(text)
    hits = find_hits(t)
    flags = tuple(f for f in FLAGS if hits[f])
    complaint = any(k in t for k in _NEG_ZH + _NEG_EN) or bool(flags)
    if not complaint:
        return {"causes": (), "severity": "none", "flags": ()}
    causes = tuple(c for c, kws in _CAUSE_KW.items() if any(k in t for k in kws)) or ("product_quality",)
    if "product_quality" not in causes and any(k in t for k in ("质量", "quality", "坏", "broken", "味道")):
        causes = ("product_quality", *causes)
    if hits["safety"] or hits["legal"] or hits["media"] or hits["privacy"]:
        sev = "critical"
    elif hits["escalation"] or hits["fraud"]:
        sev = "high"
    else:
        sev = "medium"
    return {"causes": causes, "severity": sev, "flags": flags}


def keyword_baseline(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return score(rows, [keyword_triage(r["text"]) for r in rows])


def snownlp_baseline(rows: Sequence[Mapping[str, Any]], threshold: float = 0.5) -> dict[str, Any]:
    """Complaint detection by SnowNLP sentiment (< threshold = complaint), on the Chinese rows only."""
    try:
        from snownlp import SnowNLP
    except ImportError:  # optional dev dependency
        return {"skipped": "snownlp is not installed (pip install 'reviewnlp[dev]')"}
    zh = [r for r in rows if r["lang"] in ("zh", "mixed")]
    y = np.array([r["severity"] != "none" for r in zh])
    p = np.array([SnowNLP(r["text"]).sentiments < threshold for r in zh])
    return {"n": len(zh), "complaint": _prf(y, p)}


def compare(model, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The model and both baselines on the same rows, in one run."""
    preds = predict_labels(model, rows)
    res = {"model": evaluate(model, rows, preds=preds), "keyword_baseline": keyword_baseline(rows),
           "snownlp_baseline": snownlp_baseline(rows)}
    zh = [i for i, r in enumerate(rows) if r["lang"] in ("zh", "mixed")]
    if zh:  # the model on the rows SnowNLP sees, from the same predictions
        res["model_zh_complaint"] = score([rows[i] for i in zh], [preds[i] for i in zh])["complaint"]
    return res
