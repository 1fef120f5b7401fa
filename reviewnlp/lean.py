"""The compiled lean scorer: the fitted pipeline as plain dicts and arrays.

scikit-learn pays a fixed overhead of a few milliseconds per call (input validation, sparse
matrix assembly, one call per head), and importing it costs ~160 MB of memory. The same linear
model evaluated directly is much cheaper: n-grams are looked up in a ``dict`` (vocabulary ->
column), scaled by the IDF array, L2-normalized per block, and the 13 heads are one
gather-and-sum over the coefficient matrix, followed by the Platt formula ``expit(-(a * d + b))``.

One text is counted with ``dict`` lookups. A batch is counted with NumPy: every n-gram of the
batch becomes an integer key (:mod:`reviewnlp.ngrams`), looked up in a sorted key table of the
vocabulary, the 13 heads are one SciPy sparse product, and only segmentation and the lexicon scan
stay per text in Python.

The scorer is saved next to the pickled pipeline as ``lean.npz`` (arrays) and ``lean.json``
(vocabularies and settings), so a serving process loads it without unpickling anything and
without importing scikit-learn or SciPy.

``tests/model/test_lean.py`` checks that the probabilities equal the scikit-learn pipeline's to
1e-9 on thousands of real reviews.
"""
from __future__ import annotations

import json
from collections import Counter
from itertools import combinations, repeat
from pathlib import Path

import numpy as np

from . import lexicon, ngrams
from .model import HEADS
from .segment import segment

