"""Assemble the gold dataset from the candidates, the annotation passes and the adjudication.

Usage: python datasets/tools/build_gold.py
Writes datasets/gold/{train,dev,test}.jsonl. Deterministic (seed 20261122).

- exact duplicates (normalized text) are dropped; near-duplicates (char 3-gram TF-IDF cosine >= 0.85)
  are grouped and a group never straddles two splits;
- the split is drawn per (lang, source) stratum: 70 % train, 15 % dev, 15 % test; rows already in
  datasets/gold keep their split, so later labelling rounds never reshuffle dev or test.
"""
from __future__ import annotations

import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from check_labels import parse_line  # noqa: E402

from reviewnlp.normalize import normalize  # noqa: E402
from reviewnlp.segment import detect_language  # noqa: E402

WORK = ROOT / "datasets" / "work"
OUT = ROOT / "datasets" / "gold"
SEED = 20261122

# first pass of each batch file: (prefix, first batch, last batch, pass name)
_PASSES = [("zh", 1, 9, "pass:zh-a"), ("zh", 10, 18, "pass:zh-b"), ("zh", 19, 26, "pass:zh-c"),
           ("zh", 27, 34, "pass:zh-d"), ("en", 1, 9, "pass:en-a"), ("en", 10, 17, "pass:en-b")]
PASS_NAMES = {f"{pre}_{i:02d}": name for pre, lo, hi, name in _PASSES for i in range(lo, hi + 1)}


def read_labels(paths):
    out = {}
    for p in paths:
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                rid, c, s, f = parse_line(line, f"{p}:{n}")
                out[rid] = (c, s, f, PASS_NAMES.get(p.stem, "pass:" + p.stem.replace("_", "-")))
    return out


def near_duplicate_groups(texts: list[str], threshold: float = 0.85) -> list[int]:
    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3), min_df=1)
    X = vec.fit_transform(texts)
    parent = list(range(len(texts)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    step = 1000
    for s in range(0, X.shape[0], step):
        sims = (X[s:s + step] @ X.T).tocoo()
        for i, j, v in zip(sims.row + s, sims.col, sims.data):
            if i < j and v >= threshold:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(texts))]


def main() -> None:
    cands = [json.loads(line) for line in open(WORK / "candidates.jsonl", encoding="utf-8")]
    labels_dir = WORK / "labels"
    primary = read_labels(sorted(p for p in labels_dir.glob("*.txt") if not p.name.startswith("blind")))
    blind = read_labels(sorted(labels_dir.glob("blind_*.txt")))
    adjudicated = read_labels([WORK / "adjudicated.txt"]) if (WORK / "adjudicated.txt").exists() else {}

    rows = []
    seen = set()
    dropped = Counter()
    for c in cands:
        if c["id"] not in primary:
            dropped["unlabelled"] += 1
            continue
        norm = normalize(c["text"])
        key = "".join(ch for ch in norm if ch.isalnum())
        if key in seen:
            dropped["exact_duplicate"] += 1
            continue
        seen.add(key)
        causes, sev, flags, who = primary[c["id"]]
        if c["id"] in blind:
            if blind[c["id"]][:3] == (causes, sev, flags):
                who = f"{who}+pass:blind"
            elif c["id"] in adjudicated:
                causes, sev, flags, _ = adjudicated[c["id"]]
                who = f"adjudicated({who},pass:blind)"
            else:
                who = f"{who} (blind disagreed, not adjudicated)"
        lang = detect_language(norm)
        if lang == "other":
            lang = c["lang"]
        rows.append({"id": c["id"], "text": c["text"], "lang": lang, "source": c["source"],
                     "source_ref": c["source_ref"], "causes": causes, "severity": sev, "flags": flags,
                     "stratum": c["stratum"], "annotator": who, "split": ""})

    groups = near_duplicate_groups([normalize(r["text"]) for r in rows])
    # Splits are stable: a row already in datasets/gold keeps its split (rows added in later rounds
    # must not reshuffle the test set); a near-duplicate group inherits the split of an old member.
    previous = {}
    for s in ("train", "dev", "test"):
        f = OUT / f"{s}.jsonl"
        if f.exists():
            for line in open(f, encoding="utf-8"):
                previous[json.loads(line)["id"]] = s
    split_of_group = {}
    for r, g in zip(rows, groups):
        if r["id"] in previous:
            split_of_group.setdefault(g, previous[r["id"]])
    by_stratum = defaultdict(list)
    for r, g in zip(rows, groups):
        by_stratum[(r["lang"] if r["lang"] != "mixed" else "zh", r["source"])].append(g)
    rng = random.Random(SEED)
    for key in sorted(by_stratum):
        gs = sorted(set(by_stratum[key]) - set(split_of_group))
        rng.shuffle(gs)
        n = len(gs)
        for i, g in enumerate(gs):
            split_of_group[g] = "train" if i < 0.70 * n else ("dev" if i < 0.85 * n else "test")
    for r, g in zip(rows, groups):
        r["split"] = split_of_group[g]

    OUT.mkdir(parents=True, exist_ok=True)
    for s in ("train", "dev", "test"):
        with open(OUT / f"{s}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                if r["split"] == s:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    stats = {
        "rows": len(rows), "dropped": dict(dropped),
        "near_duplicate_groups_with_2plus": sum(1 for v in Counter(groups).values() if v > 1),
        "by_split": dict(Counter(r["split"] for r in rows)),
        "by_lang": dict(Counter(r["lang"] for r in rows)),
        "severity": dict(Counter(r["severity"] for r in rows)),
        "causes": dict(Counter(c for r in rows for c in r["causes"])),
        "flags": dict(Counter(f for r in rows for f in r["flags"])),
    }
    print(json.dumps(stats, ensure_ascii=False, indent=1))
    _ = np  # keep numpy import explicit for the similarity step


if __name__ == "__main__":
    main()
