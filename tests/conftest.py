"""Shared fixtures: the shipped model, a tiny fitted model, real reviews from the corpora."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", ROOT.parent / "shared" / "corpora"))
GOLD = ROOT / "datasets" / "gold"


@pytest.fixture(scope="session")
def shipped_model():
    import reviewnlp

    return reviewnlp.load()


@pytest.fixture(scope="session")
def gold_rows():
    rows = []
    for s in ("train", "dev", "test"):
        with open(GOLD / f"{s}.jsonl", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.fixture(scope="session")
def tiny_model(gold_rows):
    """A small model fitted on 400 real gold train rows (fast; for mechanics, not accuracy)."""
    from reviewnlp.train import fit

    train = [r for r in gold_rows if r["split"] == "train"][:400]
    return fit(train, {"features__word_max_features": 3000, "features__char_max_features": 5000,
                       "heads__calibration": "sigmoid"}, seed=0)


def real_reviews(n: int = 2000) -> list[str]:
    """Real review texts from the corpora (waimai + online shopping + amazon), deterministic."""
    out: list[str] = []
    with open(CORPORA / "waimai_10k" / "waimai_10k.csv", encoding="utf-8") as fh:
        out += [r["review"] for r in csv.DictReader(fh) if r["review"].strip()][: n // 3]
    with open(CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv", encoding="utf-8-sig") as fh:
        rows = [r["review"] for r in csv.DictReader(fh) if r["review"] and r["review"].strip()]
        out += rows[:: max(1, len(rows) // (n // 3))][: n // 3]
    with open(CORPORA / "amazon_polarity_sample" / "amazon_polarity_sample.csv", encoding="utf-8") as fh:
        out += [r["text"] for r in csv.DictReader(fh) if r["text"].strip()][: n - len(out)]
    return out
