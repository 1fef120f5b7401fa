"""Draw the candidate pool for hand labelling from ``../shared/corpora``.

Reproducible: ``python datasets/tools/sample_candidates.py`` (seed 20261122).
Writes ``datasets/work/candidates.jsonl`` (id, text, lang, source, source_ref,
stratum) and batch files of 100 rows for the annotators.

Strata
------
``random:<source>``  uniform draw from an in-scope corpus (shop / delivery).
``enrich:<kind>``    keyword-enriched draw for rare labels (risk, logistics,
                     service, cfpb).  Keywords only *select* rows; labels come
                     from reading each review.
"""
from __future__ import annotations

import json
import random
import re
import unicodedata
import xml.etree.ElementTree as ET  # noqa: F401  (kept for SemEval, unused in gold)
from pathlib import Path

import pandas as pd

SEED = 20261122
ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
OUT = ROOT / "datasets" / "work"

ZH_RISK = re.compile(
    r"过敏|拉肚子|腹泻|上吐下泻|食物中毒|中毒|医院|住院|起火|着火|冒烟|爆炸|漏电|触电|烫伤|划伤|"
    r"玻璃|铁丝|钢丝|虫子|苍蝇|蟑螂|12315|消协|工商|市场监管|律师|起诉|法院|报警|警察|曝光|媒体|"
    r"记者|微博|假货|假的|骗子|欺诈|诈骗|山寨|高仿|泄露|骚扰|个人信息|投诉|发霉|过期|异物|呕吐|肚子疼"
)
ZH_LOGI = re.compile(r"快递|物流|送货|骑手|配送|送餐|迟到|超时|晚了|小时|洒了|漏了|压坏|没送|少送|送错|发货|包装破")
ZH_SERV = re.compile(r"客服|态度|不理|退款|退货|换货|售后|不回复|商家|承诺|赠品|备注|好评返现")
EN_RISK = re.compile(
    r"\b(fire|smok\w*|explod\w*|burn\w*|shock\w*|injur\w*|hurt|sick|poison\w*|allerg\w*|rash|hospital|"
    r"lawyer|attorney|sue|lawsuit|court|BBB|FTC|police|fraud\w*|scam\w*|counterfeit|fake|stolen|hacked|"
    r"identity|harass\w*|privacy|dangerous|hazard)\b",
    re.I,
)
EN_LOGI_SERV = re.compile(
    r"\b(shipping|shipped|delivery|delivered|arrived|package|UPS|fedex|USPS|courier|never received|lost|"
    r"customer service|refund\w*|return\w*|seller|support|rude|no response|warranty|replac\w*)\b",
    re.I,
)
CFPB_RISK = re.compile(
    r"\b(lawyer|attorney|sue|lawsuit|court|police|fraud\w*|scam\w*|stolen|identity theft|hacked|harass\w*|"
    r"privacy|news|media|report(ed)? (them|this) to|regulator|attorney general|BBB)\b",
    re.I,
)


def _key(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\W_]+", "", t)


