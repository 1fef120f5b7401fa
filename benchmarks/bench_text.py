"""Cost of the text stages on real reviews: normalize (with and without OpenCC t2s) and the
segmenter's cold start, plus how many user-dictionary terms occur in the real corpora.

Usage: python benchmarks/bench_text.py   (prints a table; same-run ratios)
"""
from __future__ import annotations

import csv
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPORA = ROOT.parent / "shared" / "corpora"


def reviews(n: int = 5000) -> list[str]:
    with open(CORPORA / "waimai_10k" / "waimai_10k.csv", encoding="utf-8") as fh:
        out = [r["review"] for r in csv.DictReader(fh) if r["review"].strip()][: n // 2]
    with open(CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv", encoding="utf-8-sig") as fh:
        out += [r["review"] for r in csv.DictReader(fh) if r["review"] and r["cat"] != "酒店"][: n - len(out)]
    return out


def per_review_us(fn, texts, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for x in texts:
            fn(x)
        best = min(best, time.perf_counter() - t)
    return best / len(texts) * 1e6


def main() -> None:
    from reviewnlp import normalize as nm

    texts = reviews()
    nm.normalize("預熱")
    with_t2s = per_review_us(nm.normalize, texts)
    original = nm._t2s
    nm._t2s = lambda s: s  # the same pipeline without the conversion
    without = per_review_us(nm.normalize, texts)
    nm._t2s = original
    t2s_only = per_review_us(nm._t2s, texts)
    # personal-data masking: with its shortcuts vs every scan, on the texts as normalize sees them
    folded = [nm._WS.sub(" ", unicodedata.normalize("NFKC", t)).lower() for t in texts]
    mask_fast = per_review_us(nm.mask_personal_data, folded)
    mask_all = per_review_us(nm._apply_masks, folded)
    mask_same = sum(nm.mask_personal_data(t) == nm._apply_masks(t) for t in folded)
    code = "import time; t=time.perf_counter(); from reviewnlp.segment import get_tokenizer; get_tokenizer(); " \
           "print(time.perf_counter()-t)"
    cold = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                 check=True).stdout) for _ in range(3)]
    terms = [line.split()[0] for line in (ROOT / "reviewnlp" / "resources" / "userdict.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = "\n".join(reviews(80000)).lower()
    found = sum(1 for t in terms if corpus.count(t) >= 2)
    print(f"reviews measured: {len(texts)} (waimai_10k + online_shopping_10_cats, real)")
    print(f"normalize, per review:           {with_t2s:8.1f} µs")
    print(f"normalize without t2s:           {without:8.1f} µs   (t2s share {1 - without / with_t2s:.0%})")
    print(f"OpenCC t2s alone, per review:    {t2s_only:8.1f} µs")
    print(f"masking personal data:           {mask_fast:8.1f} µs   (every scan: {mask_all:.1f} µs; "
          f"same output on {mask_same} of {len(folded)} reviews)")
    print(f"segmenter cold start (3 runs):   {', '.join(f'{c:.2f}' for c in cold)} s")
    print(f"user dictionary: {len(terms)} terms, {found} occur at least twice in the zh shop/delivery corpora")


if __name__ == "__main__":
    main()
