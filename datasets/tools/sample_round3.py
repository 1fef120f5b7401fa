"""Round 3 of candidate sampling: short English reviews and English delivery/service complaints,
which rounds 1-2 left thin (English logistics had 18 gold rows).

Usage: python datasets/tools/sample_round3.py   (after rounds 1-2; seed 20261125)
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import sample_candidates as sc  # noqa: E402

EN_LOGI = re.compile(r"\b(shipping|shipped|ship|delivery|delivered|arrived|arrive|package|packaging|box|ups|fedex|usps|"
                     r"courier|late|never received|lost|damaged|crushed|wrong item|missing)\b", re.I)
EN_SERV = re.compile(r"\b(customer service|seller|refund|return|returned|support|rude|no response|responded|"
                     r"warranty|replacement|contacted|email)\b", re.I)


def main() -> None:
    rng = random.Random(20261125)
    work = sc.OUT
    cands = [json.loads(line) for line in open(work / "candidates.jsonl", encoding="utf-8")]
    if any(c["stratum"].startswith("enrich3:") or c["stratum"].startswith("random3:") for c in cands):
        print("round 3 already sampled")
        return
    taken = {c["source_ref"] for c in cands}
    pool = [r for r in sc.load_pool() if r["source_ref"] not in taken and r["lang"] == "en"
            and r["source"] != "cfpb_complaints_sample"]
    gift = pd.read_csv(sc.CORPORA / "amazon_reviews2023_giftcards" / "amazon_reviews.csv")
    rating = {f"amazon_reviews.csv:{i + 2}": r for i, r in gift["rating"].items()}
    rng.shuffle(pool)
    chosen = []

    take = sc.make_taker(pool, taken, chosen)

    take(lambda r: EN_LOGI.search(r["text"]) and len(r["text"]) < 700, 220, "enrich3:logistics")
    take(lambda r: EN_SERV.search(r["text"]) and len(r["text"]) < 700, 120, "enrich3:service")
    take(lambda r: r["source"] == "amazon_reviews2023_giftcards" and rating.get(r["source_ref"], 5) <= 3, 120,
         "enrich3:low_rating")
    take(lambda r: r["source"] == "uci_sentiment_sentences", 300, "random3:uci_sentiment_sentences")
    n = sum(c["lang"] == "en" for c in cands)
    rng.shuffle(chosen)
    for r in chosen:
        n += 1
        r["id"] = f"en-{n:05d}"
    sc.write_candidates(chosen, work / "candidates.jsonl")
    sc.write_batches(chosen, work / "batches", "r3en_")
    from collections import Counter

    print(len(chosen), Counter((r["source"], r["stratum"]) for r in chosen))


if __name__ == "__main__":
    main()
