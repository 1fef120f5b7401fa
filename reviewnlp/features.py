"""Feature extraction: word n-grams over the segmenter, character n-grams, lexicon indicators.

:class:`TextFeatures` is a scikit-learn transformer over *normalized* texts. It keeps no
``jieba.Tokenizer``: the word vectorizer's tokenizer is the module-level function
:func:`tokenize`, which uses the process-wide cached tokenizer of :mod:`reviewnlp.segment`.

>>> tf = TextFeatures(word_max_features=50, char_max_features=50, min_df=1).fit(["快递太慢了", "great product"])
>>> tf.transform(["快递太慢"]).shape[1] == tf.n_features_out_
True
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from . import lexicon, ngrams
from .segment import segment


def tokenize(text: str) -> list[str]:
    """Tokenizer used by the word vectorizer (picklable: a module-level function)."""
    return segment(text)


def _identity(text: str) -> str:
    return text


class TextFeatures(BaseEstimator, TransformerMixin):
    """Word (1..``word_ngram``) + char (1..``char_ngram``) TF-IDF and lexicon indicator features.

    Parameters
    ----------
    word_ngram, char_ngram : int
        Highest n-gram order of the word and character vectorizers (0 disables one).
    word_max_features, char_max_features : int
        Vocabulary caps (most frequent first); they bound the artifact size.
    min_df : int
        Minimum document frequency of a kept n-gram.
    sublinear_tf : bool
        Use ``1 + log(tf)``.
    lexicon_weight : float
        Value of a lexicon indicator (0 disables the lexicon block).
    """

    def __init__(self, word_ngram=2, char_ngram=3, word_max_features=40000, char_max_features=60000,
                 min_df=2, sublinear_tf=True, lexicon_weight=1.0):
        self.word_ngram = word_ngram
        self.char_ngram = char_ngram
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.lexicon_weight = lexicon_weight

    def _word_analysis(self) -> dict:
        """How the word block cuts and counts n-grams (shared by its CountVectorizer and TfidfVectorizer)."""
        return dict(tokenizer=tokenize, preprocessor=_identity, token_pattern=None, lowercase=False,
                    ngram_range=(1, self.word_ngram), min_df=self.min_df, dtype=np.float64)

    def _word_vectorizer(self):
        return TfidfVectorizer(**self._word_analysis(), max_features=self.word_max_features,
                               sublinear_tf=self.sublinear_tf)

    def _char_vectorizer(self):
        return TfidfVectorizer(analyzer="char", preprocessor=_identity, lowercase=False,
                               ngram_range=(1, self.char_ngram), max_features=self.char_max_features,
                               min_df=self.min_df, sublinear_tf=self.sublinear_tf, dtype=np.float64)

    def fit(self, X, y=None):
        """Fit the vocabularies and IDF weights (see :meth:`fit_transform`)."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit the vocabularies and return the training matrix, in one pass over the texts.

        The word block is counted by scikit-learn's ``CountVectorizer`` (each text is segmented
        once); the character block counts its n-grams as integer keys with NumPy
        (:mod:`reviewnlp.ngrams`), faster than ``TfidfVectorizer`` (``benchmarks/bench_training.py``).
        Each block then sets a ``TfidfVectorizer`` to the fitted state, so :meth:`transform` is
        scikit-learn's. Vocabularies, IDF weights and matrices are those of
        ``TfidfVectorizer.fit_transform`` (``tests/model/test_ngrams.py``) with one deliberate
        difference: when ``max_features`` cuts through terms of equal corpus frequency, the
        alphabetically first are kept. scikit-learn breaks those ties with an unstable
        ``argsort`` whose order depends on the CPU's sort routine, so the same data and seed gave
        different vocabularies on different machines.
        """
        texts = _as_texts(X)
        n = len(texts)
        blocks = []
        self.word_ = self.char_ = None
        if self.word_ngram:
            # counts of every term with df >= min_df; the cap is _select's, not scikit-learn's
            counter = CountVectorizer(**self._word_analysis())
            counts = counter.fit_transform(texts).tocoo()
            terms = counter.get_feature_names_out()
            keep = _select(np.bincount(counts.col, weights=counts.data, minlength=len(terms)), self.word_max_features)
            idf, block = _tfidf(counts.row, counts.col, counts.data, keep, len(terms), n, self.sublinear_tf)
            self.word_ = _fitted(self._word_vectorizer(), list(terms[keep]), idf)
            blocks.append(block)
        if self.char_ngram:
            terms, idf, block = _fit_char_block(texts, self.char_ngram, self.min_df, self.char_max_features,
                                                self.sublinear_tf)
            self.char_ = _fitted(self._char_vectorizer(), terms, idf)
            blocks.append(block)
        names = []
        if self.word_ is not None:
            names += ["w:" + t for t in self.word_.get_feature_names_out()]
        if self.char_ is not None:
            names += ["c:" + t for t in self.char_.get_feature_names_out()]
        if self.lexicon_weight:
            names += list(lexicon.FEATURE_NAMES)
            blocks.append(self._lexicon_block(texts))
        self.feature_names_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((n, 0))

    def transform(self, X):
        check_is_fitted(self, "feature_names_")
        texts = _as_texts(X)
        blocks = []
        if self.word_ is not None:
            blocks.append(self.word_.transform(texts))
        if self.char_ is not None:
            blocks.append(self.char_.transform(texts))
        if self.lexicon_weight:
            blocks.append(self._lexicon_block(texts))
        return sp.hstack(blocks, format="csr")

    def _lexicon_block(self, texts):
        lex = np.vstack([lexicon.lexicon_vector(t) for t in texts]) if texts else np.zeros((0, lexicon.N_FEATURES))
        return sp.csr_matrix(lex * self.lexicon_weight)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_")
        return self.feature_names_

def _fit_char_block(texts, max_n, min_df, max_features, sublinear):
    """Vocabulary (alphabetical), IDF and TF-IDF matrix of the character 1..``max_n``-grams.

    Terms in fewer than ``min_df`` texts are dropped and the cap is :func:`_select`'s.
    """
    n_docs = len(texts)
    if n_docs < min_df:
        raise ValueError("max_df corresponds to < documents than min_df")
    keys, docs = ngrams.char_ngram_keys(texts, 1, max_n)
    uniq, inverse, tf = np.unique(keys, return_inverse=True, return_counts=True)
    rows, term, counts = ngrams.count_pairs(docs, inverse, len(uniq))
    df = np.bincount(term, minlength=len(uniq))
    cand = np.flatnonzero(df >= min_df)
    alpha = cand[np.argsort(ngrams.char_sort_keys(uniq[cand], max_n), kind="stable")]
    alpha = alpha[_select(tf[alpha], max_features)]
    idf, matrix = _tfidf(rows, term, counts, alpha, len(uniq), n_docs, sublinear)
    return ngrams.decode_char_keys(uniq[alpha]), idf, matrix


def _select(tf, max_features):
    """Columns kept under the ``max_features`` cap: the most frequent in the corpus.

    ``tf`` is per term, in alphabetical order; ties at the cut keep the alphabetically
    first terms (a stable sort), so the vocabulary does not depend on the machine.

    >>> _select(np.array([5, 2, 2, 9]), 3).tolist()
    [0, 1, 3]
    """
    if len(tf) == 0:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    if max_features is None or len(tf) <= max_features:
        return np.arange(len(tf))
    return np.sort(np.argsort(-np.asarray(tf, dtype=np.float64), kind="stable")[:max_features])


def _tfidf(rows, terms, counts, kept, n_terms, n_docs, sublinear):
    """IDF and L2-normalized TF-IDF CSR matrix of (row, term, count) triples, as ``TfidfTransformer``.

    Terms are numbered ``0 .. n_terms - 1``; column ``i`` is term ``kept[i]``, other terms are dropped.
    ``idf = ln((1 + n) / (1 + df)) + 1``; with ``sublinear``, ``tf = 1 + ln(count)``.
    """
    n_cols = len(kept)
    col_of = np.full(n_terms, -1, dtype=np.int64)
    col_of[kept] = np.arange(n_cols)
    cols = col_of[np.asarray(terms, dtype=np.int64)]
    hit = cols >= 0
    rows, cols, counts = np.asarray(rows, dtype=np.int64)[hit], cols[hit], np.asarray(counts)[hit]
    df = np.bincount(cols, minlength=n_cols)
    idf = np.log((n_docs + 1.0) / (df + 1.0)) + 1.0
    vals = ngrams.tfidf_values(counts, idf[cols], sublinear)
    norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=n_docs))
    vals = vals / norms[rows]
    order = np.lexsort((cols, rows))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_docs))))
    return idf, sp.csr_matrix((vals[order], cols[order], indptr), shape=(n_docs, n_cols))


def _fitted(vectorizer, terms, idf):
    """A ``TfidfVectorizer`` in the fitted state for a given vocabulary (column order) and IDF."""
    vectorizer.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vectorizer.idf_ = idf
    return vectorizer


def _as_texts(X) -> list[str]:
    if isinstance(X, str):
        raise TypeError("TextFeatures expects a list of texts, got a single str")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} must be str, got {type(t).__name__}")
    return texts
