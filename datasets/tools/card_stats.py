"""Print the label-distribution tables of the data card (datasets/README.md).

Usage: python datasets/tools/card_stats.py
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEV = ["none", "low", "medium", "high", "critical"]
CAUSES = ["product_quality", "logistics", "service_attitude", "other"]
FLAGS = ["safety", "legal", "media", "fraud", "privacy"]


def main() -> None:
    rows = []
    for s in ("train", "dev", "test"):
        rows += [json.loads(line) for line in open(ROOT / "datasets" / "gold" / f"{s}.jsonl", encoding="utf-8")]
    groups = {}
    for r in rows:
        lang = "zh" if r["lang"] in ("zh", "mixed") else r["lang"]
        groups.setdefault((r["split"], lang), []).append(r)
    cols = ["rows"] + SEV + CAUSES + FLAGS
    print("| split | lang | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for key in sorted(groups, key=lambda k: (["train", "dev", "test"].index(k[0]), k[1])):
        g = groups[key]
        sev = Counter(r["severity"] for r in g)
        cau = Counter(c for r in g for c in r["causes"])
        fl = Counter(f for r in g for f in r["flags"])
        vals = [len(g)] + [sev[s] for s in SEV] + [cau[c] for c in CAUSES] + [fl[f] for f in FLAGS]
        print(f"| {key[0]} | {key[1]} | " + " | ".join(str(v) for v in vals) + " |")
    tot_sev = Counter(r["severity"] for r in rows)
    tot_c = Counter(c for r in rows for c in r["causes"])
    tot_f = Counter(f for r in rows for f in r["flags"])
    vals = [len(rows)] + [tot_sev[s] for s in SEV] + [tot_c[c] for c in CAUSES] + [tot_f[f] for f in FLAGS]
    print("| **all** | | " + " | ".join(str(v) for v in vals) + " |")
    print()
    print("| source | rows | strata |")
    print("|---|---|---|")
    by_src = {}
    for r in rows:
        by_src.setdefault(r["source"], Counter())[r["stratum"]] += 1
    for src, c in sorted(by_src.items()):
        print(f"| {src} | {sum(c.values())} | " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) + " |")
    print()
    print(f"rows with any flag: {sum(1 for r in rows if r['flags'])}")
    print("annotators:", dict(Counter(r["annotator"].split(" ")[0].split("+")[0].split("(")[0] for r in rows)))


if __name__ == "__main__":
    main()
