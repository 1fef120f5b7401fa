"""Seller-report statistics over classified reviews: pure functions from a DataFrame to tables.

:func:`prepare` turns classified rows (``reviewnlp classify`` output, any format) into a
standard frame; every other function takes that frame and returns a small
:class:`pandas.DataFrame`:

- :func:`complaint_mix` - complaint share and cause mix per product or category;
- :func:`weekly` - the same per ISO week (``2024-W05``);
- :func:`severity_distribution`;
- :func:`top_terms` - terms typical of each cause's complaints (weighted log-odds with an
  informative Dirichlet prior, Monroe et al. 2008, against the other complaints);
- :func:`spike_alerts` - products whose complaint rate in a week jumped against their own history
  (one-sided binomial test and z-score, with minimum support);
- :func:`contradictions` - star ratings the text contradicts;
- :func:`escalated` - the escalated reviews, most urgent first.

Cause mix: a complaint can have several causes, so ``cause_<name>`` is the share of complaints
that mention the cause and the shares can sum to more than 1.

Examples
--------
>>> df = prepare(pd.DataFrame({
...     "id": ["1", "2", "3", "4"], "category": ["书籍", "书籍", "水果", "水果"],
...     "severity": ["none", "medium", "high", "none"], "causes": ["", "logistics", "product_quality", ""],
...     "flags": ["", "", "safety", ""], "escalate": ["False", "False", "True", "False"]}))
>>> complaint_mix(df, "category")[["category", "reviews", "complaints", "complaint_share"]].values.tolist()
[['书籍', 2, 1, 0.5], ['水果', 2, 1, 0.5]]
>>> escalated(df)["id"].tolist()
['3']
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..labels import CAUSES, FLAGS, SEVERITIES

__all__ = [
    "ReportColumns",
    "prepare",
    "is_classified",
    "complaint_mix",
    "weekly",
    "severity_distribution",
    "top_terms",
    "spike_alerts",
    "contradictions",
    "escalated",
    "iso_week",
    "summary",
    "binomial_tail",
]

logger = logging.getLogger(__name__)

#: Columns that mark a file as ``reviewnlp classify`` output.
CLASSIFIED_MARKERS: tuple[str, ...] = ("severity", "causes", "flags", "escalate", "p_sev_none")
_HIGH = SEVERITIES.index("high")


@dataclass(frozen=True)
class ReportColumns:
    """Names of the input columns the report reads; a missing optional column skips its sections."""

    text: str = "text"
    id: str = "id"
    product: str = "product"
    category: str = "category"
    date: str = "date"
    star: str = "star"


def is_classified(columns: Iterable[str]) -> bool:
    """Whether a file with these columns is already ``reviewnlp classify`` output.

    >>> is_classified(["id", "text", "severity", "causes", "flags", "escalate", "p_sev_none"])
    True
    >>> is_classified(["id", "text", "category"])
    False
    """
    cols = set(columns)
    return all(c in cols for c in CLASSIFIED_MARKERS)


# --------------------------------------------------------------------------------------------------
# Preparing the frame
# --------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split(";") if v)
    return tuple(str(v) for v in value)


def _as_bool(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series
    return series.map(lambda v: str(v).strip().lower() in ("true", "1", "yes")).astype(bool)


def parse_dates(series: pd.Series) -> pd.Series:
    """Dates from ISO strings or epoch seconds / milliseconds, as UTC timestamps (NaT when unparseable).

    >>> parse_dates(pd.Series(["2024-05-01", "1714521600", "1714521600000", "later"])).dt.strftime("%F").tolist()
    ['2024-05-01', '2024-05-01', '2024-05-01', nan]
    """
    utc = "datetime64[ns, UTC]"
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.to_datetime(series, utc=True).astype(utc)
    numeric = pd.to_numeric(series, errors="coerce")
    text = series.astype("string")
    out = pd.to_datetime(text.where(numeric.isna()), errors="coerce", utc=True, format="mixed").astype(utc)
    ms = pd.to_datetime(numeric.where(numeric > 1e11), unit="ms", utc=True, errors="coerce").astype(utc)
    sec = pd.to_datetime(numeric.where(numeric <= 1e11), unit="s", utc=True, errors="coerce").astype(utc)
    return out.where(out.notna(), ms).where(lambda d: d.notna(), sec)


def iso_week(dates: pd.Series) -> pd.Series:
    """ISO week labels ``YYYY-Www`` (``None`` for missing dates).

    >>> iso_week(pd.Series(pd.to_datetime(["2024-01-01", "2023-01-01"]))).tolist()
    ['2024-W01', '2022-W52']
    """
    iso = dates.dt.isocalendar()
    labels = iso["year"].astype("string") + "-W" + iso["week"].astype("string").str.zfill(2)
    return labels.astype(object).where(dates.notna(), None)


def normalize_stars(series: pd.Series) -> pd.Series:
    """Star ratings on a 1-5 scale; ratings given as 10-50 (Meituan/Dianping) are divided by 10.

    >>> normalize_stars(pd.Series(["5.0", "1", None])).tolist()
    [5.0, 1.0, nan]
    >>> normalize_stars(pd.Series([10, 50, 30])).tolist()
    [1.0, 5.0, 3.0]
    """
    stars = pd.to_numeric(series, errors="coerce").astype(float)
    if stars.max(skipna=True) > 5 and stars.max(skipna=True) <= 50:
        stars = stars / 10.0
    return stars


def prepare(df: pd.DataFrame, columns: ReportColumns = ReportColumns()) -> pd.DataFrame:
    """A standard frame from classified rows (lists from lists or ``;``-strings, bools from strings).

    The result has ``id``, ``severity``, ``sev_rank``, ``complaint``, ``causes``, ``flags``,
    ``escalate`` and, when the input has them, ``text``, ``product``, ``category``, ``date``,
    ``week``, ``star``, ``queue``, ``priority``, ``due_at``, ``confidence``.
    """
    out = pd.DataFrame(index=df.index)
    out["id"] = df[columns.id].astype(str) if columns.id in df else pd.Series(range(1, len(df) + 1),
                                                                              index=df.index).astype(str)
    out["severity"] = df["severity"].astype(object).where(df["severity"].notna(), "none")
    out["sev_rank"] = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(0).astype(int)
    out["causes"] = df["causes"].map(_as_list) if "causes" in df else [()] * len(df)
    out["flags"] = df["flags"].map(_as_list) if "flags" in df else [()] * len(df)
    out["complaint"] = _as_bool(df["complaint"]) if "complaint" in df else out["sev_rank"] > 0
    out["escalate"] = _as_bool(df["escalate"]) if "escalate" in df else False
    for name in ("text", "product", "category"):
        col = getattr(columns, name)
        if col in df:
            out[name] = df[col].astype(object).where(df[col].notna(), None)
            if name != "text":
                out[name] = out[name].map(lambda v: None if v is None or str(v).strip() == "" else str(v))
    if columns.date in df:
        out["date"] = parse_dates(df[columns.date])
        out["week"] = iso_week(out["date"])
    if columns.star in df:
        out["star"] = normalize_stars(df[columns.star])
    for name in ("queue", "due_at", "primary_cause"):
        if name in df:
            out[name] = df[name].astype(object).where(df[name].notna(), None)
    if "priority" in df:
        out["priority"] = pd.to_numeric(df["priority"], errors="coerce")
    if "confidence" in df:
        out["confidence"] = pd.to_numeric(df["confidence"], errors="coerce")
    return out


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def _cause_indicators(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({f"cause_{c}": df["causes"].map(lambda cs, c=c: c in cs) for c in CAUSES}, index=df.index)


def _mix(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    ind = _cause_indicators(df).mul(df["complaint"].astype(int), axis=0).astype(bool)
    work = pd.concat([df[list(keys)], df["complaint"].rename("complaints"), ind], axis=1)
    g = work.groupby(list(keys), sort=False, dropna=True)
    out = g.agg(reviews=("complaints", "size"), complaints=("complaints", "sum"),
                **{c: (c, "sum") for c in ind.columns})
    out["complaint_share"] = out["complaints"] / out["reviews"]
    for c in ind.columns:
        out[c] = np.where(out["complaints"] > 0, out[c] / out["complaints"].where(out["complaints"] > 0, 1), 0.0)
    out = out.reset_index()
    out["complaints"] = out["complaints"].astype(int)
    return out[[*keys, "reviews", "complaints", "complaint_share", *ind.columns]]


def complaint_mix(df: pd.DataFrame, by: str, min_reviews: int = 1) -> pd.DataFrame:
    """Reviews, complaints, complaint share and cause mix per value of ``by``, most reviewed first.

    ``cause_<name>`` is the share of the group's complaints that mention the cause.
    """
    out = _mix(df[df[by].notna()], [by])
    out = out[out["reviews"] >= min_reviews]
    return out.sort_values(["reviews", by], ascending=[False, True], kind="stable").reset_index(drop=True)


def weekly(df: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Reviews, complaint share and cause mix per ISO week (and per ``by`` when given), oldest first."""
    keys = ["week"] if by is None else [by, "week"]
    data = df[df["week"].notna()] if by is None else df[df["week"].notna() & df[by].notna()]
    out = _mix(data, keys)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def severity_distribution(df: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Count and share of each severity (all five, in order), overall or per ``by``.

    >>> d = severity_distribution(pd.DataFrame({"severity": ["none", "high", "high", "low"]}))
    >>> d.set_index("severity")["count"].tolist(), float(d.set_index("severity").loc["high", "share"])
    ([1, 1, 0, 2, 0], 0.5)
    """
    if by is None:
        counts = df["severity"].value_counts().reindex(SEVERITIES, fill_value=0)
        out = pd.DataFrame({"severity": SEVERITIES, "count": counts.to_numpy().astype(int)})
        out["share"] = out["count"] / max(int(out["count"].sum()), 1)
        return out
    table = pd.crosstab(df[by], df["severity"]).reindex(columns=list(SEVERITIES), fill_value=0)
    long = table.stack().rename("count").reset_index()
    long["share"] = long["count"] / long.groupby(by)["count"].transform("sum")
    return long


def _doc_terms(text: str) -> set[str]:
    """The distinct report terms of one review.

    Single Chinese characters (mostly function words: 很, 又, 说) and Latin words under three
    letters are dropped with the stop words, numbers, punctuation and masked placeholders.

    >>> sorted(_doc_terms("快递太慢了，客服态度很差！电话 13812345678"))
    ['太慢', '客服', '很差', '快递', '态度', '电话']
    """
    from ..normalize import normalize
    from ..segment import segment

    terms = set()
    for tok in segment(normalize(text), drop_stopwords=True):
        if tok.startswith("[") or not any(ch.isalpha() for ch in tok):
            continue  # placeholders such as [phone], numbers and punctuation
        if len(tok) < (3 if tok.isascii() else 2):
            continue
        terms.add(tok)
    return terms


def top_terms(df: pd.DataFrame, k: int = 12, min_count: int = 3, max_docs: int = 20000,
              prior: float = 0.01) -> pd.DataFrame:
    """Terms most typical of each cause's complaints against the other complaints.

    Terms are document frequencies of :func:`reviewnlp.segment.segment` tokens (stop words,
    single Chinese characters, numbers, punctuation and masked placeholders removed). The score is the weighted log-odds
    ratio with an informative Dirichlet prior (``prior`` times the pooled frequencies), divided
    by its standard deviation (a z-score). When a cause has no other complaints to contrast with,
    the contrast is the non-complaint reviews. At most ``max_docs`` reviews per group are read
    (the first ones), which bounds the time on very large inputs.

    Returns a frame ``cause, rank, term, docs, share, z`` (``share`` = share of the cause's
    complaints containing the term).
    """
    cols = ["cause", "rank", "term", "docs", "share", "z"]
    if "text" not in df or df.empty:
        return pd.DataFrame(columns=cols)
    complaints = df[df["complaint"] & df["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    cache: dict[Any, set[str]] = {}

    def terms_of(index: Iterable[Any]) -> tuple[Counter[str], int]:
        counts: Counter[str] = Counter()
        n = 0
        for i in index:
            if n >= max_docs:
                break
            if i not in cache:
                cache[i] = _doc_terms(df.at[i, "text"])
            counts.update(cache[i])
            n += 1
        return counts, n

    rows = []
    for cause in CAUSES:
        mask = complaints["causes"].map(lambda cs, c=cause: c in cs)
        if not mask.any():
            continue
        fg, n_fg = terms_of(complaints.index[mask])
        others = complaints.index[~mask]
        if len(others) < min_count:
            others = df.index[~df["complaint"] & df["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
        bg, n_bg = terms_of(others)
        if n_bg == 0:
            continue
        pooled = fg + bg
        total = sum(pooled.values())
        a0 = prior * total
        n1, n2 = sum(fg.values()), sum(bg.values())
        scored = []
        for term, y1 in fg.items():
            if y1 < min_count:
                continue
            y2 = bg.get(term, 0)
            a = prior * pooled[term]
            delta = math.log((y1 + a) / (n1 + a0 - y1 - a)) - math.log((y2 + a) / (n2 + a0 - y2 - a))
            z = delta / math.sqrt(1.0 / (y1 + a) + 1.0 / (y2 + a))
            scored.append((z, term, y1))
        scored.sort(key=lambda t: (-t[0], t[1]))
        for rank, (z, term, y1) in enumerate(scored[:k], 1):
            rows.append((cause, rank, term, y1, y1 / n_fg, round(z, 3)))
    return pd.DataFrame(rows, columns=cols)


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``, summed in log space (no SciPy needed).

    >>> round(binomial_tail(8, 10, 0.5), 10)  # (45 + 10 + 1) / 1024
    0.0546875
    >>> binomial_tail(0, 5, 0.3), binomial_tail(6, 5, 0.3)
    (1.0, 0.0)
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0 or p >= 1.0:
        return float(p >= 1.0)
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    terms = [base - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q
             for j in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def spike_alerts(df: pd.DataFrame, by: str = "product", week: str | None = None, min_reviews: int = 10,
                 min_history: int = 20, alpha: float = 0.01, min_z: float = 2.0) -> pd.DataFrame:
    """Groups whose complaint rate in ``week`` (default: the latest week) jumped against their own history.

    For each group with at least ``min_reviews`` reviews that week and ``min_history`` reviews in
    earlier weeks, the baseline is the earlier complaint rate (Laplace-smoothed,
    ``(K + 1) / (N + 2)``). ``z = (k - n p0) / sqrt(n p0 (1 - p0))`` and ``p_value`` is the
    one-sided binomial tail ``P(X >= k | n, p0)``; ``alert`` when ``p_value <= alpha``,
    ``z >= min_z`` and the rate went up. Returns every group evaluated, alerts first.
    """
    cols = [by, "week", "reviews", "complaints", "complaint_rate", "baseline_rate", "history_reviews",
            "history_weeks", "z", "p_value", "alert"]
    if "week" not in df or by not in df:
        return pd.DataFrame(columns=cols)
    data = df[df["week"].notna() & df[by].notna()]
    if data.empty:
        return pd.DataFrame(columns=cols)
    week = week or max(data["week"])
    per = data.groupby([by, "week"], sort=True)["complaint"].agg(["size", "sum"]).reset_index()
    rows = []
    for group, g in per.groupby(by, sort=True):
        now = g[g["week"] == week]
        hist = g[g["week"] < week]
        if now.empty:
            continue
        n, k = int(now["size"].iloc[0]), int(now["sum"].iloc[0])
        hn, hk = int(hist["size"].sum()), int(hist["sum"].sum())
        if n < min_reviews or hn < min_history:
            continue
        p0 = (hk + 1) / (hn + 2)
        z = (k - n * p0) / math.sqrt(n * p0 * (1 - p0))
        p_value = binomial_tail(k, n, p0)
        rows.append((group, week, n, k, k / n, p0, hn, len(hist), round(z, 3), p_value,
                     bool(p_value <= alpha and z >= min_z and k / n > p0)))
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["alert", "z"], ascending=[False, False], kind="stable").reset_index(drop=True)


def contradictions(df: pd.DataFrame, high_star: float = 4.0, low_star: float = 1.0) -> pd.DataFrame:
    """Star ratings the text contradicts.

    - ``high_star_serious``: ``star >= high_star`` but a safety flag or severity high/critical;
    - ``low_star_no_complaint``: ``star <= low_star`` but no complaint.

    >>> d = prepare(pd.DataFrame({"severity": ["critical", "none", "none"], "causes": ["other", "", ""],
    ...                           "flags": ["", "", ""], "escalate": [True, False, False], "star": [5, 1, 5]}))
    >>> contradictions(d)[["id", "kind"]].values.tolist()
    [['1', 'high_star_serious'], ['2', 'low_star_no_complaint']]
    """
    cols = ["kind", "id", "star", "severity", "flags", "causes", *[c for c in ("product", "category", "text")
                                                                       if c in df]]
    if "star" not in df:
        return pd.DataFrame(columns=cols)
    serious = df["flags"].map(lambda f: "safety" in f) | (df["sev_rank"] >= _HIGH)
    high = df[(df["star"] >= high_star) & serious].assign(kind="high_star_serious")
    low = df[(df["star"] <= low_star) & ~df["complaint"]].assign(kind="low_star_no_complaint")
    out = pd.concat([high.sort_values("sev_rank", ascending=False, kind="stable"), low])
    out = out.assign(flags=out["flags"].map(";".join), causes=out["causes"].map(";".join))
    return out[cols].reset_index(drop=True)


def escalated(df: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The escalated reviews, most urgent first (priority, then deadline, then severity)."""
    keep = [c for c in ("id", "priority", "queue", "due_at", "severity", "flags", "causes", "product", "category",
                        "week", "star", "text") if c in df]
    data = df[df["escalate"]].copy()
    sort = [c for c in ("priority", "due_at") if c in data] + ["sev_rank"]
    asc = [True] * (len(sort) - 1) + [False]
    data = data.sort_values(sort, ascending=asc, kind="stable", na_position="last")
    data = data.assign(flags=data["flags"].map(";".join), causes=data["causes"].map(";".join))
    out = data[keep].reset_index(drop=True)
    return out.head(limit) if limit else out


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers: reviews, complaints, complaint share, escalated, flagged per flag, date range.

    >>> summary(prepare(pd.DataFrame({"severity": ["none", "high"], "causes": ["", "logistics"],
    ...                               "flags": ["", "fraud"], "escalate": [False, True]})))["flagged"]["fraud"]
    1
    """
    n = len(df)
    out: dict[str, Any] = {
        "reviews": n,
        "complaints": int(df["complaint"].sum()),
        "complaint_share": float(df["complaint"].mean()) if n else 0.0,
        "escalated": int(df["escalate"].sum()),
        "flagged": {f: int(df["flags"].map(lambda fs, f=f: f in fs).sum()) for f in FLAGS},
    }
    if "date" in df and df["date"].notna().any():
        out["first_date"] = df["date"].min().date().isoformat()
        out["last_date"] = df["date"].max().date().isoformat()
    return out