def load_pool() -> list[dict]:
    rows: list[dict] = []
    d = pd.read_csv(CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv")
    for i, r in d.iterrows():
        if r["cat"] == "酒店" or not isinstance(r["review"], str):
            continue
        rows.append(dict(text=r["review"], lang="zh", source="online_shopping_10_cats",
                         source_ref=f"online_shopping_10_cats.csv:{i + 2}", cat=r["cat"]))
    d = pd.read_csv(CORPORA / "waimai_10k" / "waimai_10k.csv")
    for i, r in d.iterrows():
        if isinstance(r["review"], str):
            rows.append(dict(text=r["review"], lang="zh", source="waimai_10k",
                             source_ref=f"waimai_10k.csv:{i + 2}", cat="外卖"))
    for fn in ("Train_reviews.csv", "Test_reviews.csv"):
        d = pd.read_csv(CORPORA / "tianchi_ecomm_opinion" / fn)
        for i, r in d.iterrows():
            if isinstance(r["Reviews"], str):
                rows.append(dict(text=r["Reviews"], lang="zh", source="tianchi_ecomm_opinion",
                                 source_ref=f"{fn}:{i + 2}", cat="化妆品"))
    d = pd.read_csv(CORPORA / "amazon_polarity_sample" / "amazon_polarity_sample.csv")
    for i, r in d.iterrows():
        if isinstance(r["text"], str):
            rows.append(dict(text=r["text"], lang="en", source="amazon_polarity_sample",
                             source_ref=f"amazon_polarity_sample.csv:{i + 2}", cat="amazon"))
    d = pd.read_csv(CORPORA / "amazon_reviews2023_giftcards" / "amazon_reviews.csv")
    for i, r in d.iterrows():
        if isinstance(r["text"], str):
            rows.append(dict(text=r["text"], lang="en", source="amazon_reviews2023_giftcards",
                             source_ref=f"amazon_reviews.csv:{i + 2}", cat="giftcard"))
    with open(CORPORA / "uci_sentiment_sentences" / "amazon_cells_labelled.txt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            text = line.rsplit("\t", 1)[0].strip()
            if text:
                rows.append(dict(text=text, lang="en", source="uci_sentiment_sentences",
                                 source_ref=f"amazon_cells_labelled.txt:{i + 1}", cat="cells"))
    d = pd.read_csv(CORPORA / "cfpb_complaints_sample" / "complaints_sample.csv")
    for i, r in d.iterrows():
        t = r["Consumer complaint narrative"]
        if isinstance(t, str) and 80 <= len(t) <= 1500:
            rows.append(dict(text=t, lang="en", source="cfpb_complaints_sample",
                             source_ref=f"complaints_sample.csv:{i + 2}", cat="cfpb"))
    # exact dedup on a normalized key, first occurrence wins
    seen: set[str] = set()
    out = []
    for r in rows:
        k = _key(r["text"])
        if len(k) < 4 or k in seen:
            continue
        if r["lang"] == "zh" and len(r["text"]) > 600:
            continue
        if r["lang"] == "en" and r["source"] != "cfpb_complaints_sample" and len(r["text"]) > 1200:
            continue
        seen.add(k)
        out.append(r)
    return out


def make_taker(pool: list[dict], taken: set[str], chosen: list[dict]):
    """Return ``take(pred, n, stratum)``: move up to ``n`` untaken pool rows matching ``pred`` into
    ``chosen`` (tagged with ``stratum``), in pool order; returns how many it took."""

    def take(pred, n, stratum) -> int:
        got = 0
        for r in pool:
            if got >= n:
                break
            if r["source_ref"] in taken or not pred(r):
                continue
            taken.add(r["source_ref"])
            chosen.append({**r, "stratum": stratum})
            got += 1
        return got

    return take


def write_candidates(rows: list[dict], path: Path, mode: str = "a") -> None:
    """Write (or append) candidate rows to ``candidates.jsonl`` with the candidate schema."""
    with open(path, mode, encoding="utf-8") as fh:
        for r in rows:
            rec = {k: r[k] for k in ("id", "text", "lang", "source", "source_ref", "stratum")}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_batches(rows: list[dict], directory: Path, prefix: str, size: int = 100) -> None:
    """Write the annotators' batch files ``<prefix>NN.txt`` of ``size`` reviews each."""
    for b in range(0, len(rows), size):
        with open(directory / f"{prefix}{b // size + 1:02d}.txt", "w", encoding="utf-8") as fh:
            for r in rows[b:b + size]:
                fh.write(f"### {r['id']}\n{r['text'].strip()}\n\n")


def main() -> None:
    rng = random.Random(SEED)
    pool = load_pool()
    rng.shuffle(pool)
    taken: set[str] = set()
    chosen: list[dict] = []

    take = make_taker(pool, taken, chosen)

    # enriched strata first so rare cases are not consumed by random draws
    take(lambda r: r["lang"] == "zh" and ZH_RISK.search(r["text"]), 700, "enrich:risk")
    take(lambda r: r["lang"] == "zh" and ZH_LOGI.search(r["text"]), 350, "enrich:logistics")
    take(lambda r: r["lang"] == "zh" and ZH_SERV.search(r["text"]), 350, "enrich:service")
    cats = ["书籍", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服", "计算机"]
    for c in cats:
        take(lambda r, c=c: r["source"] == "online_shopping_10_cats" and r["cat"] == c, 120,
             "random:online_shopping_10_cats")
    take(lambda r: r["source"] == "waimai_10k", 640, "random:waimai_10k")
    take(lambda r: r["source"] == "tianchi_ecomm_opinion", 280, "random:tianchi_ecomm_opinion")
    take(lambda r: r["source"] == "cfpb_complaints_sample" and CFPB_RISK.search(r["text"]), 220,
         "enrich:cfpb")
    take(lambda r: r["source"] == "cfpb_complaints_sample", 60, "random:cfpb_complaints_sample")
    take(lambda r: r["lang"] == "en" and r["source"] != "cfpb_complaints_sample"
         and EN_RISK.search(r["text"]), 300, "enrich:risk")
    take(lambda r: r["lang"] == "en" and r["source"] != "cfpb_complaints_sample"
         and EN_LOGI_SERV.search(r["text"]), 200, "enrich:logistics_service")
    take(lambda r: r["source"] == "amazon_polarity_sample", 500, "random:amazon_polarity_sample")
    take(lambda r: r["source"] == "amazon_reviews2023_giftcards", 230,
         "random:amazon_reviews2023_giftcards")
    take(lambda r: r["source"] == "uci_sentiment_sentences", 250, "random:uci_sentiment_sentences")

    OUT.mkdir(parents=True, exist_ok=True)
    for lang in ("zh", "en"):
        rows = [r for r in chosen if r["lang"] == lang]
        rng.shuffle(rows)
        for i, r in enumerate(rows):
            r["id"] = f"{lang}-{i + 1:05d}"
    chosen.sort(key=lambda r: r["id"])
    write_candidates(chosen, OUT / "candidates.jsonl", mode="w")
    bdir = OUT / "batches"
    bdir.mkdir(exist_ok=True)
    for lang in ("zh", "en"):
        write_batches([r for r in chosen if r["lang"] == lang], bdir, f"{lang}_")
    # blind 10% re-annotation sample
    blind = rng.sample(chosen, k=len(chosen) // 10)
    blind.sort(key=lambda r: r["id"])
    with open(OUT / "blind_ids.txt", "w") as fh:
        fh.write("\n".join(r["id"] for r in blind) + "\n")
    write_batches(blind, bdir, "blind_")
    from collections import Counter
    print(len(chosen), Counter((r["lang"], r["stratum"]) for r in chosen))


if __name__ == "__main__":
    main()
