"""Round 2 of candidate sampling: rare flags (media, legal, privacy, safety) after round 1.

Usage: python datasets/tools/sample_round2.py   (after sample_candidates.py; seed 20261123)
Appends to datasets/work/candidates.jsonl and writes batches r2_XX.txt.
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import sample_candidates as sc  # noqa: E402

ZH_MEDIA = re.compile(r"曝光|媒体|记者|电视台|新闻|发微博|网上发|让大家都知道|黑猫投诉|朋友圈")
ZH_LEGAL = re.compile(r"12315|消协|消费者协会|工商|市场监管|律师|起诉|法院|报警|警察|派出所|仲裁")
ZH_PRIV = re.compile(r"泄露|泄漏|个人信息|隐私|骚扰|盗号|盗刷")
ZH_SAFE = re.compile(r"拉肚子|腹泻|过敏|食物中毒|呕吐|虫子|苍蝇|蟑螂|玻璃|铁丝|钢丝|起火|冒烟|爆炸|漏电|触电|烫伤|医院")
EN_MEDIA = re.compile(r"\b(news|reporter|journalist|social media|go public|expose|twitter|facebook|youtube)\b", re.I)
CFPB_MORE = re.compile(r"\b(lawyer|attorney|sue|lawsuit|court|police|identity theft|harass\w*|news|media)\b", re.I)


def main() -> None:
    rng = random.Random(20261123)
    work = sc.OUT
    cands = [json.loads(line) for line in open(work / "candidates.jsonl", encoding="utf-8")]
    if any(c["stratum"].startswith("enrich2:") for c in cands):
        print("round 2 already sampled")
        return
    taken = {c["source_ref"] for c in cands}
    pool = [r for r in sc.load_pool() if r["source_ref"] not in taken]
    rng.shuffle(pool)
    chosen = []

    take = sc.make_taker(pool, taken, chosen)

    take(lambda r: r["lang"] == "zh" and ZH_MEDIA.search(r["text"]), 130, "enrich2:media")
    take(lambda r: r["lang"] == "zh" and ZH_LEGAL.search(r["text"]), 20, "enrich2:legal")
    take(lambda r: r["lang"] == "zh" and ZH_PRIV.search(r["text"]), 35, "enrich2:privacy")
    take(lambda r: r["lang"] == "zh" and ZH_SAFE.search(r["text"]), 120, "enrich2:safety")
    take(lambda r: r["lang"] == "en" and r["source"] != "cfpb_complaints_sample" and EN_MEDIA.search(r["text"]),
         20, "enrich2:media")
    take(lambda r: r["source"] == "cfpb_complaints_sample" and CFPB_MORE.search(r["text"]), 150, "enrich2:cfpb")
    n = {"zh": sum(c["lang"] == "zh" for c in cands), "en": sum(c["lang"] == "en" for c in cands)}
    rng.shuffle(chosen)
    for r in chosen:
        n[r["lang"]] += 1
        r["id"] = f"{r['lang']}-{n[r['lang']]:05d}"
    sc.write_candidates(chosen, work / "candidates.jsonl")
    for lang in ("zh", "en"):
        sc.write_batches([r for r in chosen if r["lang"] == lang], work / "batches", f"r2{lang}_")
    from collections import Counter

    print(len(chosen), Counter((r["lang"], r["stratum"]) for r in chosen))


if __name__ == "__main__":
    main()
