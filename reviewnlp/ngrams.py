"""Vectorized n-gram counting: n-grams as integer keys, counted with NumPy over a whole batch.

scikit-learn's vectorizers build every n-gram as a Python string and look it up in a dict, one
at a time. Here an n-gram is an integer: its items (characters, or token ids) are the digits of
a number in base ``base`` (``2**21`` for characters; the lean scorer uses ``2**20`` for token
ids). Digits start at 1, so an n-gram never shares a key with a shorter one. A batch of texts
becomes one array of digits; the keys of all n-grams of all texts are a few whole-array
operations, and counting them is a sort. Only NumPy is needed: the serving path imports neither
scikit-learn nor SciPy.

The character n-grams are exactly those of scikit-learn's ``analyzer="char"`` (after its
``\\s\\s+ -> " "`` collapsing), and word n-grams those of its word analyzer over a token list
(``tests/model/test_ngrams.py``, ``tests/model/test_lean.py``).

>>> keys, docs = char_ngram_keys(["abc", "b"], 1, 2)
>>> sorted(decode_char_keys(keys[docs == 0]))
['a', 'ab', 'b', 'bc', 'c']
>>> table = KeyTable.from_terms(["ab", "b"], char_key)
>>> rows, cols, counts = table.count(keys, docs, 2)
>>> rows.tolist(), cols.tolist(), counts.tolist()
([0, 0, 1], [0, 1, 1], [1, 1, 1])
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

WHITESPACE_RUNS = re.compile(r"\s\s+")  # scikit-learn's char analyzer turns these into one space
CHAR_BITS = 21  # every code point + 1 fits in 21 bits
CHAR_BASE = 1 << CHAR_BITS
MAX_ORDER = 3  # 3 * 21 bits < 63: keys stay int64


def _check_range(min_n: int, max_n: int) -> None:
    if not 1 <= min_n <= max_n <= MAX_ORDER:
        raise ValueError(f"n-gram range must satisfy 1 <= min_n <= max_n <= {MAX_ORDER}, got ({min_n}, {max_n})")


def char_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points + 1 of all texts (whitespace runs collapsed as scikit-learn does) and their lengths.

    >>> codes, lengths = char_codes(["a  b", "c"])
    >>> (codes - 1).tolist(), lengths.tolist()
    ([97, 32, 98, 99], [3, 1])
    """
    collapsed = [WHITESPACE_RUNS.sub(" ", t) for t in texts]
    lengths = np.fromiter(map(len, collapsed), dtype=np.int64, count=len(collapsed))
    raw = "".join(collapsed).encode("utf-32-le", "surrogatepass")
    codes = np.frombuffer(raw, dtype=np.uint32).astype(np.int64)
    codes += 1
    return codes, lengths


