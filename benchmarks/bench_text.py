"""Cost of the text stages on real reviews: normalize (with and without OpenCC t2s) and the
segmenter's cold start, plus how many user-dictionary terms occur in the real corpora; then the
segmenter's one-pass cutter against jieba's ``Tokenizer.lcut`` on every Han run of the CSV corpora
(same tokens? how fast?) and its memo of jieba's HMM (repeat rate, hit rate, size).

Usage: python benchmarks/bench_text.py [--only text|segmenter]   (prints figures; same-run ratios)
"""
from __future__ import annotations

import argparse
import csv
import gc
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


def cpu_pass(fn, items) -> float:
    """CPU seconds of one pass of ``fn`` over ``items``."""
    t = time.process_time()
    for x in items:
        fn(x)
    return time.process_time() - t


def segmenter() -> None:
    import tracemalloc
    from functools import lru_cache

    import jieba
    from bench_service import load_texts

    from reviewnlp import segment as sg
    from reviewnlp.normalize import normalize

    tok = sg.get_tokenizer()
    runs: set[str] = set()
    files = sorted(CORPORA.glob("*/*.csv"))
    for path in files:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                runs.update(m.group() for m in sg._TOKEN.finditer(normalize(line[:20000])) if m.lastgroup == "han")
    inside = sorted(r for r in runs if jieba.re_han_default.fullmatch(r))
    same = sum(sg._dag_cut(r, tok) == tok.lcut(r) for r in inside)
    print(f"Han runs in every line of the {len(files)} CSV corpora: {len(runs):,} distinct, {len(inside):,} inside "
          f"jieba's block; _dag_cut == Tokenizer.lcut on {same:,} of them")

    sample, memo = inside[::10], sg._hmm_cut
    best = {"lcut": float("inf"), "fused, no memo": float("inf"), "fused + memo": float("inf")}
    for _ in range(3):  # alternating passes, best of 3; the memo is emptied before its pass
        best["lcut"] = min(best["lcut"], cpu_pass(tok.lcut, sample))
        sg._hmm_cut = memo.__wrapped__
        best["fused, no memo"] = min(best["fused, no memo"], cpu_pass(lambda r: sg._dag_cut(r, tok), sample))
        sg._hmm_cut = memo
        memo.cache_clear()
        best["fused + memo"] = min(best["fused + memo"], cpu_pass(lambda r: sg._dag_cut(r, tok), sample))
    print(f"CPU for every 10th of those runs ({len(sample):,}), best of 3: " + ", ".join(
        f"{k} {v:.3f} s" for k, v in best.items()) + f"; lcut / fused: {best['lcut'] / best['fused, no memo']:.2f}x "
        f"without the memo, {best['lcut'] / best['fused + memo']:.2f}x with it")

    texts = [normalize(t) for t in load_texts()]
    sg._hmm_cut = lru_cache(maxsize=None)(memo.__wrapped__)
    for t in texts:
        sg.segment(t)
    unbounded = sg._hmm_cut.cache_info()
    sg._hmm_cut = memo
    memo.cache_clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for t in texts:
        sg.segment(t)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    bounded = memo.cache_info()
    calls = bounded.hits + bounded.misses
    print(f"HMM memo on the {len(texts):,} texts of bench_service.py: {calls:,} calls, "
          f"{unbounded.hits / calls:.0%} repeat an earlier run; the {bounded.maxsize:,}-entry cache hits "
          f"{bounded.hits / calls:.0%}; memory kept after the pass (tracemalloc): {kept / 1e6:.1f} MB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("text", "segmenter"), help="run one part")
    args = ap.parse_args()
    if args.only != "segmenter":
        main()
    if args.only != "text":
        segmenter()