LEAN_ARRAYS = "lean.npz"
LEAN_JSON = "lean.json"
_BATCH_CHUNK = 512
_WORD_BASE = 1 << 20  # token ids are digits below 2**20: trigram keys stay below 2**60


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Block:
    """One TF-IDF vectorizer compiled to a vocabulary dict and an IDF array."""

    __slots__ = ("vocab", "idf", "min_n", "max_n", "sublinear", "offset", "kind", "_table", "_index")

    def __init__(self, vocab: dict[str, int], idf: np.ndarray, ngram_range, sublinear: bool, offset: int, kind: str):
        self.vocab = vocab
        self.idf = np.asarray(idf, dtype=np.float64)
        self.min_n, self.max_n = (int(x) for x in ngram_range)
        self.sublinear = bool(sublinear)
        self.offset = int(offset)
        self.kind = kind
        self._table = None  # built on first batch: a KeyTable, or False when keys cannot hold the block
        self._index = None

    @classmethod
    def from_vectorizer(cls, vec, offset: int, kind: str) -> _Block:
        if vec.norm != "l2" or not vec.use_idf:
            raise ValueError("lean scorer supports l2-normalized TF-IDF only")
        return cls(dict(vec.vocabulary_), vec.idf_, vec.ngram_range, vec.sublinear_tf, offset, kind)

    def batch_counts(self, texts: list[str], token_lists: list[list[str]] | None,
                     vectorize: bool = True) -> tuple[np.ndarray, ...]:
        """(row, column, count) arrays of the vocabulary n-grams of a whole batch.

        The n-grams are integer keys counted with NumPy (:mod:`reviewnlp.ngrams`): characters are
        digits of base ``2**21``, token ids digits of base ``2**20``. A block the keys cannot
        hold (n-grams of more than three items, or 2**20 tokens or more) is counted text by text, and
        so is every block when ``vectorize`` is false: for one text, dict lookups beat NumPy's
        per-call overhead, and the key tables (their build time and memory: ``memory_rss`` in
        ``python benchmarks/run.py``) are not needed by a server that scores one review per request.
        """
        if not vectorize:
            return self._counts_per_text(texts, token_lists)
        table = self._key_table()
        if table is None:
            return self._counts_per_text(texts, token_lists)
        if self.kind == "char":
            keys, docs = ngrams.char_ngram_keys(texts, self.min_n, self.max_n)
        else:
            index, base = self._index
            flat = [t for toks in token_lists for t in toks]
            digits = np.fromiter(map(index.get, flat, repeat(0)), dtype=np.int64, count=len(flat))
            lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
            keys, docs = ngrams.ngram_keys(digits, lengths, self.min_n, self.max_n, base)
        return table.count(keys, docs, len(texts))

    def _counts_per_text(self, texts, token_lists):
        rows: list[int] = []
        cols: list[int] = []
        cnts: list[int] = []
        for r, text in enumerate(texts):
            c = self.counts(text, token_lists[r] if token_lists is not None else [])
            rows.extend([r] * len(c))
            cols.extend(c)
            cnts.extend(c.values())
        return (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                np.asarray(cnts, dtype=np.int64))

    def _key_table(self):
        """The vocabulary as a :class:`ngrams.KeyTable`, built on first use (None: not representable)."""
        if self._table is None:
            # built into locals and assigned once, so that threads sharing the scorer never see half of it
            self._index, self._table = self._build_key_table()
        return self._table or None

    def _build_key_table(self):
        if self.max_n > ngrams.MAX_ORDER:
            return None, False
        terms = [""] * len(self.vocab)
        for t, j in self.vocab.items():
            terms[j] = t
        if self.kind == "char":
            return None, ngrams.KeyTable.from_terms(terms, ngrams.char_key)
        # A token may hold a space ("2 hours"), so a term "a b c" can be the bigram ("a b", "c") or
        # ("a", "b c") as well as a trigram: every split into min_n..max_n tokens gets a key, and all
        # of them point to the term's column (scikit-learn, too, only sees the joined string).
        # Token ids are digits of a fixed base, so keys are computed in one pass, without keeping
        # a list of every split until the number of tokens is known.
        base = _WORD_BASE
        index: dict[str, int] = {}
        setid = index.setdefault
        keys: list[int] = []
        cols: list[int] = []
        for j, term in enumerate(terms):
            if " " not in term:
                if self.min_n == 1:
                    keys.append(setid(term, len(index) + 1))
                    cols.append(j)
                continue
            pieces = term.split(" ")
            for n in range(self.min_n, min(self.max_n, len(pieces)) + 1):
                for cut in combinations(range(1, len(pieces)), n - 1):
                    bounds = (0, *cut, len(pieces))
                    key = 0
                    for lo, hi in zip(bounds, bounds[1:]):
                        key = key * base + setid(" ".join(pieces[lo:hi]), len(index) + 1)
                    keys.append(key)
                    cols.append(j)
        if len(index) >= base:
            return None, False
        keys = np.asarray(keys, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        return (index, base), ngrams.KeyTable(keys, cols, len(terms))

    def grams(self, text: str, tokens: list[str]):
        if self.kind == "word":
            if self.max_n == 1:
                return tokens
            out = list(tokens) if self.min_n == 1 else []
            n_tok = len(tokens)
            for n in range(max(self.min_n, 2), min(self.max_n, n_tok) + 1):
                for i in range(n_tok - n + 1):
                    out.append(" ".join(tokens[i:i + n]))
            return out
        text = ngrams.WHITESPACE_RUNS.sub(" ", text)
        n_txt = len(text)
        out = []
        for n in range(self.min_n, min(self.max_n + 1, n_txt + 1)):
            if n == 1:
                out.extend(text)
            else:
                out.extend([text[i:i + n] for i in range(n_txt - n + 1)])
        return out

    def counts(self, text: str, tokens: list[str]) -> Counter:
        return Counter([j for j in map(self.vocab.get, self.grams(text, tokens)) if j is not None])


class LeanScorer:
    """Probabilities of the 13 heads for normalized texts, without scikit-learn at inference."""

    def __init__(self, blocks, lex_offset, lex_weight, coef, intercept, calib_a, calib_b, feature_names):
        self.blocks = blocks
        self.lex_offset = int(lex_offset)
        self.lex_weight = float(lex_weight)
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.calib_a = np.asarray(calib_a, dtype=np.float64)
        self.calib_b = np.asarray(calib_b, dtype=np.float64)
        self.feature_names = feature_names
        self.needs_tokens = any(b.kind == "word" for b in blocks)
        self.thresholds: dict[str, float] | None = None

    # -- building and saving ------------------------------------------------------------------
    @classmethod
    def from_pipeline(cls, pipeline) -> LeanScorer:
        feats = pipeline.named_steps["features"]
        heads = pipeline.named_steps["heads"]
        blocks, offset = [], 0
        if feats.word_ is not None:
            blocks.append(_Block.from_vectorizer(feats.word_, offset, "word"))
            offset += len(feats.word_.vocabulary_)
        if feats.char_ is not None:
            blocks.append(_Block.from_vectorizer(feats.char_, offset, "char"))
            offset += len(feats.char_.vocabulary_)
        lex_weight = float(feats.lexicon_weight or 0.0)
        names = [str(n) for n in feats.feature_names_]
        if heads.coef_.shape[1] != len(HEADS):
            raise ValueError(f"model has {heads.coef_.shape[1]} heads, expected {len(HEADS)}")
        return cls(blocks, offset, lex_weight, heads.coef_, heads.intercept_, heads.calib_a_, heads.calib_b_, names)

    def save(self, directory: str | Path, thresholds: dict[str, float] | None = None) -> list[str]:
        """Write ``lean.npz`` and ``lean.json`` (with the decision thresholds) into ``directory``."""
        d = Path(directory)
        arrays = {"coef": self.coef, "intercept": self.intercept, "calib_a": self.calib_a, "calib_b": self.calib_b}
        spec = {"format": 1, "lex_offset": self.lex_offset, "lex_weight": self.lex_weight,
                "feature_names": list(self.feature_names), "blocks": [],
                "thresholds": {k: float(v) for k, v in (thresholds or {}).items()}}
        for i, b in enumerate(self.blocks):
            arrays[f"idf_{i}"] = b.idf
            terms = [""] * len(b.vocab)
            for t, j in b.vocab.items():
                terms[j] = t
            spec["blocks"].append({"kind": b.kind, "ngram_range": [b.min_n, b.max_n], "sublinear": b.sublinear,
                                   "offset": b.offset, "terms": terms})
        with open(d / LEAN_ARRAYS, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        (d / LEAN_JSON).write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        return [LEAN_ARRAYS, LEAN_JSON]

    @classmethod
    def load(cls, directory: str | Path) -> LeanScorer:
        """Read a scorer written by :meth:`save` (plain arrays and JSON: nothing is unpickled)."""
        d = Path(directory)
        spec = json.loads((d / LEAN_JSON).read_text(encoding="utf-8"))
        with np.load(d / LEAN_ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        blocks = [_Block({t: j for j, t in enumerate(b["terms"])}, arrays[f"idf_{i}"], b["ngram_range"],
                         b["sublinear"], b["offset"], b["kind"]) for i, b in enumerate(spec["blocks"])]
        scorer = cls(blocks, spec["lex_offset"], spec["lex_weight"], arrays["coef"], arrays["intercept"],
                     arrays["calib_a"], arrays["calib_b"], spec["feature_names"])
        scorer.thresholds = spec.get("thresholds") or None
        return scorer

    # -- scoring -----------------------------------------------------------------------------------
    def sparse_rows(self, texts: list[str], vectorize: bool = True):
        """The feature matrix of normalized texts as ``(row, column, value)`` arrays.

        The same matrix as the pipeline's ``TextFeatures.transform``: TF-IDF per n-gram block,
        L2-normalized per row and block, then the lexicon indicators.
        """
        n = len(texts)
        n_blocks = len(self.blocks)
        token_lists = [segment(t) for t in texts] if self.needs_tokens else None
        parts = [(k, *b.batch_counts(texts, token_lists, vectorize)) for k, b in enumerate(self.blocks)]
        parts = [p for p in parts if len(p[1])]
        rows, cols, vals = [], [], []
        if parts:
            row = np.concatenate([p[1] for p in parts])
            g = np.concatenate([p[1] * n_blocks + p[0] for p in parts]) if n_blocks > 1 else row
            v = np.concatenate([ngrams.tfidf_values(t, self.blocks[k].idf[c], self.blocks[k].sublinear)
                                for k, _, c, t in parts])
            norms = np.sqrt(np.bincount(g, weights=v * v, minlength=n * n_blocks))
            rows.append(row)
            cols.append(np.concatenate([p[2] + self.blocks[p[0]].offset for p in parts]))
            vals.append(v / norms[g])  # every stored value is > 0, so no norm is 0
        if self.lex_weight:
            lex = np.array([lexicon.lexicon_vector(t) for t in texts])
            r, c = np.nonzero(lex)
            rows.append(r)
            cols.append(c + self.lex_offset)
            vals.append(lex[r, c] * self.lex_weight)
        if not rows:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def _proba_from_decision(self, d: np.ndarray) -> np.ndarray:
        return _expit(-(self.calib_a * d + self.calib_b))

    def predict_one(self, text: str, explain: bool = False, top: int = 5):
        """Probabilities for one normalized text, and optionally the top contributing features per head."""
        row = self.features_one(text)
        probs = self.proba_row(row)
        return probs, (self.contributions(row, top) if explain else None)

    def features_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The feature row of one normalized text as ``(columns, values)``: its non-zero features."""
        _, idx, vals = self.sparse_rows([text], vectorize=False)
        return idx, vals

    def proba_row(self, row: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The 13 head probabilities of a row from :meth:`features_one`."""
        idx, vals = row
        return self._proba_from_decision(vals @ self.coef[idx] + self.intercept)

    def contributions(self, row: tuple[np.ndarray, np.ndarray], top: int = 5) -> dict[str, tuple]:
        """The ``top`` features pushing each head's probability up: ``{head: ((name, weight), ...)}``.

        A feature's weight is its value times its coefficient, signed so that positive raises the
        head's probability; the row comes from :meth:`features_one`, so explaining a review does
        not score it again.
        """
        idx, vals = row
        parts = self.coef[idx] * vals[:, None]
        contrib = {}
        for j, head in enumerate(HEADS):
            col = parts[:, j] * np.sign(-self.calib_a[j])  # positive = pushes the head's probability up
            order = np.argsort(-col)[:top]
            contrib[head] = tuple((self._name(idx[k]), float(col[k])) for k in order if col[k] > 0)
        return contrib

    def _name(self, j: int) -> str:
        name = self.feature_names[j]
        return name.split(":", 1)[1] if name[:2] in ("w:", "c:") else name

    def predict_proba_many(self, texts) -> np.ndarray:
        """Vectorized probabilities for many normalized texts.

        Python does only what must be per text (segmenting, n-gram lookups, lexicon scan); TF-IDF
        weighting, block normalization and the 13 dot products run as whole-chunk NumPy operations.
        """
        texts = list(texts)
        if len(texts) == 1:
            return self.proba_row(self.features_one(texts[0]))[None, :]
        out = np.empty((len(texts), len(self.intercept)))
        for s in range(0, len(texts), _BATCH_CHUNK):
            out[s:s + _BATCH_CHUNK] = self._chunk(texts[s:s + _BATCH_CHUNK])
        return out

    def _chunk(self, texts: list[str]) -> np.ndarray:
        # SciPy's sparse product does the 13 dot products in one C pass (5x faster than gathering
        # the coefficient rows in NumPy). Only batches import it: a server scoring one review per
        # request, and every single-review call, keep SciPy out of the process.
        import scipy.sparse as sp

        row, col, val = self.sparse_rows(texts)
        X = sp.csr_matrix((val, (row, col)), shape=(len(texts), self.coef.shape[0]))
        return self._proba_from_decision(np.asarray(X @ self.coef) + self.intercept)
