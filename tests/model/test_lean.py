"""The lean scorer gives the scikit-learn pipeline's probabilities to 1e-9 on real reviews."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


EDGE_TEXTS = ["", " ", "👍👍", "arrived after 2 hours, 2 hours late", "a  b\t\tc", "好" * 3000, "[phone] [url]",
              "not not_good", "快递3天才到", "bought 2 months ago, 5 stars because it works",
              "\U0001F600\u4e00x", "ｆｕｌｌ ｗｉｄｔｈ"]


def test_batch_path_equals_sklearn_on_edge_texts(shipped_model):
    """Empty and whitespace-only texts, emoji, tokens with a space inside ("2 hours"), long runs."""
    texts = EDGE_TEXTS + [normalize(t) for t in EDGE_TEXTS]
    sk = shipped_model.pipeline.predict_proba(texts)
    np.testing.assert_allclose(shipped_model.lean.predict_proba_many(texts), sk, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.vstack([shipped_model.lean.predict_one(t)[0] for t in texts]), sk,
                               rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(EDGE_TEXTS)), min_size=2, max_size=8))
def test_batch_and_single_paths_agree_on_any_text(shipped_model, texts):
    texts = [normalize(t) for t in texts]
    batch = shipped_model.lean.predict_proba_many(texts)
    single = np.vstack([shipped_model.lean.predict_one(t)[0] for t in texts])
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-9)
