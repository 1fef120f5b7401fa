"""Behaviour of the report statistics on small classified frames."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd
import pytest

from reviewnlp.report import stats

CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", "/work/shared/corpora"))


def frame(rows: list[dict]) -> pd.DataFrame:
    """Classified rows as ``reviewnlp classify`` writes them to CSV (lists ``;``-joined, bools as text)."""
    base = {"causes": "", "flags": "", "escalate": "False", "severity": "none"}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["id"] = [str(i) for i in range(1, len(df) + 1)]
    return stats.prepare(df)


def test_complaint_share_and_multi_label_cause_mix_per_category():
    df = frame([
        {"category": "水果", "severity": "medium", "causes": "logistics;product_quality"},
        {"category": "水果", "severity": "low", "causes": "logistics"},
        {"category": "水果"},
        {"category": "水果"},
        {"category": "书籍", "severity": "high", "causes": "service_attitude"},
        {"category": None},
    ])
    mix = stats.complaint_mix(df, "category").set_index("category")
    assert list(mix.index) == ["水果", "书籍"]  # most reviewed first; the row without a category is left out
    assert mix.loc["水果", "reviews"] == 4 and mix.loc["水果", "complaints"] == 2
    assert mix.loc["水果", "complaint_share"] == pytest.approx(0.5)
    # shares of complaints mentioning each cause: both mention logistics, one product quality
    assert mix.loc["水果", "cause_logistics"] == pytest.approx(1.0)
    assert mix.loc["水果", "cause_product_quality"] == pytest.approx(0.5)
    assert mix.loc["书籍", "cause_service_attitude"] == pytest.approx(1.0)


def test_lists_and_bools_read_the_same_from_every_output_format():
    as_csv = frame([{"severity": "high", "causes": "logistics;other", "flags": "fraud", "escalate": "True"}])
    as_parquet = stats.prepare(pd.DataFrame([{"id": "1", "severity": "high", "causes": ["logistics", "other"],
                                              "flags": ["fraud"], "escalate": True}]))
    for col in ("causes", "flags", "complaint", "escalate", "sev_rank"):
        assert as_csv[col].tolist() == as_parquet[col].tolist(), col


def test_iso_weeks_and_weekly_shares():
    df = frame([
        {"date": "2023-01-01", "severity": "low", "causes": "logistics"},  # Sunday: ISO week 2022-W52
        {"date": "2023-01-02"},                                           # Monday: 2023-W01
        {"date": "2023-01-08", "severity": "medium", "causes": "other"},
        {"date": "1673222400000"},                                          # epoch ms, 2023-01-09
        {"date": "not a date"},
    ])
    assert df["week"].tolist() == ["2022-W52", "2023-W01", "2023-W01", "2023-W02", None]
    w = stats.weekly(df).set_index("week")
    assert list(w.index) == ["2022-W52", "2023-W01", "2023-W02"]
    assert w.loc["2023-W01", "reviews"] == 2 and w.loc["2023-W01", "complaint_share"] == pytest.approx(0.5)


def test_severity_distribution_lists_every_level_in_order():
    df = frame([{"severity": "high", "causes": "other"}, {"severity": "high", "causes": "other"}, {}])
    d = stats.severity_distribution(df)
    assert d["severity"].tolist() == ["none", "low", "medium", "high", "critical"]
    assert d["count"].tolist() == [1, 0, 0, 2, 0]
    assert d["share"].sum() == pytest.approx(1.0)


def _weeks(product: str, weekly: list[tuple[int, int]]) -> list[dict]:
    """``(reviews, complaints)`` per consecutive ISO week from 2024-W01."""
    rows = []
    for k, (n, c) in enumerate(weekly):
        day = (pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=k)).date().isoformat()
        rows += [{"product": product, "date": day, "severity": "medium" if i < c else "none",
                  "causes": "product_quality" if i < c else ""} for i in range(n)]
    return rows


def test_spike_alert_fires_on_a_jump_against_the_products_own_history():
    df = frame(_weeks("jumps", [(40, 4), (40, 3), (40, 5), (30, 18)])      # ~10% then 60%
               + _weeks("steady", [(40, 20), (40, 22), (40, 19), (30, 16)])  # always ~50%
               + _weeks("drops", [(40, 20), (40, 20), (40, 20), (30, 2)])
               + _weeks("tiny", [(40, 2), (40, 2), (40, 2), (3, 3)]))        # too few reviews this week
    s = stats.spike_alerts(df, "product", min_reviews=10, min_history=20).set_index("product")
    assert set(s.index) == {"jumps", "steady", "drops"}
    assert s["week"].unique().tolist() == ["2024-W04"]
    assert bool(s.loc["jumps", "alert"]) and s.loc["jumps", "z"] > 5 and s.loc["jumps", "p_value"] < 1e-6
    assert s.loc["jumps", "history_reviews"] == 120 and s.loc["jumps", "history_weeks"] == 3
    assert not s.loc["steady", "alert"] and not s.loc["drops", "alert"]
    assert s.index[0] == "jumps"  # alerts first
    # a week in the past can be chosen; then there was no jump
    earlier = stats.spike_alerts(df, "product", week="2024-W03", min_reviews=10, min_history=20)
    assert not earlier["alert"].any()


def test_spike_alerts_need_history_and_dates():
    df = frame(_weeks("new", [(30, 25)]))
    assert stats.spike_alerts(df, "product").empty
    assert stats.spike_alerts(frame([{"product": "x"}]), "product").empty


def test_contradictions_between_stars_and_text():
    df = frame([
        {"star": "5", "severity": "medium", "causes": "product_quality", "flags": "safety"},
        {"star": "4", "severity": "critical", "causes": "product_quality"},
        {"star": "5", "severity": "medium", "causes": "logistics"},  # not serious: fine
        {"star": "1"},                                               # 1 star, no complaint
        {"star": "1", "severity": "high", "causes": "logistics"},    # consistent
        {"star": None, "severity": "critical", "causes": "other"},
    ])
    c = stats.contradictions(df)
    assert c[["id", "kind"]].values.tolist() == [["2", "high_star_serious"], ["1", "high_star_serious"],
                                                 ["4", "low_star_no_complaint"]]
    ten_to_fifty = frame([{"star": "50", "severity": "high", "causes": "other"}, {"star": "10"}])
    assert stats.contradictions(ten_to_fifty)["kind"].tolist() == ["high_star_serious", "low_star_no_complaint"]


def test_escalated_are_sorted_most_urgent_first():
    df = frame([
        {"escalate": "True", "priority": "2", "due_at": "2024-05-01T10:00:00+00:00", "severity": "high",
         "causes": "logistics"},
        {"escalate": "False", "priority": "4", "severity": "low", "causes": "other"},
        {"escalate": "True", "priority": "1", "due_at": "2024-05-01T12:00:00+00:00", "severity": "critical",
         "causes": "product_quality", "flags": "safety"},
        {"escalate": "True", "priority": "2", "due_at": "2024-05-01T09:00:00+00:00", "severity": "high",
         "causes": "logistics"},
    ])
    e = stats.escalated(df)
    assert e["id"].tolist() == ["3", "4", "1"]
    assert e.loc[0, "flags"] == "safety"


def _real(keyword: str, n: int) -> list[str]:
    path = CORPORA / "waimai_10k" / "waimai_10k.csv"
    if not path.exists():
        pytest.skip(f"corpus {path} is not available")
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] == "0" and keyword in row["review"] and len(out) < n:
                out.append(row["review"])
    return out


def test_top_terms_pick_words_typical_of_each_cause_from_real_reviews():
    late = [t for t in _real("小时", 60) if "味道" not in t]
    taste = [t for t in _real("味道", 60) if "小时" not in t]
    rows = [{"text": t, "severity": "medium", "causes": "logistics"} for t in late]
    rows += [{"text": t, "severity": "medium", "causes": "product_quality"} for t in taste]
    rows += [{"text": t} for t in _real("好吃", 20)]
    terms = stats.top_terms(frame(rows), k=5, min_count=3)
    by_cause = {c: g["term"].tolist() for c, g in terms.groupby("cause")}
    assert "小时" in by_cause["logistics"] and "味道" not in by_cause["logistics"]
    assert "味道" in by_cause["product_quality"] and "小时" not in by_cause["product_quality"]
    assert (terms.groupby("cause")["z"].apply(lambda z: z.is_monotonic_decreasing)).all()
    assert all(len(t) >= 2 for t in terms["term"])  # no single characters


def test_summary_headline():
    df = frame([{"severity": "critical", "causes": "other", "flags": "safety;legal", "escalate": "True"}, {}])
    s = stats.summary(df)
    assert (s["reviews"], s["complaints"], s["escalated"]) == (2, 1, 1)
    assert s["flagged"]["safety"] == 1 and s["flagged"]["fraud"] == 0
