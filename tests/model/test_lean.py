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


def test_explain_predicate_explains_only_chosen_reviews_without_scoring_twice(shipped_model, monkeypatch):
    """``explain=<function>`` explains the reviews it picks, exactly as ``explain=True`` would, and a
    single review's features are computed once (the service explains escalations this way)."""
    import reviewnlp.lean as lean_module

    texts = real_reviews(60)
    full = shipped_model.classify_many(texts, explain=True)
    plain = shipped_model.classify_many(texts)
    chosen = {i for i, p in enumerate(plain) if p.severity in ("medium", "high", "critical")}
    assert 0 < len(chosen) < len(texts)
    ids = [str(i) for i in range(len(texts))]
    calls = []

    def pick(prediction):
        calls.append(prediction.review_id)
        return int(prediction.review_id) in chosen

    for batch in (texts, *([t] for t in texts[:20])):
        got = shipped_model.classify_many(batch, ids=ids[:len(batch)] if len(batch) > 1 else
                                          [ids[texts.index(batch[0])]], explain=pick)
        for p in got:
            k = int(p.review_id)
            assert p.to_dict()["severity_scores"] == full[k].to_dict()["severity_scores"]
            assert p.explanation == (full[k].explanation if k in chosen else plain[k].explanation)
    assert sorted(calls) == sorted(ids + ids[:20])  # asked once per review

    segments = []
    real_segment = lean_module.segment
    monkeypatch.setattr(lean_module, "segment", lambda t: segments.append(t) or real_segment(t))
    k = min(chosen)
    shipped_model.classify_many([texts[k]], ids=[str(k)], explain=pick)
    assert len(segments) == 1  # explained from the row already computed, not scored again
