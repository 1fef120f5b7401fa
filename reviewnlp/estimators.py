"""scikit-learn estimators of the model: :class:`MultiHeadLinear` and the training pipeline.

Imported for training, evaluation with ``engine="sklearn"`` and the lean-scorer compilation; a
serving process that only scores with the lean path does not import this module.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .features import TextFeatures


class MultiHeadLinear(BaseEstimator, ClassifierMixin):
    """Independent calibrated logistic-regression heads over one feature matrix.

    Each head ``j`` gives ``P_j = expit(-(a_j * (x . w_j + c_j) + b_j))``: the logistic model's
    decision value mapped by Platt (sigmoid) calibration fitted on cross-validated predictions.
    Heads with too few positives fall back to an uncalibrated model, or to the prior.

    Parameters
    ----------
    C : float
        Inverse L2 regularization strength.
    class_weight : {"balanced", None}
        Reweight the rare class of each head.
    calibration : {"sigmoid", None}
        Platt calibration of each head (``CalibratedClassifierCV(ensemble=False)``).
    cv : int
        Folds of the calibration.
    solver : str
        LogisticRegression solver.
    dual : {"auto", True, False}
        liblinear's dual formulation, which reaches the same optimum and is faster when a head has
        more features than rows (scikit-learn's advice; ``python benchmarks/bench_training.py``
        times both); ``"auto"`` picks it then, per head. Models pickled before this parameter
        existed were fitted with the primal one (``False``).
    random_state : int
    n_jobs : int or None
        Heads fitted at once, in joblib worker processes; ``None`` means 1, ``-1`` every core. The
        fitted model does not depend on it (``tests/model/test_train.py``). Not threads:
        liblinear's dual solver draws from the C library's global random state, so heads fitted
        in concurrent threads are not reproducible. With the dual solver a head fits in a fraction
        of a second, and starting the processes costs more than they save on 2 cores
        (``python benchmarks/bench_training.py``): training fits the heads one after the other
        unless asked otherwise.
    """

    def __init__(self, C=4.0, class_weight="balanced", calibration="sigmoid", cv=3, solver="liblinear",
                 dual="auto", random_state=0, n_jobs=None):
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.solver = solver
        self.dual = dual
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __setstate__(self, state):
        # models pickled before ``n_jobs`` and ``dual`` existed (the latter were fitted with the primal solver)
        state.setdefault("n_jobs", None)
        state.setdefault("dual", False)
        super().__setstate__(state)

    def fit(self, X, Y, sample_weight=None):
        """Fit every head; a NaN target means "unknown for this head" and drops the row from that head."""
        Y = np.asarray(Y, dtype=np.float64)
        sw_all = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if Y.ndim != 2:
            raise ValueError(f"Y must be 2-D (n_samples, n_heads), got shape {Y.shape}")
        n_features = X.shape[1]
        self.n_heads_ = Y.shape[1]
        self.coef_ = np.zeros((n_features, self.n_heads_))
        self.intercept_ = np.zeros(self.n_heads_)
        self.calib_a_ = -np.ones(self.n_heads_)
        self.calib_b_ = np.zeros(self.n_heads_)
        if sp.issparse(X):
            # canonical CSR up front: workers see X read-only (memory-mapped) and cannot sort it
            X = sp.csr_matrix(X)
            X.sum_duplicates()
        if self.dual not in ("auto", True, False):
            raise ValueError(f"dual must be 'auto', True or False, got {self.dual!r}")
        settings = dict(C=self.C, class_weight=self.class_weight, calibration=self.calibration, cv=self.cv,
                        solver=self.solver, dual=self.dual, random_state=self.random_state)
        fitted = Parallel(n_jobs=self.n_jobs)(delayed(_fit_head)(X, Y[:, j], sw_all, **settings)
                                              for j in range(self.n_heads_))
        self.head_kind_ = []
        self.estimators_ = []
        for j, (kind, est, coef, intercept, a, b) in enumerate(fitted):
            self.head_kind_.append(kind)
            self.estimators_.append(est)
            self.intercept_[j] = intercept
            if coef is not None:
                self.coef_[:, j] = coef
            self.calib_a_[j] = a
            self.calib_b_[j] = b
        return self

    def decision_values(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X @ self.coef_) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of every head, shape ``(n_samples, n_heads)``, via the fitted estimators."""
        check_is_fitted(self, "estimators_")
        out = np.empty((X.shape[0], self.n_heads_))
        for j, est in enumerate(self.estimators_):
            if est is None:
                out[:, j] = 1.0 / (1.0 + np.exp(-self.intercept_[j]))
            else:
                out[:, j] = est.predict_proba(X)[:, 1]
        return out

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= 0.5).astype(int)


def _fit_head(X, yj, sw_all, *, C, class_weight, calibration, cv, solver, dual, random_state):
    """One head: ``(kind, estimator, coef, intercept, calib_a, calib_b)``."""
    known = ~np.isnan(yj)
    Xj = X if known.all() else X[np.flatnonzero(known)]
    y = yj[known].astype(int)
    sw = None if sw_all is None else sw_all[known]
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        prior = (pos + 0.5) / (len(y) + 1.0)
        return "prior", None, None, float(np.log(prior / (1 - prior))), -1.0, 0.0
    if dual == "auto":
        dual = solver == "liblinear" and X.shape[1] > len(y)
    lr = LogisticRegression(C=C, class_weight=class_weight, solver=solver, dual=bool(dual),
                            max_iter=2000, random_state=random_state)
    if calibration and min(pos, neg) >= 2 * cv:
        est = CalibratedClassifierCV(lr, method=calibration, cv=cv, ensemble=False).fit(
            Xj, y, sample_weight=sw)
        cal = est.calibrated_classifiers_[0]
        base = cal.estimator
        return ("calibrated", est, base.coef_.ravel(), float(base.intercept_[0]),
                float(cal.calibrators[0].a_), float(cal.calibrators[0].b_))
    est = lr.fit(Xj, y, sample_weight=sw)
    return "logistic", est, est.coef_.ravel(), float(est.intercept_[0]), -1.0, 0.0


def build_pipeline(**params: Any) -> Pipeline:
    """The scikit-learn pipeline: ``TextFeatures`` then ``MultiHeadLinear``; params use ``step__name``.

    >>> build_pipeline(heads__C=2.0).get_params()["heads__C"]
    2.0
    """
    pipe = Pipeline([("features", TextFeatures()), ("heads", MultiHeadLinear())])
    if params:
        pipe.set_params(**params)
    return pipe
