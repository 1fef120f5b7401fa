"""Agreement between the primary annotation pass and the blind 10% re-annotation.

Usage: python datasets/tools/agreement.py  (prints a JSON report, writes datasets/work/disagreements.jsonl)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score, f1_score

sys.path.insert(0, str(Path(__file__).parent))
from check_labels import parse_line  # noqa: E402

WORK = Path(__file__).resolve().parents[1] / "work"
SEV = ["none", "low", "medium", "high", "critical"]
CAUSES = ["product_quality", "logistics", "service_attitude", "other"]
FLAGS = ["safety", "legal", "media", "fraud", "privacy"]


def read_labels(files) -> dict[str, tuple]:
    out = {}
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                rid, c, s, fl = parse_line(line, f"{f}:{n}")
                out[rid] = (c, s, fl, f.stem)
    return out


def main() -> None:
    primary = read_labels(sorted(p for p in (WORK / "labels").glob("*.txt") if not p.name.startswith("blind")))
    blind = read_labels(sorted((WORK / "labels").glob("blind_*.txt")))
    ids = sorted(set(blind) & set(primary))
    a = [primary[i] for i in ids]
    b = [blind[i] for i in ids]
    comp_a = [int(x[1] != "none") for x in a]
    comp_b = [int(x[1] != "none") for x in b]
    sev_a = [SEV.index(x[1]) for x in a]
    sev_b = [SEV.index(x[1]) for x in b]

    def mat(rows, names, k):
        return [[int(n in r[k]) for n in names] for r in rows]

    report = {
        "n": len(ids),
        "kappa_complaint": round(cohen_kappa_score(comp_a, comp_b), 3),
        "kappa_severity": round(cohen_kappa_score(sev_a, sev_b), 3),
        "kappa_severity_quadratic": round(cohen_kappa_score(sev_a, sev_b, weights="quadratic"), 3),
        "severity_exact_agreement": round(sum(x == y for x, y in zip(sev_a, sev_b)) / len(ids), 3),
        "causes_f1_micro": round(f1_score(mat(a, CAUSES, 0), mat(b, CAUSES, 0), average="micro"), 3),
        "flags_f1_micro": round(f1_score(mat(a, FLAGS, 2), mat(b, FLAGS, 2), average="micro", zero_division=0), 3),
        "causes_f1_per_label": dict(zip(CAUSES, [round(v, 3) for v in f1_score(
            mat(a, CAUSES, 0), mat(b, CAUSES, 0), average=None, zero_division=0)])),
        "flags_f1_per_label": dict(zip(FLAGS, [round(v, 3) for v in f1_score(
            mat(a, FLAGS, 2), mat(b, FLAGS, 2), average=None, zero_division=0)])),
    }
    dis = [i for i, x, y in zip(ids, a, b) if x[:3] != y[:3]]
    report["disagreements"] = len(dis)
    cands = {json.loads(line)["id"]: json.loads(line) for line in open(WORK / "candidates.jsonl", encoding="utf-8")}
    with open(WORK / "disagreements.jsonl", "w", encoding="utf-8") as fh:
        for i in dis:
            fh.write(json.dumps({"id": i, "text": cands[i]["text"], "primary": primary[i][:3],
                                 "blind": blind[i][:3]}, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
