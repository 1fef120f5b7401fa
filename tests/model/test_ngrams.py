"""TextFeatures' fit gives scikit-learn's vocabularies, IDF weights and matrices exactly.

Real reviews from the corpora and the gold train split; each comparison could fail on one
missing n-gram, one tie broken differently at the ``max_features`` cap (ours: alphabetically
first, on every machine), or one weight off.
"""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from reviewnlp import ngrams
from reviewnlp.features import TextFeatures, _identity, tokenize
from reviewnlp.normalize import normalize
from tests.conftest import GOLD, real_reviews


def _sklearn_char(texts, max_n, max_features, min_df):
    vec = TfidfVectorizer(analyzer="char", preprocessor=lambda t: t, lowercase=False, ngram_range=(1, max_n),
                          max_features=max_features, min_df=min_df, sublinear_tf=True, dtype=np.float64)
    return vec, vec.fit_transform(texts)


@pytest.fixture(scope="module")
def texts():
    out = [normalize(t) for t in real_reviews(1500)]
    with open(GOLD / "train.jsonl", encoding="utf-8") as fh:
        out += [normalize(json.loads(line)["text"]) for line in fh][:1500]
    return out


def _expected_vocabulary(vec_uncapped, texts, max_features):
    """scikit-learn's vocabulary without a cap, cut to the ``max_features`` most frequent terms,
    ties at the cut to the alphabetically first (what ``TextFeatures`` promises)."""
    counts = np.asarray(CountVectorizer(vocabulary=vec_uncapped.get_feature_names_out(),
                                        analyzer=vec_uncapped.analyzer, tokenizer=vec_uncapped.tokenizer,
                                        preprocessor=vec_uncapped.preprocessor, token_pattern=None,
                                        lowercase=False, ngram_range=vec_uncapped.ngram_range)
                        .transform(texts).sum(axis=0)).ravel()
    terms = list(vec_uncapped.get_feature_names_out())
    if max_features is None or len(terms) <= max_features:
        return terms
    ranked = sorted(range(len(terms)), key=lambda i: (-counts[i], terms[i]))[:max_features]
    return sorted(terms[i] for i in ranked)


def _reference(kind, texts, n, max_features, min_df):
    """scikit-learn's TfidfVectorizer on the expected vocabulary (a fixed vocabulary keeps its df and IDF)."""
    common = dict(preprocessor=_identity, lowercase=False, ngram_range=(1, n), sublinear_tf=True, dtype=np.float64)
    if kind == "char":
        common["analyzer"] = "char"
    else:
        common.update(tokenizer=tokenize, token_pattern=None)
    uncapped = TfidfVectorizer(min_df=min_df, **common).fit(texts)
    vocab = _expected_vocabulary(uncapped, texts, max_features)
    vec = TfidfVectorizer(vocabulary=vocab, **common)
    return vec, vec.fit_transform(texts)


@pytest.mark.parametrize("kind", ["char", "word"])
@pytest.mark.parametrize("max_features,min_df", [(None, 1), (None, 2), (5000, 2), (20000, 1)])
def test_blocks_equal_tfidfvectorizer(texts, kind, max_features, min_df):
    feats = TextFeatures(word_ngram=2 if kind == "word" else 0, char_ngram=3 if kind == "char" else 0,
                         word_max_features=max_features, char_max_features=max_features, min_df=min_df,
                         lexicon_weight=0)
    ours = feats.fit_transform(texts)
    vec, theirs = _reference(kind, texts, 2 if kind == "word" else 3, max_features, min_df)
    fitted = feats.char_ if kind == "char" else feats.word_
    assert fitted.vocabulary_ == vec.vocabulary_
    np.testing.assert_allclose(fitted.idf_, vec.idf_, rtol=1e-15)
    assert ours.shape == theirs.shape
    assert abs(ours - theirs).max() < 1e-12
    if max_features is None:  # no cap, no ties: scikit-learn's own fit gives the same vocabulary
        plain = TfidfVectorizer(**{k: v for k, v in vec.get_params().items() if k != "vocabulary"},
                                ).set_params(min_df=min_df).fit(texts)
        assert plain.vocabulary_ == fitted.vocabulary_
    # the fitted state is scikit-learn's own: transform of new texts agrees too
    new = [normalize(t) for t in real_reviews(300)[::-1]]
    assert abs(feats.transform(new) - vec.transform(new)).max() < 1e-12


def test_vocabulary_does_not_depend_on_the_order_of_the_texts(texts):
    """Ties at the max_features cut are broken by the terms, never by where they were seen first."""
    params = dict(word_max_features=3000, char_max_features=4000)
    a = TextFeatures(**params).fit(texts)
    b = TextFeatures(**params).fit(texts[::-1])
    assert a.word_.vocabulary_ == b.word_.vocabulary_
    assert a.char_.vocabulary_ == b.char_.vocabulary_


def test_fit_transform_equals_fit_then_transform(texts):
    feats = TextFeatures(word_max_features=8000, char_max_features=12000)
    a = feats.fit_transform(texts)
    b = TextFeatures(word_max_features=8000, char_max_features=12000).fit(texts).transform(texts)
    assert sp.issparse(a) and a.shape == b.shape
    assert abs(a - b).max() < 1e-12
    assert len(feats.get_feature_names_out()) == a.shape[1]


def test_empty_texts_and_single_characters():
    feats = TextFeatures(word_ngram=0, char_ngram=3, min_df=1, lexicon_weight=0)
    docs = ["", "a", "ab  c", "", "好"]
    ours = feats.fit_transform(docs)
    vec, theirs = _sklearn_char(docs, 3, None, 1)
    assert feats.char_.vocabulary_ == vec.vocabulary_
    assert abs(ours - theirs).max() < 1e-12


def test_min_df_above_the_number_of_documents_is_scikit_learns_error():
    with pytest.raises(ValueError, match="min_df"):
        TextFeatures(word_ngram=0, min_df=5, lexicon_weight=0).fit(["ab", "cd"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=6))
def test_char_keys_round_trip_any_unicode(docs):
    """Every character n-gram of any text (astral planes, lone surrogates, whitespace runs) decodes back."""
    keys, doc = ngrams.char_ngram_keys(docs, 1, 3)
    decoded = ngrams.decode_char_keys(keys)
    expected = []
    analyzer = TfidfVectorizer(analyzer="char", lowercase=False, ngram_range=(1, 3)).build_analyzer()
    for i, d in enumerate(docs):
        expected += [(i, g) for g in analyzer(d)]
    assert sorted(zip(doc.tolist(), decoded)) == sorted(expected)
    order = np.argsort(ngrams.char_sort_keys(keys, 3), kind="stable")
    assert [decoded[i] for i in order] == sorted(decoded)