def ngram_keys(digits: np.ndarray, lengths: np.ndarray, min_n: int, max_n: int,
               base: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and document numbers of every n-gram (``min_n <= n <= max_n``) of concatenated sequences.

    ``digits`` holds the items of all sequences one after another (``lengths`` says where each
    ends); items are ``1 .. base - 1``, and 0 marks an unknown item: n-grams that contain one are
    dropped. An n-gram never spans two sequences.

    >>> keys, docs = ngram_keys(np.array([1, 2, 3]), np.array([2, 1]), 1, 2, 10)
    >>> sorted(zip(docs.tolist(), keys.tolist()))
    [(0, 1), (0, 2), (0, 12), (1, 3)]
    """
    _check_range(min_n, max_n)
    total = len(digits)
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    room = np.repeat(np.cumsum(lengths), lengths) - np.arange(total, dtype=np.int64)  # items left in the doc
    unknown = digits == 0
    any_unknown = unknown.any()
    key = np.zeros(total, dtype=np.int64)
    bad = np.zeros(total, dtype=bool)
    out_keys, out_docs = [], []
    for n in range(1, max_n + 1):
        m = total - n + 1
        if m <= 0:
            break
        key = key[:m] * base + digits[n - 1:]
        if any_unknown:
            bad = bad[:m] | unknown[n - 1:]
        if n >= min_n:
            ok = room[:m] >= n
            if any_unknown:
                ok &= ~bad
            out_keys.append(key[ok])
            out_docs.append(doc[:m][ok])
    return np.concatenate(out_keys), np.concatenate(out_docs)


def char_ngram_keys(texts: Sequence[str], min_n: int, max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and document numbers of the character n-grams of ``texts`` (scikit-learn's ``analyzer="char"``)."""
    codes, lengths = char_codes(texts)
    return ngram_keys(codes, lengths, min_n, max_n, CHAR_BASE)


def char_key(term: str) -> int:
    """The key of one character n-gram.

    >>> char_key("a") == ord("a") + 1
    True
    """
    key = 0
    for ch in term:
        key = key * CHAR_BASE + ord(ch) + 1
    return key


def decode_char_keys(keys: np.ndarray) -> list[str]:
    """The strings of character n-gram keys (inverse of :func:`char_key`)."""
    out = []
    for k in keys.tolist():
        chars = []
        while k:
            chars.append(chr((k & (CHAR_BASE - 1)) - 1))
            k >>= CHAR_BITS
        out.append("".join(reversed(chars)))
    return out


def char_sort_keys(keys: np.ndarray, max_n: int) -> np.ndarray:
    """Integers that sort character n-gram keys the way Python sorts their strings.

    Left-aligning the digits (a missing character is 0, below every code point + 1) turns
    lexicographic string order into integer order.

    >>> ks = np.array([char_key(s) for s in ["b", "ab", "a", "ba"]])
    >>> decode_char_keys(ks[np.argsort(char_sort_keys(ks, 2))])
    ['a', 'ab', 'b', 'ba']
    """
    out = keys.copy()
    for n in range(1, max_n):
        short = out < CHAR_BASE ** n
        out[short] *= CHAR_BASE  # shorter than n + 1 items: shift one more digit
    return out


class KeyTable:
    """A vocabulary as sorted integer keys -> column numbers; :meth:`count` counts a batch."""

    __slots__ = ("keys", "cols", "n_cols")

    def __init__(self, keys: np.ndarray, cols: np.ndarray, n_cols: int):
        order = np.argsort(keys, kind="stable")
        self.keys = np.ascontiguousarray(keys[order], dtype=np.int64)
        self.cols = np.ascontiguousarray(cols[order], dtype=np.int64)
        self.n_cols = int(n_cols)
        if len(self.keys) > 1 and (np.diff(self.keys) == 0).any():
            raise ValueError("vocabulary has two terms with the same key")

    @classmethod
    def from_terms(cls, terms: Sequence[str], key: Callable[[str], int]) -> KeyTable:
        """A table for ``terms``: column ``i`` is ``terms[i]``, found by ``key(terms[i])``."""
        keys = np.fromiter(map(key, terms), dtype=np.int64, count=len(terms))
        return cls(keys, np.arange(len(terms), dtype=np.int64), len(terms))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Column of each key, -1 where the key is not in the vocabulary."""
        if len(self.keys) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        if len(keys) > 4096:
            # look up each distinct key once, in sorted order (cache-friendly binary searches)
            uniq, inverse = np.unique(keys, return_inverse=True)
            return self._search(uniq)[inverse]
        return self._search(keys)

    def _search(self, keys: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.keys, keys)
        np.minimum(pos, len(self.keys) - 1, out=pos)
        return np.where(self.keys[pos] == keys, self.cols[pos], -1)

    def count(self, keys: np.ndarray, docs: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, count) of every vocabulary n-gram present, sorted by row then column."""
        cols = self.lookup(keys)
        hit = cols >= 0
        return count_pairs(docs[hit], cols[hit], self.n_cols)


def count_pairs(rows: np.ndarray, cols: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, count) of the distinct (row, column) pairs, sorted by row then column.

    >>> [a.tolist() for a in count_pairs(np.array([1, 0, 1]), np.array([2, 5, 2]), 6)]
    [[0, 1], [5, 2], [1, 2]]
    """
    pair = np.asarray(rows, dtype=np.int64) * n_cols + np.asarray(cols, dtype=np.int64)
    if len(pair) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    pair.sort()
    starts = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
    counts = np.diff(np.append(starts, len(pair)))
    uniq = pair[starts]
    return uniq // n_cols, uniq % n_cols, counts


def tfidf_values(counts: np.ndarray, idf_of_cols: np.ndarray, sublinear: bool) -> np.ndarray:
    """TF-IDF values before row normalization, as ``TfidfTransformer``: ``(1 + ln count) * idf`` when sublinear.

    >>> tfidf_values(np.array([1, 2]), np.array([1.0, 2.0]), sublinear=False).tolist()
    [1.0, 4.0]
    """
    tf = np.asarray(counts, dtype=np.float64)
    return (np.log(tf) + 1.0 if sublinear else tf) * idf_of_cols
