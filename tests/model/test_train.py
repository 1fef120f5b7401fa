"""Training is reproducible and respects the split discipline."""
import numpy as np
import pytest

from reviewnlp.estimators import MultiHeadLinear
from reviewnlp.model import HEADS, decide, default_thresholds, severity_distribution
from reviewnlp.train import fit, tune_thresholds


def test_same_data_and_seed_same_scores(gold_rows):
    train = [r for r in gold_rows if r["split"] == "train"][:300]
    params = {"features__word_max_features": 2000, "features__char_max_features": 3000}
    a, b = fit(train, params, seed=3), fit(train, params, seed=3)
    texts = [r["text"] for r in gold_rows if r["split"] == "dev"][:100]
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))


def test_parallel_heads_give_the_same_model(gold_rows):
    """n_jobs only spreads the heads over worker processes: coefficients and calibration are identical."""
    train = [r for r in gold_rows if r["split"] == "train"][:300]
    params = {"features__word_max_features": 2000, "features__char_max_features": 3000}
    a = fit(train, params, seed=1, n_jobs=1).pipeline.named_steps["heads"]
    b = fit(train, params, seed=1, n_jobs=2).pipeline.named_steps["heads"]
    for attr in ("coef_", "intercept_", "calib_a_", "calib_b_"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
    assert a.head_kind_ == b.head_kind_


def test_model_pickled_before_n_jobs_still_loads(shipped_model):
    heads = shipped_model.pipeline.named_steps["heads"]
    assert heads.get_params()["n_jobs"] is None
    assert heads.get_params()["dual"] is False  # it was fitted with the primal solver, and says so


def test_dual_solver_reaches_the_primal_optimum(gold_rows):
    """``dual="auto"`` (more features than rows here) picks liblinear's dual solver: same model to ~1e-3."""
    train = [r for r in gold_rows if r["split"] == "train"][:300]
    texts = [r["text"] for r in gold_rows if r["split"] == "dev"][:200]
    params = {"features__word_max_features": 2000, "features__char_max_features": 3000}
    primal = fit(train, dict(params, heads__dual=False), seed=2)
    dual = fit(train, dict(params, heads__dual="auto"), seed=2)
    solvers = {est.calibrated_classifiers_[0].estimator.dual for est in dual.pipeline.named_steps["heads"].estimators_
               if hasattr(est, "calibrated_classifiers_")}
    assert solvers == {True}
    np.testing.assert_allclose(dual.predict_proba(texts), primal.predict_proba(texts), rtol=0, atol=2e-3)
    assert not np.array_equal(dual.predict_proba(texts), primal.predict_proba(texts))  # it did use another solver


def test_invalid_dual_is_refused():
    import scipy.sparse as sp

    with pytest.raises(ValueError, match="dual must be"):
        MultiHeadLinear(dual="sometimes").fit(sp.identity(4, format="csr"), np.eye(4)[:, :2])


def test_thresholds_refuse_test_split(tiny_model, gold_rows):
    with pytest.raises(ValueError, match="test split"):
        tune_thresholds(tiny_model, [r for r in gold_rows if r["split"] == "test"][:50])


def test_fit_returns_self_and_learned_attributes():
    import scipy.sparse as sp

    X = sp.random(40, 10, density=0.5, random_state=0, format="csr")
    Y = np.zeros((40, len(HEADS)))
    Y[::2, 0] = 1
    est = MultiHeadLinear(calibration=None)
    assert est.fit(X, Y) is est
    assert est.coef_.shape == (10, len(HEADS)) and est.head_kind_[1] == "prior"


def test_severity_distribution_sums_to_one_and_is_monotone():
    p = severity_distribution(np.array([0.2, 0.5, 0.1, 0.9]))
    assert abs(p.sum() - 1) < 1e-12 and (p >= 0).all()


def test_decide_respects_label_rules():
    th = default_thresholds()
    probs = np.zeros(len(HEADS))
    causes, sev, _, flags, _ = decide(probs, th)
    assert (causes, sev, flags) == ((), "none", ())
    probs[HEADS.index("flag:legal")] = 0.9
    causes, sev, _, flags, _ = decide(probs, th)
    assert flags == ("legal",) and sev == "critical" and len(causes) == 1


def test_confidence_bounds_the_decided_level():
    th = default_thresholds()
    probs = np.zeros(len(HEADS))
    probs[HEADS.index("severity>none")] = 0.7   # complaint, not confidently
    probs[HEADS.index("severity>low")] = 0.1    # so: low
    causes, sev, _, flags, conf = decide(probs, th)
    assert sev == "low" and abs(conf - min(0.7, 1 - 0.1)) < 1e-12
    probs[:] = 0.0
    _, sev, _, _, conf = decide(probs, th)
    assert sev == "none" and conf == 1.0
