"""Weak complaint labels from the corpora's own sentiment labels (never gold, never in test).

Usage: python datasets/tools/build_weak.py
Writes datasets/weak/weak_complaint.jsonl: id, text, lang, source, source_ref, complaint (bool),
annotator ("weak:corpus_label"), split ("train"). Rows whose normalized text is in any gold split
(exact or near-duplicate key) are excluded, so weak data can never leak gold dev/test text.
Mapping: negative (label 0 / amazon_polarity 1) -> complaint; positive -> no complaint.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from reviewnlp.normalize import normalize  # noqa: E402

C = ROOT.parent / "shared" / "corpora"
SEED = 20261124


def key(t: str) -> str:
    return "".join(ch for ch in normalize(t) if ch.isalnum())


def main() -> None:
    gold = set()
    for s in ("train", "dev", "test"):
        for line in open(ROOT / "datasets" / "gold" / f"{s}.jsonl", encoding="utf-8"):
            gold.add(key(json.loads(line)["text"]))
    rows = []
    d = pd.read_csv(C / "online_shopping_10_cats" / "online_shopping_10_cats.csv")
    for i, r in d.iterrows():
        if r["cat"] != "酒店" and isinstance(r["review"], str):
            rows.append(("zh", "online_shopping_10_cats", f"online_shopping_10_cats.csv:{i + 2}", r["review"],
                         r["label"] == 0))
    d = pd.read_csv(C / "waimai_10k" / "waimai_10k.csv")
    for i, r in d.iterrows():
        if isinstance(r["review"], str):
            rows.append(("zh", "waimai_10k", f"waimai_10k.csv:{i + 2}", r["review"], r["label"] == 0))
    d = pd.read_csv(C / "amazon_polarity_sample" / "amazon_polarity_sample.csv")
    for i, r in d.iterrows():
        if isinstance(r["text"], str):
            rows.append(("en", "amazon_polarity_sample", f"amazon_polarity_sample.csv:{i + 2}", r["text"],
                         r["label"] == 1))
    with open(C / "uci_sentiment_sentences" / "amazon_cells_labelled.txt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            text, _, lab = line.rstrip("\n").rpartition("\t")
            if text.strip():
                rows.append(("en", "uci_sentiment_sentences", f"amazon_cells_labelled.txt:{i + 1}", text,
                             lab.strip() == "0"))
    rng = random.Random(SEED)
    rng.shuffle(rows)
    seen = set(gold)
    out = []
    per_source: dict[str, int] = {}
    caps = {"online_shopping_10_cats": 12000, "waimai_10k": 6000}
    for lang, src, ref, text, comp in rows:
        k = key(text)
        if len(k) < 2 or k in seen:
            continue
        if per_source.get(src, 0) >= caps.get(src, 10**9):
            continue
        seen.add(k)
        per_source[src] = per_source.get(src, 0) + 1
        out.append({"id": f"weak-{len(out) + 1:06d}", "text": text, "lang": lang, "source": src, "source_ref": ref,
                    "complaint": bool(comp), "annotator": "weak:corpus_label", "split": "train"})
    (ROOT / "datasets" / "weak").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "datasets" / "weak" / "weak_complaint.jsonl", "w", encoding="utf-8") as fh:
        for r in out:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(out), per_source)


if __name__ == "__main__":
    main()
