"""Check an annotator's label file against its batch.

Usage: python datasets/tools/check_labels.py datasets/work/labels/zh_01.txt

Label file format, one line per review, whitespace separated::

    <id> <causes> <severity> <flags>

causes: letters P (product_quality) L (logistics) S (service_attitude)
O (other), e.g. ``PL``, or ``-`` for none; severity: 0-4
(none, low, medium, high, critical); flags: comma-separated from
safety,legal,media,fraud,privacy or ``-``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

CAUSES = {"P": "product_quality", "L": "logistics", "S": "service_attitude", "O": "other"}
SEVERITY = ["none", "low", "medium", "high", "critical"]
FLAGS = {"safety", "legal", "media", "fraud", "privacy"}


def parse_line(line: str, where: str) -> tuple[str, list[str], str, list[str]]:
    parts = line.split()
    if len(parts) != 4:
        raise ValueError(f"{where}: expected 4 fields, got {len(parts)}: {line!r}")
    rid, c, s, f = parts
    causes = [] if c == "-" else [CAUSES[ch] for ch in c if ch in CAUSES]
    if c != "-" and (len(causes) != len(c) or len(set(causes)) != len(causes)):
        raise ValueError(f"{where}: bad causes {c!r}")
    if s not in "01234" or len(s) != 1:
        raise ValueError(f"{where}: bad severity {s!r}")
    flags = [] if f == "-" else f.split(",")
    bad = [x for x in flags if x not in FLAGS]
    if bad:
        raise ValueError(f"{where}: unknown flags {bad}")
    sev = SEVERITY[int(s)]
    if (not causes) != (sev == "none"):
        raise ValueError(f"{where}: no causes <=> severity none is violated")
    return rid, sorted(causes), sev, sorted(set(flags))


def main(path: str) -> int:
    p = Path(path)
    batch = p.parents[1] / "batches" / p.name
    want = re.findall(r"^### (\S+)$", batch.read_text(encoding="utf-8"), flags=re.M)
    got = []
    errors = 0
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            got.append(parse_line(line, f"{p}:{n}")[0])
        except (ValueError, KeyError) as e:
            print(e)
            errors += 1
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    dup = len(got) - len(set(got))
    if missing:
        print(f"{p}: missing {len(missing)} ids: {missing[:10]}")
    if extra:
        print(f"{p}: unknown ids: {extra[:10]}")
    if dup:
        print(f"{p}: {dup} duplicate ids")
    ok = not (errors or missing or extra or dup)
    print(f"{p}: {'OK' if ok else 'FAILED'} ({len(got)}/{len(want)} rows)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
