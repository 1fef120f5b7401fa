"""The lean scorer gives the scikit-learn pipeline's probabilities to 1e-9 on real reviews."""
import numpy as np

from reviewnlp.normalize import normalize
from tests.conftest import real_reviews


def test_lean_equals_sklearn_on_thousands_of_real_reviews(shipped_model):
    texts = [normalize(t) for t in real_reviews(3000)]
    texts = [t for t in texts if t]
    assert len(texts) >= 2500
    sk = shipped_model.pipeline.predict_proba(texts)
    lean_batch = shipped_model.lean.predict_proba_many(texts)
    np.testing.assert_allclose(lean_batch, sk, rtol=0, atol=1e-9)
    lean_one = np.vstack([shipped_model.lean.predict_one(t)[0] for t in texts[:500]])
    np.testing.assert_allclose(lean_one, sk[:500], rtol=0, atol=1e-9)


def test_engines_give_same_predictions(shipped_model):
    texts = real_reviews(200)
    a = shipped_model.classify_many(texts, engine="lean")
    b = shipped_model.classify_many(texts, engine="sklearn")
    assert [(p.causes, p.severity, p.flags) for p in a] == [(p.causes, p.severity, p.flags) for p in b]


def test_tiny_model_lean_equals_sklearn(tiny_model):
    texts = [normalize(t) for t in real_reviews(300)]
    np.testing.assert_allclose(tiny_model.lean.predict_proba_many(texts), tiny_model.pipeline.predict_proba(texts),
                               rtol=0, atol=1e-9)
