"""Compare the modelling options that matter, by dev metrics and speed.

Usage: python models/compare_options.py [--out models/comparison.json]

Every variant is trained on datasets/gold/train.jsonl (gold only, no weak data, seed 0), its
per-head thresholds are tuned on dev, and it is scored on dev with the same decision rules as the
shipped model. The test split is not touched. Speed: fit seconds, and batch prediction time per
review through the scikit-learn path (the lean path exists only for the chosen design).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reviewnlp.dataset import load_gold  # noqa: E402
from reviewnlp.evaluate import score  # noqa: E402
from reviewnlp.features import TextFeatures, tokenize  # noqa: E402
from reviewnlp.lexicon import negated_only, strong_hits  # noqa: E402
from reviewnlp.model import HEADS, decide, default_thresholds, label_matrix  # noqa: E402
from reviewnlp.normalize import normalize  # noqa: E402


def hashing_features(train, dev):
    w = HashingVectorizer(tokenizer=tokenize, preprocessor=lambda t: t, token_pattern=None, lowercase=False,
                          ngram_range=(1, 2), n_features=2**18, alternate_sign=False, norm=None)
    c = HashingVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, n_features=2**18,
                          alternate_sign=False, norm=None)
    tw, tc = TfidfTransformer(sublinear_tf=True), TfidfTransformer(sublinear_tf=True)
    Xtr = sp.hstack([tw.fit_transform(w.transform(train)), tc.fit_transform(c.transform(train))], format="csr")
    t0 = time.perf_counter()
    Xdv = sp.hstack([tw.transform(w.transform(dev)), tc.transform(c.transform(dev))], format="csr")
    return Xtr, Xdv, time.perf_counter() - t0


def vocab_features(train, dev, **kw):
    tf = TextFeatures(**kw).fit(train)
    Xtr = tf.transform(train)
    t0 = time.perf_counter()
    Xdv = tf.transform(dev)
    return Xtr, Xdv, time.perf_counter() - t0


def make_head(kind, class_weight):
    if kind == "lr":
        return LogisticRegression(C=4.0, class_weight=class_weight, solver="liblinear", max_iter=2000, random_state=0)
    if kind == "sgd":
        return SGDClassifier(loss="log_loss", alpha=2e-5, class_weight=class_weight, max_iter=30, tol=None,
                             random_state=0)
    if kind == "cnb":
        return ComplementNB(alpha=0.3)
    raise ValueError(kind)


def run_variant(name, feats, head, class_weight, train_rows, dev_rows, train_txt, dev_txt):
    t0 = time.perf_counter()
    Xtr, Xdv, feat_dev_s = feats(train_txt, dev_txt)
    Y = label_matrix(train_rows)
    models = []
    for j in range(Y.shape[1]):
        y = Y[:, j].astype(int)
        if y.min() == y.max():
            models.append(float(y.mean()))
            continue
        models.append(make_head(head, class_weight).fit(Xtr if head != "cnb" else abs(Xtr), y))
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    P = np.column_stack([np.full(Xdv.shape[0], m) if isinstance(m, float) else
                         m.predict_proba(Xdv if head != "cnb" else abs(Xdv))[:, 1] for m in models])
    pred_s = time.perf_counter() - t1 + feat_dev_s
    Ydv = label_matrix(dev_rows)
    th = default_thresholds()
    for j, h in enumerate(HEADS):
        y = Ydv[:, j] > 0.5
        best, bt = -1, 0.5
        for t in np.arange(0.05, 0.96, 0.025):
            p = P[:, j] >= t
            f1 = 2 * (p & y).sum() / max(p.sum() + y.sum(), 1)
            if f1 > best:
                best, bt = f1, float(t)
        th[h] = bt
    preds = []
    for t, row in zip(dev_txt, P):
        c, s, _, f, _ = decide(row, th, strong_hits(t), negated_only(t))
        preds.append({"causes": c, "severity": s, "flags": f})
    m = score(dev_rows, preds)
    return {"variant": name, "causes_micro_f1": m["causes"]["micro"]["f1"], "causes_macro_f1": m["causes"]["macro_f1"],
            "flags_micro_f1": m["flags"]["micro"]["f1"], "complaint_f1": m["complaint"]["f1"],
            "severity_qwk": m["severity"]["qwk"], "escalation_f1": m["escalation"]["f1"],
            "escalation_recall": m["escalation"]["recall"], "fit_s": round(fit_s, 1),
            "predict_ms_per_review_batched": round(1000 * pred_s / len(dev_txt), 3),
            "n_features": int(Xtr.shape[1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "models" / "comparison.json"))
    args = ap.parse_args()
    train_rows = load_gold(ROOT / "datasets" / "gold" / "train.jsonl")
    dev_rows = load_gold(ROOT / "datasets" / "gold" / "dev.jsonl")
    train_txt = [normalize(r["text"]) for r in train_rows]
    dev_txt = [normalize(r["text"]) for r in dev_rows]
    V = lambda **kw: (lambda a, b: vocab_features(a, b, **kw))  # noqa: E731
    variants = [
        ("LR, balanced, vocab word+char (uncalibrated)", V(), "lr", "balanced"),
        ("LR, no class weights, vocab word+char", V(), "lr", None),
        ("LR, balanced, hashing word+char 2^18", hashing_features, "lr", "balanced"),
        ("SGD log-loss, balanced, vocab word+char", V(), "sgd", "balanced"),
        ("ComplementNB, vocab word+char", V(), "cnb", None),
        ("LR, balanced, word 1-2 only", V(char_ngram=0), "lr", "balanced"),
        ("LR, balanced, char 1-3 only", V(word_ngram=0), "lr", "balanced"),
        ("LR, balanced, no lexicon features", V(lexicon_weight=0.0), "lr", "balanced"),
    ]
    out = []
    for name, feats, head, cw in variants:
        res = run_variant(name, feats, head, cw, train_rows, dev_rows, train_txt, dev_txt)
        print(json.dumps(res, ensure_ascii=False), flush=True)
        out.append(res)
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
