"""Smoke test of the benchmark suite: ``benchmarks/run.py --quick`` runs and writes every row.

No timing assertions: the figures of a quick run on a shared test machine mean nothing; this only
checks that every benchmark (and every peer: jieba, scikit-learn, fastText, SnowNLP) still runs
and that the JSON keeps its shape.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"

EXPECTED_ROWS = (
    ["cold_start", "memory_rss", "single_review", "single_review_classify", "batch"]
    + [f"batch_size_{n}" for n in (1, 10, 100, 1000, 10000, 100000)] + ["batch_exponent"]
    + [f"length_{lang}_{n}" for lang in ("zh", "en") for n in (10, 100, 1000, 10000)]
    + ["length_exponent_zh", "length_exponent_en", "segmentation_share", "segment_vs_jieba", "snownlp_sentiment",
       "training", "fasttext_predict", "fasttext_complaint_acc", "fasttext_severity_acc", "fasttext_train"]
)
TARGET_ROWS = {"cold_start", "memory_rss", "single_review", "batch", "segmentation_share", "training",
               "batch_exponent", "length_exponent_zh", "length_exponent_en"}
FIELDS = ("id", "title", "figure", "peer", "ratio", "unit", "ours", "peer_is", "target", "pass", "status", "extra")


def _missing_peers() -> list[str]:
    return [m for m in ("fasttext", "snownlp", "psutil", "jieba", "sklearn") if importlib.util.find_spec(m) is None]


@pytest.mark.timeout(900)  # only a guard against a hang; the suite's own budget is not asserted
def test_quick_run_writes_every_row(tmp_path):
    missing = _missing_peers()
    if missing:
        pytest.skip(f"peers not installed: {', '.join(missing)} (pip install '.[dev]')")
    out = tmp_path / "quick.json"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))

    assert data["mode"] == "quick"
    for key in ("platform", "python", "cpu_count", "cpu_model", "loadavg_at_start", "libraries"):
        assert key in data["machine"], key
    rows = {r["id"]: r for r in data["rows"]}
    assert sorted(rows) == sorted(EXPECTED_ROWS)
    for rid, row in rows.items():
        for field in FIELDS:
            assert field in row, (rid, field)
        assert row["status"] in ("measured", "skipped"), (rid, row["status"], row.get("note"))
        if row["status"] == "measured":
            assert isinstance(row["figure"], (int, float)), rid
            assert isinstance(row["peer"], (int, float)), rid
            assert isinstance(row["ratio"], (int, float)), rid
            assert row["ratio"] == pytest.approx(row["figure"] / row["peer"], rel=1e-3), rid
    # rows with a target carry it and a pass/fail verdict; which way it went is not asserted
    for rid in TARGET_ROWS:
        assert rows[rid]["target"], rid
        assert rows[rid]["status"] == "measured", rid
        assert isinstance(rows[rid]["pass"], bool), rid
    # the 100k batch is behind --full: present, and says so
    assert rows["batch_size_100000"]["status"] == "skipped"
    assert "--full" in rows["batch_size_100000"]["note"]
    assert data["summary"]["errors"] == []
    assert out.with_suffix(".md").is_file()
    assert "single_review" in proc.stdout  # the table is printed
