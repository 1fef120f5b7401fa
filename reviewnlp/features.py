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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from . import lexicon
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

    def _word_vectorizer(self):
        return TfidfVectorizer(tokenizer=tokenize, preprocessor=_identity, token_pattern=None, lowercase=False,
                               ngram_range=(1, self.word_ngram), max_features=self.word_max_features,
                               min_df=self.min_df, sublinear_tf=self.sublinear_tf, dtype=np.float64)

    def _char_vectorizer(self):
        return TfidfVectorizer(analyzer="char", preprocessor=_identity, lowercase=False,
                               ngram_range=(1, self.char_ngram), max_features=self.char_max_features,
                               min_df=self.min_df, sublinear_tf=self.sublinear_tf, dtype=np.float64)

    def fit(self, X, y=None):
        texts = _as_texts(X)
        self.word_ = self._word_vectorizer().fit(texts) if self.word_ngram else None
        self.char_ = self._char_vectorizer().fit(texts) if self.char_ngram else None
        names = []
        if self.word_ is not None:
            names += ["w:" + t for t in self.word_.get_feature_names_out()]
        if self.char_ is not None:
            names += ["c:" + t for t in self.char_.get_feature_names_out()]
        if self.lexicon_weight:
            names += list(lexicon.FEATURE_NAMES)
        self.feature_names_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def transform(self, X):
        check_is_fitted(self, "feature_names_")
        texts = _as_texts(X)
        blocks = []
        if self.word_ is not None:
            blocks.append(self.word_.transform(texts))
        if self.char_ is not None:
            blocks.append(self.char_.transform(texts))
        if self.lexicon_weight:
            lex = np.vstack([lexicon.lexicon_vector(t) for t in texts]) if texts else np.zeros((0, lexicon.N_FEATURES))
            blocks.append(sp.csr_matrix(lex * self.lexicon_weight))
        return sp.hstack(blocks, format="csr")

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_")
        return self.feature_names_


def _as_texts(X) -> list[str]:
    if isinstance(X, str):
        raise TypeError("TextFeatures expects a list of texts, got a single str")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} must be str, got {type(t).__name__}")
    return texts
