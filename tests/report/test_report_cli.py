"""``reviewnlp report`` end to end on real reviews, and the page in headless Chromium."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from reviewnlp.cli import main
from reviewnlp.report import html as report_html

CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", "/work/shared/corpora"))
SHOPPING = CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
GIFTCARDS = CORPORA / "amazon_reviews2023_giftcards" / "amazon_reviews.csv"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"corpus {path} is not available (set REVIEWNLP_CORPORA)")


@pytest.fixture(scope="module")
def shopping_csv(tmp_path_factory) -> Path:
    """~250 real reviews of online_shopping_10_cats (every 250th row), with ``cat`` as the category."""
    _need(SHOPPING)
    path = tmp_path_factory.mktemp("shop") / "shopping.csv"
    with open(SHOPPING, encoding="utf-8-sig", newline="") as src, open(path, "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out)
        w.writerow(["id", "cat", "label", "review"])
        for i, row in enumerate(csv.DictReader(src)):
            if i % 250 == 0 and row["review"].strip():
                w.writerow([f"s{i + 2}", row["cat"], row["label"], row["review"].lstrip("\ufeff")])
    return path


@pytest.fixture(scope="module")
def shopping_report(shopping_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    rc = main(["report", str(shopping_csv), "--out", str(out), "--category-column", "cat", "--text-column", "review",
               "--quiet"])
    assert rc == 0
    return out


def test_report_on_raw_reviews_writes_the_page_and_tables(shopping_csv, shopping_report):
    out = shopping_report
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "predictions.parquet").exists()
    by_cat = pd.read_csv(out / "complaints_by_category.csv")
    raw = pd.read_csv(shopping_csv, dtype=str)
    assert set(by_cat["category"]) == set(raw["cat"])  # tables name the role, whatever the input column
    assert by_cat["reviews"].sum() == len(raw)
    assert ((by_cat["complaint_share"] >= 0) & (by_cat["complaint_share"] <= 1)).all()
    # the model agrees with the corpus's own polarity more often than not: negative reviews complain more
    preds = pd.read_parquet(out / "predictions.parquet", columns=["label", "complaint"])
    neg, pos = preds[preds["label"] == "0"]["complaint"].mean(), preds[preds["label"] == "1"]["complaint"].mean()
    assert neg > pos
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["summary"]["reviews"] == len(raw) and not summary["classified_input"]
    assert {"by_category", "severity", "top_terms", "escalated"} <= set(summary["tables"])
    terms = pd.read_csv(out / "top_terms.csv")
    assert set(terms["cause"]) <= {"product_quality", "logistics", "service_attitude", "other"}
    assert len(terms) > 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 2
    assert "No usable date column" in page  # the sections it cannot fill say why


def test_report_on_classified_output_gives_the_same_numbers(shopping_csv, shopping_report, tmp_path):
    classified = tmp_path / "classified.csv"
    assert main(["classify", str(shopping_csv), "-o", str(classified), "--text-column", "review", "-q"]) == 0
    rc = main(["report", str(classified), "--out", str(tmp_path / "r"), "--category-column", "cat",
               "--text-column", "review", "-q"])
    assert rc == 0
    assert not (tmp_path / "r" / "predictions.parquet").exists()  # recognised as classified: not classified again
    a = pd.read_csv(shopping_report / "complaints_by_category.csv")
    b = pd.read_csv(tmp_path / "r" / "complaints_by_category.csv")
    pd.testing.assert_frame_equal(a, b)
    s = json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))
    assert s["classified_input"]


def test_report_with_dates_products_and_stars_on_real_reviews(tmp_path):
    _need(GIFTCARDS)
    rows = pd.read_csv(GIFTCARDS, dtype=str).head(400)
    src = tmp_path / "giftcards.parquet"
    rows.to_parquet(src)
    rc = main(["report", str(src), "--out", str(tmp_path / "r"), "--product-column", "asin", "--date-column",
               "timestamp", "--star-column", "rating", "--min-reviews", "2", "--min-history", "3", "-q"])
    assert rc == 0
    weekly = pd.read_csv(tmp_path / "r" / "weekly.csv")
    assert weekly["week"].str.fullmatch(r"\d{4}-W\d{2}").all() and weekly["reviews"].sum() == 400
    assert (tmp_path / "r" / "spike_alerts.csv").exists()
    contra = pd.read_csv(tmp_path / "r" / "contradictions.csv")
    assert set(contra["kind"]) <= {"high_star_serious", "low_star_no_complaint"}
    # 1-star reviews the model finds no complaint in, or 4-5 star ones it finds serious, are listed
    assert len(contra) >= 1


def test_explicit_missing_column_is_an_error(shopping_csv, tmp_path, capsys):
    rc = main(["report", str(shopping_csv), "--out", str(tmp_path / "r"), "--product-column", "sku",
               "--text-column", "review"])
    assert rc == 2
    assert "no product column 'sku'" in capsys.readouterr().err


def test_review_text_is_escaped_and_charts_fall_back_without_a_cjk_font():
    _need(SHOPPING)
    with open(SHOPPING, encoding="utf-8-sig", newline="") as fh:
        texts = [r["review"] for r in csv.DictReader(fh) if "<" in r["review"] or "&#" in r["review"]][:3]
    assert texts, "the corpus has reviews with < and & in them"
    table = pd.DataFrame({"id": ["1", "2", "3"][: len(texts)], "priority": [1] * len(texts), "text": texts})
    mix = pd.DataFrame({"category": ["书籍", "水果"], "reviews": [10, 5], "complaints": [5, 1],
                        "complaint_share": [0.5, 0.2], "cause_product_quality": [1.0, 1.0],
                        "cause_logistics": [0.0, 0.0], "cause_service_attitude": [0.0, 0.0], "cause_other": [0.0, 0.0]})
    content = report_html.ReportContent(title="<t>", meta={"input": "a&b"},
                                        summary={"reviews": 15, "complaints": 6, "complaint_share": 0.4,
                                                 "escalated": len(texts), "flagged": {}},
                                        tables={"escalated": table, "by_category": mix}, notes={})
    charts = report_html.make_charts(content.tables, font=None)
    page = report_html.render(content, charts)
    for t in texts:
        assert report_html.html.escape(t[:300]) in page
    assert "<t>" not in page and "&lt;t&gt;" in page and "a&amp;b" in page
    assert "<code>C1</code> = 书籍" in page  # no CJK font: coded labels, explained under the chart


# --------------------------------------------------------------------------------------------------
# Headless Chromium
# --------------------------------------------------------------------------------------------------


def _chromium() -> str:
    exe = os.environ.get("REVIEWNLP_CHROMIUM") or shutil.which("chromium") or \
        ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe and Path(exe).exists():
        return exe
    if os.environ.get("CI"):
        pytest.fail("CI is set but Chromium is missing: install it (apt-get install chromium) or set "
                    "REVIEWNLP_CHROMIUM", pytrace=False)
    pytest.skip("Chromium not found (apt-get install chromium, or set REVIEWNLP_CHROMIUM): "
                "the rendered-page test is skipped")


def _chromium_cmd(exe: str, profile: Path) -> list[str]:
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}"]


def test_report_renders_in_headless_chromium(shopping_report, tmp_path):
    exe = _chromium()
    page = (shopping_report / "report.html").resolve()
    cmd = _chromium_cmd(exe, tmp_path / "profile")
    dom = subprocess.run([*cmd, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_dom = dom.stdout
    images = re.findall(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html_dom)
    assert len(images) >= 2, "the charts are in the DOM"
    for table_id in ("by_category", "severity", "escalated"):
        assert re.search(rf'<table id="{table_id}"', html_dom), table_id
    assert html_dom.count("<tr>") > 20
    shot = tmp_path / "report.png"
    res = subprocess.run([*cmd, "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("REVIEWNLP_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
