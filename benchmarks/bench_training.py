"""Where training time goes, and the three choices made to cut it, on the gold train split (real reviews).

    python benchmarks/bench_training.py [--heads 4]

1. The character block: ``TfidfVectorizer(analyzer="char").fit_transform`` against
   ``TextFeatures`` with only that block (NumPy keys, same vocabulary apart from ties at the cap).
2. The solver: ``--heads`` liblinear logistic regressions (C and class weights of the default
   model, the first head labels of the split) with the primal solver against the dual one, which
   ``MultiHeadLinear(dual="auto")`` picks when a head has more features than rows; both reach the
   same optimum (the largest difference of a decision value is printed).
3. ``--heads`` calibrated heads as training fits them (``MultiHeadLinear``: 3-fold CV and a full
   fit each) one after the other, in 2 threads (joblib's threading backend) and in 2 joblib worker
   processes, with the pool already running and started by the fit (as in a fresh ``reviewnlp
   train``): the measurement behind fitting the heads one after the other by default. (Threads
   are shown for comparison only: liblinear's dual solver draws from the C library's global random
   state, so heads fitted in concurrent threads are not reproducible.)

Each figure is the best of 2 runs, wall clock (``time.perf_counter``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import gold, wall_and_cpu  # noqa: E402


def best_of(fn, runs: int = 2) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heads", type=int, default=4, help="logistic regressions timed per variant (default 4)")
    args = ap.parse_args(argv)

    import numpy as np
    from joblib import parallel_config
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from reviewnlp.estimators import MultiHeadLinear
    from reviewnlp.features import TextFeatures
    from reviewnlp.model import label_matrix
    from reviewnlp.normalize import normalize
    from reviewnlp.train import DEFAULT_PARAMS

    rows = gold("train")
    texts = [normalize(r["text"]) for r in rows]
    cap, min_df = DEFAULT_PARAMS["features__char_max_features"], DEFAULT_PARAMS["features__min_df"]
    sk = best_of(lambda: TfidfVectorizer(analyzer="char", lowercase=False, ngram_range=(1, 3), max_features=cap,
                                         min_df=min_df, sublinear_tf=True).fit_transform(texts))
    ours = best_of(lambda: TextFeatures(word_ngram=0, char_max_features=cap, min_df=min_df,
                                        lexicon_weight=0).fit_transform(texts))
    print(f"gold train split: {len(texts):,} real reviews")
    print(f"char block fit: TfidfVectorizer {sk:.2f} s, TextFeatures {ours:.2f} s -> {sk / ours:.1f}x faster")

    params = {k.split("__", 1)[1]: v for k, v in DEFAULT_PARAMS.items() if k.startswith("features__")}
    X = TextFeatures(**params).fit_transform(texts)
    X.sum_duplicates()
    Y = label_matrix(rows)
    heads = [Y[:, j].astype(int) for j in range(args.heads)]

    def one(y, dual=True):
        return LogisticRegression(C=DEFAULT_PARAMS["heads__C"], class_weight="balanced", solver="liblinear",
                                  dual=dual, max_iter=2000).fit(X, y)

    primal = best_of(lambda: [one(y, dual=False) for y in heads])
    seq = best_of(lambda: [one(y) for y in heads])
    gap = max(float(np.abs(one(y).decision_function(X) - one(y, dual=False).decision_function(X)).max())
              for y in heads)
    print(f"{args.heads} heads over {X.shape[1]:,} features and {X.shape[0]:,} rows, one after the other: "
          f"primal liblinear {primal:.2f} s, dual {seq:.2f} s -> {primal / seq:.1f}x faster "
          f"(largest difference of a decision value on the training rows: {gap:.1e})")
    # the heads as training fits them: calibrated (3-fold CV + a full fit), through MultiHeadLinear
    from joblib.externals.loky import get_reusable_executor

    Yk = Y[:, :args.heads]
    seq_cal = best_of(lambda: MultiHeadLinear(n_jobs=1).fit(X, Yk))
    with parallel_config(backend="threading"):
        thr = best_of(lambda: MultiHeadLinear(n_jobs=2).fit(X, Yk))
    with parallel_config(backend="loky"):
        warm = best_of(lambda: MultiHeadLinear(n_jobs=2).fit(X, Yk))

        # the pool stopped before each timed fit (not timed), as in a fresh `reviewnlp train`
        cold_s = min(wall_and_cpu(lambda: MultiHeadLinear(n_jobs=2).fit(X, Yk), collect=False,
                                  before=lambda: get_reusable_executor().shutdown(wait=True))[0] for _ in range(2))
    print(f"{args.heads} calibrated heads (MultiHeadLinear): one after the other {seq_cal:.2f} s, "
          f"2 threads {thr:.2f} s ({seq_cal / thr:.2f}x), 2 processes {warm:.2f} s ({seq_cal / warm:.2f}x) "
          f"when the pool is already running, {cold_s:.2f} s ({seq_cal / cold_s:.2f}x) when the fit starts it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
