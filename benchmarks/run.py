"""The reviewnlp benchmark suite: every figure next to a peer measured in the same run.

    python benchmarks/run.py            # everything, < 5 minutes on 2 idle cores
    python benchmarks/run.py --quick    # every benchmark with tiny sizes (< 60 s; the smoke test)
    python benchmarks/run.py --full     # also the 100k-review batch (adds ~1.5 minutes)

All inputs are real reviews from the shared corpora (``$REVIEWNLP_CORPORA`` or
``../shared/corpora``: waimai_10k, online_shopping_10_cats without its hotel rows,
amazon_polarity_sample) and the gold splits in ``datasets/gold``; longer texts are made by
concatenating real reviews, large batches by repeating them. Nothing is invented.

Prints a table (figure, peer, ratio = figure / peer, target, PASS/MISS) and writes it as JSON
(``benchmarks/results/latest.json``; ``quick.json`` with ``--quick``, ``full.json`` with ``--full``)
together with the machine's description and load average. What each row means: ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

import common  # noqa: E402
from common import (  # noqa: E402
    Corpus,
    concat_to_length,
    gold,
    local_slopes,
    loglog_slope,
    median,
    time_blocks,
    time_per_item,
    wall_and_cpu,
)

BUDGET_S = 300
BATCH_SIZES = (1, 10, 100, 1000, 10000, 100000)
SMALL_SAMPLE = 200  # reviews shared by the batch sizes 1, 10 and 100
LENGTHS = (10, 100, 1000, 10000)
EXPONENT_LIMIT = 1.1  # "nothing may grow faster than linearly": 1.0 plus 0.1 for timing noise

MODES: dict[str, dict[str, Any]] = {
    "quick": dict(single_n=8, single_rounds=1, batch_n=300, batch_repeats=1, batch_sizes=(1, 10, 100),
                  seg_n=60, seg_rounds=1, length_counts={10: 3, 100: 2, 1000: 1, 10000: 1}, length_rounds=1,
                  cold_repeats=1, cold_warmup=False, train_rows=300, dev_rows=100, ft_epoch=5, snownlp_n=5,
                  snownlp_rounds=1, breakdown=False, scaling_repeats=1, fit_runs=1),
    "default": dict(single_n=150, single_rounds=3, batch_n=10000, batch_repeats=5,
                    batch_sizes=(1, 10, 100, 1000, 10000), seg_n=600, seg_rounds=3,
                    length_counts={10: 60, 100: 40, 1000: 20, 10000: 6}, length_rounds=3, cold_repeats=3,
                    cold_warmup=True, train_rows=None, dev_rows=None, ft_epoch=25, snownlp_n=100,
                    snownlp_rounds=2, breakdown=True, scaling_repeats=2, fit_runs=3),
}
MODES["full"] = dict(MODES["default"], batch_sizes=BATCH_SIZES)

US = 1e6


# -- rows -----------------------------------------------------------------------------------------
def make_row(id: str, title: str, figure: float | None, peer: float | None, unit: str, *, ours: str, peer_is: str,
             better: str | None = "lower", target: tuple[str, str, float, str] | None = None,
             n: int | None = None, extra: dict[str, Any] | None = None, note: str | None = None,
             status: str = "measured") -> dict[str, Any]:
    """One table row. ``ratio = figure / peer``. ``target = (on, op, value, text)`` with ``on`` one of
    ``ratio``/``figure`` and ``op`` ``<=``/``>=``; ``pass`` is None when the row has no target."""
    ratio = figure / peer if figure is not None and peer not in (None, 0) else None
    ok = None
    if target is not None and status == "measured":
        on, op, value, _ = target
        x = ratio if on == "ratio" else figure
        if x is not None:
            ok = bool(x <= value) if op == "<=" else bool(x >= value)
    return {
        "id": id, "title": title, "figure": _r(figure), "peer": _r(peer), "ratio": _r(ratio), "unit": unit,
        "ours": ours, "peer_is": peer_is, "better": better,
        "target": target[3] if target else None,
        "target_check": {"on": target[0], "op": target[1], "value": target[2]} if target else None,
        "pass": ok, "status": status, "n": n, "note": note, "extra": extra or {},
    }


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None:
        return None
    return float(f"{x:.{nd}g}")


def skipped_row(id: str, title: str, unit: str, why: str, **kw: Any) -> dict[str, Any]:
    return make_row(id, title, None, None, unit, status="skipped", note=why, **kw)


class Suite:
    def __init__(self, mode: str, seed: int):
        self.mode = mode
        self.cfg = MODES[mode]
        self.seed = seed
        self.rows: list[dict[str, Any]] = []
        self.corpus = Corpus(seed)
        self.fresh = common.Fresh()
        self.model = None
        self.fresh_model = None
        self.train_seconds = None
        self.external: dict[str, Any] = {}
        self._batch_texts: list[str] | None = None
        self._batch_result: dict[str, Any] | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        print(f"  {row['id']}: {common.fmt_num(row['figure'], row['unit'])} vs "
              f"{common.fmt_num(row['peer'], row['unit'])} -> {common.fmt_ratio(row)} {common.fmt_pass(row)}",
              flush=True)

    # shared state -------------------------------------------------------------------------------
    def load_model(self):
        if self.model is None:
            import reviewnlp

            self.model = reviewnlp.load()
            self.model.classify(self.corpus.mix(1)[0])  # builds the lean scorer, loads the dictionary
            self.fresh.refresh()
        return self.model

    def batch_texts(self) -> list[str]:
        if self._batch_texts is None:
            self._batch_texts = self.corpus.mix(self.cfg["batch_n"])
        return self._batch_texts


# -- benchmarks -----------------------------------------------------------------------------------
_CHILD_OURS = r"""
import json, os, time
import psutil
proc = psutil.Process()
t0 = time.perf_counter()
import reviewnlp, reviewnlp.model, reviewnlp.persistence
t1 = time.perf_counter()
m = reviewnlp.load()
t2 = time.perf_counter()
rss_model = proc.memory_info().rss
from reviewnlp.segment import get_tokenizer
get_tokenizer()
t3 = time.perf_counter()
m.classify(os.environ["REVIEWNLP_BENCH_TEXT"])
t4 = time.perf_counter()
out = {"total": t4 - t0, "import": t1 - t0, "model": t2 - t1, "dictionary": t3 - t2,
       "first_prediction": t4 - t3, "rss_mb": proc.memory_info().rss / 2**20,
       "rss_after_model_mb": rss_model / 2**20}
# after the timed part: the first batch imports SciPy and builds the lean key tables
t5 = time.perf_counter()
m.classify_many([os.environ["REVIEWNLP_BENCH_TEXT"]] * 2)
out.update(first_batch=time.perf_counter() - t5, rss_after_batch_mb=proc.memory_info().rss / 2**20)
print(json.dumps(out))
"""
_CHILD_PEER = r"""
import json, logging, time
import psutil
proc = psutil.Process()
t0 = time.perf_counter()
import jieba
jieba.setLogLevel(logging.WARNING)
jieba.initialize()
t1 = time.perf_counter()
rss_jieba = proc.memory_info().rss
import sklearn
t2 = time.perf_counter()
print(json.dumps({"total": t2 - t0, "jieba_initialize": t1 - t0, "import_sklearn": t2 - t1,
                  "rss_jieba_mb": rss_jieba / 2**20, "rss_mb": proc.memory_info().rss / 2**20}))
"""
_CHILD_BARE = r"""
import json
import psutil
print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def _child(code: str, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ, **(env_extra or {}))
    env.setdefault("PYTHONHASHSEED", "0")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                          cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall"] = wall
    return out


def bench_cold_start_and_memory(s: Suite) -> None:
    """Fresh subprocesses: ours = import + model + dictionary + first prediction; peer =
    ``jieba.initialize()`` + ``import sklearn``. The same processes give the RSS figures."""
    text = s.corpus.mix(1)[0]
    env = {"REVIEWNLP_BENCH_TEXT": text}
    if s.cfg["cold_warmup"]:  # builds/warms both dictionary caches and the OS page cache; discarded
        _child(_CHILD_OURS, env)
        _child(_CHILD_PEER)
    ours, peer = [], []
    for _ in range(s.cfg["cold_repeats"]):
        ours.append(_child(_CHILD_OURS, env))
        peer.append(_child(_CHILD_PEER))
    bare = _child(_CHILD_BARE)

    def med(runs, key):
        return median([r[key] for r in runs])

    phases = {k: round(med(ours, k), 4) for k in ("import", "model", "dictionary", "first_prediction")}
    s.add(make_row(
        "cold_start", "cold start in a fresh process (s)", med(ours, "total"), med(peer, "total"), "s",
        ours="import reviewnlp + reviewnlp.load() + get_tokenizer() + first classify()",
        peer_is="import jieba; jieba.initialize(); import sklearn",
        target=("ratio", "<=", 1.5, "ratio <= 1.5"), n=len(ours),
        extra={"ours_phases_s": phases,
               "peer_phases_s": {k: round(med(peer, k), 4) for k in ("jieba_initialize", "import_sklearn")},
               "ours_runs_s": [round(r["total"], 4) for r in ours], "peer_runs_s": [round(r["total"], 4) for r in peer],
               "ours_process_wall_s": round(med(ours, "process_wall"), 4),
               "peer_process_wall_s": round(med(peer, "process_wall"), 4),
               "caches": "warm: both jieba prefix-dict caches exist, one discarded warm-up run each"
               if s.cfg["cold_warmup"] else "no warm-up run (quick mode)"},
    ))
    s.add(make_row(
        "memory_rss", "RSS of a serving process after loading (MiB)", med(ours, "rss_mb"), med(peer, "rss_jieba_mb"),
        "MiB", ours="RSS after model + dictionary + first prediction (psutil imported)",
        peer_is="RSS of a bare process after jieba.initialize() (psutil imported)",
        target=("ratio", "<=", 2.0, "ratio <= 2"), n=len(ours),
        extra={"ours_rss_after_model_only_mb": round(med(ours, "rss_after_model_mb"), 1),
               "ours_rss_after_first_batch_mb": round(med(ours, "rss_after_batch_mb"), 1),
               "ours_first_batch_s": round(med(ours, "first_batch"), 4),
               "first_batch_note": "classify_many of 2 reviews after the single one: imports SciPy and "
                                   "builds the lean key tables (not in the ratio)",
               "peer_rss_after_import_sklearn_mb": round(med(peer, "rss_mb"), 1),
               "bare_python_mb": round(bare["rss_mb"], 1)},
    ))


def bench_single(s: Suite) -> None:
    from reviewnlp.normalize import normalize

    m = s.load_model()
    pipe = m.pipeline
    texts = s.corpus.mix(s.cfg["single_n"], offset=10000)
    items = [(t, normalize(t)) for t in texts]
    res = time_per_item({
        "lean": lambda x: m.predict_proba([x[0]]),
        "classify": lambda x: m.classify(x[0]),
        "sklearn": lambda x: pipe.predict_proba([x[1]]),
    }, items, rounds=s.cfg["single_rounds"], warmup=min(5, len(items)), before=s.fresh)
    peer = res["sklearn"]["median"] * US
    ex = {k: {"median_us": round(v["median"] * US, 1), "p90_us": round(v["p90"] * US, 1),
              "mean_us": round(v["mean"] * US, 1)} for k, v in res.items()}
    s.add(make_row(
        "single_review", "one review in-process, median latency (µs)", res["lean"]["median"] * US, peer, "µs",
        ours="model.predict_proba([raw text]) (lean; includes input checks + normalization)",
        peer_is="model.pipeline.predict_proba([normalized text]) (normalization NOT timed)",
        target=("ratio", "<=", 0.2, "ratio <= 0.2 (>= 5x faster)"), n=len(items),
        extra={"timings": ex, "rounds": s.cfg["single_rounds"]}))
    s.add(make_row(
        "single_review_classify", "one review, full classify() with explanation (µs)",
        res["classify"]["median"] * US, peer, "µs",
        ours="model.classify(raw text): lean + decisions + lexicon explanation",
        peer_is="model.pipeline.predict_proba([normalized text])", n=len(items), extra={"timings": ex}))


def _batch_measure(s: Suite, texts: list[str], repeats: int, bare_pipeline: bool = False) -> dict[str, Any]:
    """Both engines of ``ReviewModel.predict_proba`` on the same raw texts (each normalizes them);
    with ``bare_pipeline``, also ``Pipeline.predict_proba`` on texts normalized beforehand."""
    from reviewnlp.normalize import normalize

    m = s.load_model()
    fns = {"lean": lambda: m.predict_proba(texts), "sklearn": lambda: m.predict_proba(texts, engine="sklearn")}
    if bare_pipeline:
        norm = [normalize(t) for t in texts]
        fns["pipeline_on_normalized"] = lambda: m.pipeline.predict_proba(norm)
    return time_blocks(fns, repeats=repeats, before=s.fresh, collect=len(texts) >= 1000)


def bench_batch(s: Suite) -> None:
    from reviewnlp.normalize import normalize

    m = s.load_model()
    texts = s.batch_texts()
    m.predict_proba(texts[:50])  # warm-up
    m.pipeline.predict_proba([normalize(t) for t in texts[:50]])
    norm_wall, norm_cpu, norm = wall_and_cpu(lambda: [normalize(t) for t in texts], before=s.fresh)
    # the per-review stages both paths share, on the same batch (caches cleared before each)
    from reviewnlp.lexicon import scan
    from reviewnlp.segment import segment

    seg_cpu = wall_and_cpu(lambda: [segment(t) for t in norm], before=s.fresh)[1]
    lex_cpu = wall_and_cpu(lambda: [scan(t) for t in norm], before=s.fresh)[1]
    res = _batch_measure(s, texts, s.cfg["batch_repeats"], bare_pipeline=True)
    bare = res.pop("pipeline_on_normalized")
    s._batch_result = res
    n = len(texts)
    s.add(make_row(
        "batch", f"batch of {n:,} reviews, wall time (s)", res["lean"]["median"], res["sklearn"]["median"], "s",
        ours="model.predict_proba(raw texts): the lean engine (includes normalization)",
        peer_is="model.predict_proba(raw texts, engine='sklearn'): the scikit-learn engine (includes normalization)",
        target=("ratio", "<=", 1 / 1.5, "ratio <= 0.667 (>= 1.5x throughput)"), n=n,
        extra={"runs_s": {k: v["runs"] for k, v in res.items()}, "repeats": s.cfg["batch_repeats"],
               "cpu_s": {k: round(v["cpu_median"], 4) for k, v in res.items()},
               "cpu_ratio": round(res["lean"]["cpu_median"] / res["sklearn"]["cpu_median"], 4),
               "stricter_peer": {
                   "is": "model.pipeline.predict_proba(texts normalized beforehand): normalization, which both "
                         "engines need, NOT timed for the peer (the batch row's peer until 2026-12-02T22:00)",
                   "median_s": round(bare["median"], 4), "runs_s": bare["runs"],
                   "ratio": round(res["lean"]["median"] / bare["median"], 4)},
               "ours_reviews_per_s": round(n / res["lean"]["median"], 1),
               "peer_reviews_per_s": round(n / res["sklearn"]["median"], 1),
               "normalization_of_the_batch_s": round(norm_wall, 4), "normalization_cpu_s": round(norm_cpu, 4),
               "segmentation_cpu_s": round(seg_cpu, 4), "lexicon_scan_cpu_s": round(lex_cpu, 4),
               "shares_of_ours_cpu": {k: round(v / res["lean"]["cpu_median"], 3) for k, v in
                                      (("normalize", norm_cpu), ("segment", seg_cpu), ("lexicon_scan", lex_cpu))}},
        note=None if n == 10000 else f"quick mode: {n} reviews instead of 10,000"))


def bench_batch_scaling(s: Suite) -> None:
    """CPU cost per review at batch sizes 1..100k; the fitted exponent of total CPU time vs batch size.

    CPU time (time.process_time), not wall: the question is how the work grows with the input, and
    on a shared machine the wall clock also measures the other tenants. Wall figures are in ``extra``.
    """
    base = s.batch_texts()
    sizes, ours_c, peer_c, ours_w, peer_w = [], [], [], [], []
    for size in BATCH_SIZES:
        rid, title = f"batch_size_{size}", f"batch of {size:,}: CPU cost per review (µs)"
        kw = dict(ours="model.predict_proba(batch), CPU per review",
                  peer_is="model.predict_proba(batch, engine='sklearn'), CPU per review")
        if size not in s.cfg["batch_sizes"]:
            why = ("not measured by default (~2 minutes); run with --full" if size == 100000
                   else "not measured in quick mode")
            s.add(skipped_row(rid, title, "µs", why, **kw))
            continue
        extra: dict[str, Any] = {}
        if size == len(base) and s._batch_result is not None:
            res, reps = s._batch_result, s.cfg["batch_repeats"]
            sample = base
            extra["shared_with"] = "batch (same texts, same runs; that row shows wall time)"
        elif size > len(base):
            sample = (base * (size // len(base) + 1))[:size]
            reps = 1
            res = _batch_measure(s, sample, reps)
            extra["input"] = f"{len(base):,} distinct real reviews repeated {size // len(base)} times; 1 repeat"
        else:
            # the first max(SMALL_SAMPLE, size) reviews of the mix, cut into batches of `size`; every
            # batch is timed and the per-review cost is the total over the sample / its size, so sizes
            # 1, 10 and 100 are measured on exactly the same reviews
            sample = base[:max(SMALL_SAMPLE, size)]
            reps = s.cfg["scaling_repeats"] if size < 1000 else s.cfg["batch_repeats"]
            tot: dict[str, list[float]] = {"lean": [], "sklearn": []}
            cpu: dict[str, list[float]] = {"lean": [], "sklearn": []}
            for _ in range(reps):
                acc_w, acc_c = dict.fromkeys(tot, 0.0), dict.fromkeys(tot, 0.0)
                for i in range(0, len(sample), size):
                    one = _batch_measure(s, sample[i:i + size], 1)
                    for k in tot:
                        acc_w[k] += one[k]["median"]
                        acc_c[k] += one[k]["cpu_median"]
                for k in tot:
                    tot[k].append(acc_w[k] * size / len(sample))  # time per batch of `size`
                    cpu[k].append(acc_c[k] * size / len(sample))
            res = {k: {"median": median(tot[k]), "cpu_median": median(cpu[k])} for k in tot}
            extra["input"] = (f"the first {len(sample):,} reviews of the mix in {len(sample) // size:,} batches; "
                              f"median of {reps} passes")
        extra["sample_chars_per_review"] = round(sum(map(len, sample)) / len(sample), 1)
        sizes.append(size)
        ours_c.append(res["lean"]["cpu_median"])
        peer_c.append(res["sklearn"]["cpu_median"])
        ours_w.append(res["lean"]["median"])
        peer_w.append(res["sklearn"]["median"])
        extra["total_cpu_s"] = {"ours": round(ours_c[-1], 6), "peer": round(peer_c[-1], 6)}
        extra["wall_us_per_review"] = {"ours": round(ours_w[-1] / size * US, 1),
                                       "peer": round(peer_w[-1] / size * US, 1)}
        extra["repeats"] = reps
        s.add(make_row(rid, title, ours_c[-1] / size * US, peer_c[-1] / size * US, "µs", n=size, extra=extra, **kw))
    _exponent_row(s, "batch_exponent", "exponent of total CPU time vs batch size", sizes, ours_c, peer_c,
                  "model.predict_proba(batch)", "pipeline.predict_proba(batch)", ours_w, peer_w)


def _exponent_row(s: Suite, rid: str, title: str, sizes, ours_t, peer_t, ours: str, peer_is: str,
                  ours_wall=None, peer_wall=None) -> None:
    if len(sizes) < 2:
        s.add(skipped_row(rid, title, "", "fewer than two sizes measured", ours=ours, peer_is=peer_is, better=None))
        return
    b_ours, b_peer = loglog_slope(sizes, ours_t), loglog_slope(sizes, peer_t)
    steps = local_slopes(sizes, ours_t)
    extra = {"sizes": list(sizes), "ours_step_exponents": [round(x, 3) for x in steps],
             "peer_step_exponents": [round(x, 3) for x in local_slopes(sizes, peer_t)],
             "ours_total_cpu_s": [round(x, 6) for x in ours_t], "peer_total_cpu_s": [round(x, 6) for x in peer_t]}
    if ours_wall:
        extra["wall_clock"] = {"ours_exponent": round(loglog_slope(sizes, ours_wall), 3),
                               "peer_exponent": round(loglog_slope(sizes, peer_wall), 3),
                               "ours_step_exponents": [round(x, 3) for x in local_slopes(sizes, ours_wall)]}
    row = make_row(
        rid, title, b_ours, b_peer, "", ours=f"{ours}: fitted exponent b of CPU time ~ size^b",
        peer_is=f"{peer_is}: fitted exponent", better=None,
        target=("figure", "<=", EXPONENT_LIMIT, f"exponent <= {EXPONENT_LIMIT} (fit and every step)"),
        n=len(sizes), extra=extra)
    if row["pass"] is not None:
        row["pass"] = bool(row["pass"] and max(steps) <= EXPONENT_LIMIT)
    s.add(row)


def bench_length_scaling(s: Suite) -> None:
    """CPU cost per character of one text of 10..10,000 characters; fitted exponent (CPU, see above)."""
    from reviewnlp.normalize import normalize

    m = s.load_model()
    pipe = m.pipeline
    for lang, pool in (("zh", s.corpus.zh()), ("en", s.corpus.en())):
        sizes, ours_t, peer_t, ours_w, peer_w = [], [], [], [], []
        start = 0
        for length in LENGTHS:
            count = s.cfg["length_counts"][length]
            texts = concat_to_length(pool, length, count, start=start)
            start += count * (length // 20 + 1)
            items = [(t, normalize(t)) for t in texts]
            res = time_per_item({"lean": lambda x: m.predict_proba([x[0]]),
                                 "sklearn": lambda x: pipe.predict_proba([x[1]])},
                                items, rounds=s.cfg["length_rounds"], warmup=1, before=s.fresh)
            sizes.append(length)
            ours_t.append(res["lean"]["cpu_median"])
            peer_t.append(res["sklearn"]["cpu_median"])
            ours_w.append(res["lean"]["median"])
            peer_w.append(res["sklearn"]["median"])
            s.add(make_row(
                f"length_{lang}_{length}", f"{lang} text of {length:,} chars: CPU cost per char (µs)",
                ours_t[-1] / length * US, peer_t[-1] / length * US, "µs",
                ours="model.predict_proba([text]) CPU / chars",
                peer_is="pipeline.predict_proba([normalized]) CPU / chars", n=len(items),
                extra={"cpu_per_text_ms": {"ours": round(ours_t[-1] * 1e3, 3), "peer": round(peer_t[-1] * 1e3, 3)},
                       "wall_per_text_ms": {"ours": round(ours_w[-1] * 1e3, 3), "peer": round(peer_w[-1] * 1e3, 3)},
                       "input": "consecutive real reviews joined by a space, cut at the length"}))
        _exponent_row(s, f"length_exponent_{lang}", f"{lang}: exponent of CPU time vs text length", sizes, ours_t,
                      peer_t, "model.predict_proba([text])", "pipeline.predict_proba([text])", ours_w, peer_w)


def bench_segmentation(s: Suite) -> None:
    """CPU time (time.process_time) of segmentation vs the whole per-review path; our segment() vs jieba.lcut."""
    import logging

    import jieba

    from reviewnlp.normalize import normalize
    from reviewnlp.segment import segment

    m = s.load_model()
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    texts = s.corpus.mix(s.cfg["seg_n"], offset=11000)
    norms = [normalize(t) for t in texts]
    for n in norms[:20]:
        jieba.lcut(n)
        segment(n)
    res = time_blocks({
        "segment": lambda: [segment(n) for n in norms],
        "predict": lambda: [m.predict_proba([t]) for t in texts],
        "classify": lambda: [m.classify(t) for t in texts],
        "jieba": lambda: [jieba.lcut(n) for n in norms],
    }, repeats=s.cfg["seg_rounds"], before=s.fresh)
    per = {k: v["cpu_median"] / len(texts) * US for k, v in res.items()}
    s.add(make_row(
        "segmentation_share", "segmentation CPU time vs per-review CPU time (µs)", per["segment"], per["predict"],
        "µs", ours="segment(normalized text), CPU µs per review",
        peer_is="whole per-review prediction model.predict_proba([raw text]), CPU µs per review",
        target=("ratio", "<=", 0.5, "ratio <= 0.5"), n=len(texts),
        extra={"cpu_us_per_review": {k: round(v, 1) for k, v in per.items()},
               "share_of_classify": round(per["segment"] / per["classify"], 4),
               "jieba_lcut_share_of_predict": round(per["jieba"] / per["predict"], 4),
               "clock": "time.process_time", "repeats": s.cfg["seg_rounds"]}))
    s.add(make_row(
        "segment_vs_jieba", "our segment() vs raw jieba.lcut (CPU µs/review)", per["segment"], per["jieba"], "µs",
        ours="reviewnlp.segment.segment (project tokenizer + user dict, units, negation scope)",
        peer_is="jieba.lcut (global default dictionary, HMM on)", n=len(texts)))


def bench_snownlp(s: Suite) -> None:
    m = s.load_model()
    t0 = time.perf_counter()
    from snownlp import SnowNLP

    texts = s.corpus.zh()[:s.cfg["snownlp_n"]]
    _ = SnowNLP(texts[0]).sentiments
    first = time.perf_counter() - t0
    res = time_per_item({"ours": lambda t: m.classify(t), "snownlp": lambda t: SnowNLP(t).sentiments},
                        texts, rounds=s.cfg["snownlp_rounds"], warmup=min(3, len(texts)), before=s.fresh)
    s.add(make_row(
        "snownlp_sentiment", "zh review: our classify() vs SnowNLP sentiment, median (µs)",
        res["ours"]["median"] * US, res["snownlp"]["median"] * US, "µs",
        ours="model.classify(text): causes, severity, flags, explanation",
        peer_is="SnowNLP(text).sentiments (a single polarity score)", n=len(texts),
        extra={"snownlp_import_and_first_call_s": round(first, 3),
               "p90_us": {k: round(v["p90"] * US, 1) for k, v in res.items()}}))


def bench_training(s: Suite) -> None:
    from reviewnlp.normalize import normalize
    from reviewnlp.segment import get_tokenizer, segment
    from reviewnlp.train import DEFAULT_PARAMS, fit

    rows = gold("train")
    if s.cfg["train_rows"]:
        rows = rows[:s.cfg["train_rows"]]
    get_tokenizer()
    seg_runs = [wall_and_cpu(lambda: [segment(normalize(r["text"])) for r in rows], before=s.fresh)[:2]
                for _ in range(s.cfg["seg_rounds"])]
    seg_wall, seg_cpu = median([x[0] for x in seg_runs]), median([x[1] for x in seg_runs])
    fits = [wall_and_cpu(lambda: fit(rows), before=s.fresh) for _ in range(s.cfg["fit_runs"])]
    fit_wall, fit_cpu, model = median([f[0] for f in fits]), median([f[1] for f in fits]), fits[-1][2]
    s.fresh_model = model
    s.train_seconds = fit_wall
    extra: dict[str, Any] = {
        "fit_cpu_s": round(fit_cpu, 3), "segment_cpu_s": round(seg_cpu, 3),
        "cpu_ratio": round(fit_cpu / seg_cpu, 2) if seg_cpu else None,
        "fit_runs_s": [round(f[0], 4) for f in fits], "segment_runs_s": [round(x[0], 4) for x in seg_runs],
        "train_rows": len(rows), "train_chars": sum(len(r["text"]) for r in rows),
        "params": "reviewnlp.train.DEFAULT_PARAMS (13 heads, Platt calibration with 3-fold CV, liblinear's "
                  "dual solver), heads one after the other (the default)",
    }
    if s.cfg["breakdown"]:
        from reviewnlp.features import TextFeatures

        fparams = {k.split("__", 1)[1]: v for k, v in DEFAULT_PARAMS.items() if k.startswith("features__")}
        nw, _, norm = wall_and_cpu(lambda: [normalize(r["text"]) for r in rows], before=s.fresh)
        fw, _, _ = wall_and_cpu(lambda: TextFeatures(**fparams).fit_transform(norm), before=s.fresh)
        # the same fit with uncalibrated heads (one fit per head instead of four): how far that gets
        uncal = median([wall_and_cpu(lambda: fit(rows, params={"heads__calibration": None}), before=s.fresh)[0]
                        for _ in range(s.cfg["fit_runs"])])
        extra["breakdown_s"] = {
            "normalize": round(nw, 3),
            "features_fit_transform": round(fw, 3),
            "heads_and_rest (fit - normalize - features)": round(fit_wall - nw - fw, 3),
            # what the ratio would be if the 13 heads cost nothing: the feature pass alone
            "ratio_if_heads_were_free": round((nw + fw) / seg_wall, 2) if seg_wall else None,
            "fit_with_uncalibrated_heads_s": round(uncal, 3),
            "ratio_with_uncalibrated_heads": round(uncal / seg_wall, 2) if seg_wall else None,
            "note": "measured separately from the fit() run above; TextFeatures.fit_transform segments every "
                    "text once; the heads are fitted one after the other (train.fit's default)",
        }
    s.add(make_row(
        "training", f"fit() on the gold train split ({len(rows):,} rows) vs segmenting it (s)", fit_wall, seg_wall,
        "s", ours="reviewnlp.train.fit(train rows), default params, wall (median of runs)",
        peer_is="normalize + segment every training text once, wall (median of repeats)",
        target=("ratio", "<=", 2.0, "ratio <= 2"), n=len(rows), extra=extra,
        note=None if not s.cfg["train_rows"] else f"quick mode: first {len(rows)} train rows"))


def bench_fasttext(s: Suite) -> None:
    import fasttext

    from reviewnlp.normalize import normalize
    from reviewnlp.segment import segment

    train = gold("train")
    dev = gold("dev")
    if s.cfg["train_rows"]:
        train = train[:s.cfg["train_rows"]]
    if s.cfg["dev_rows"]:
        dev = dev[:s.cfg["dev_rows"]]
    if s.fresh_model is None:
        from reviewnlp.train import fit

        s.fresh_model = fit(train)
    ours_model = s.fresh_model

    def toks(text: str) -> str:
        return " ".join(segment(normalize(text)))

    def top(model, line: str) -> str:
        # model.f.predict is what FastText.predict wraps; the wrapper's np.array(copy=False) fails on numpy 2
        preds = model.f.predict(line + "\n", 1, 0.0, "strict")
        return preds[0][1] if preds else ""

    t0 = time.perf_counter()
    lines = [toks(r["text"]) for r in train]
    prep = time.perf_counter() - t0
    # fastText's tutorial settings for small supervised sets; bucket 200k instead of the 2M default,
    # whose 2M x dim matrix takes seconds to allocate and initialize (that would only slow the peer)
    ft_params = dict(lr=0.5, epoch=s.cfg["ft_epoch"], wordNgrams=2, dim=50, minCount=1, bucket=200000,
                     loss="softmax", thread=1, seed=0, verbose=0)
    ft_models, ft_train_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for task, label in (("complaint", lambda r: "complaint" if r["severity"] != "none" else "ok"),
                            ("severity", lambda r: r["severity"])):
            path = Path(tmp) / f"{task}.txt"
            path.write_text("".join(f"__label__{label(r)} {x}\n" for r, x in zip(train, lines)), encoding="utf-8")
            t0 = time.perf_counter()
            ft_models[task] = fasttext.train_supervised(
                input=str(path), **ft_params)
            ft_train_s[task] = time.perf_counter() - t0
    ftc, fts = ft_models["complaint"], ft_models["severity"]

    # accuracy on dev: both trained on the same gold train rows, neither tuned on dev
    dev_texts = [r["text"] for r in dev]
    gold_sev = [r["severity"] for r in dev]
    gold_cmp = [g != "none" for g in gold_sev]
    preds = ours_model.classify_many(dev_texts, explain=False)
    ours_sev = [p.severity for p in preds]
    dev_tok = [toks(t) for t in dev_texts]
    ft_cmp = [top(ftc, x) == "__label__complaint" for x in dev_tok]
    ft_sev = [top(fts, x).removeprefix("__label__") for x in dev_tok]

    def acc(a, b):
        return sum(x == y for x, y in zip(a, b)) / len(a)

    def f1(pred, gold_):
        tp = sum(p and g for p, g in zip(pred, gold_))
        d = sum(pred) + sum(gold_)
        return 2 * tp / d if d else 0.0

    ours_cmp = [x != "none" for x in ours_sev]
    shipped = s.load_model().classify_many(dev_texts, explain=False)
    shipped_sev = [p.severity for p in shipped]

    # per-review time on the dev texts, raw text in, answer out; interleaved
    tok_map = dict(zip(dev_texts, dev_tok))
    res = time_per_item({"ours": lambda t: ours_model.predict_proba([t]),
                         "fasttext": lambda t: top(ftc, toks(t)),
                         "fasttext_predict_only": lambda t: top(ftc, tok_map[t])},
                        dev_texts, rounds=2 if s.mode != "quick" else 1, warmup=5, before=s.fresh)
    common_extra = {"train_rows": len(train), "dev_rows": len(dev),
                    "fasttext_params": {k: v for k, v in ft_params.items() if k != "verbose"},
                    "fasttext_input": "normalize + reviewnlp.segment tokens joined by spaces"}
    s.add(make_row(
        "fasttext_predict", "one review: ours vs fastText, median latency (µs)", res["ours"]["median"] * US,
        res["fasttext"]["median"] * US, "µs",
        ours="model.predict_proba([raw text]) (13 heads)",
        peer_is="fastText complaint model: normalize + segment + predict (1 label)", n=len(dev_texts),
        extra=dict(common_extra, fasttext_predict_only_us=round(res["fasttext_predict_only"]["median"] * US, 1))))
    s.add(make_row(
        "fasttext_complaint_acc", "dev accuracy, complaint vs not", acc(ours_cmp, gold_cmp), acc(ft_cmp, gold_cmp), "",
        ours="reviewnlp fit() on gold train, thresholds 0.5 (untuned)",
        peer_is="fastText supervised on the same gold train rows", better="higher", n=len(dev),
        extra=dict(common_extra, complaint_f1={"ours": round(f1(ours_cmp, gold_cmp), 4),
                                               "fasttext": round(f1(ft_cmp, gold_cmp), 4)},
                   shipped_model_accuracy=round(acc([x != "none" for x in shipped_sev], gold_cmp), 4),
                   shipped_model_note="the shipped model's thresholds were tuned on this dev split: optimistic")))
    s.add(make_row(
        "fasttext_severity_acc", "dev accuracy, severity (5 classes)", acc(ours_sev, gold_sev), acc(ft_sev, gold_sev),
        "", ours="reviewnlp fit() on gold train, ordinal heads, thresholds 0.5",
        peer_is="fastText supervised (5-way softmax) on the same rows", better="higher", n=len(dev),
        extra=dict(common_extra, shipped_model_accuracy=round(acc(shipped_sev, gold_sev), 4))))
    ft_total = prep + sum(ft_train_s.values())
    s.add(make_row(
        "fasttext_train", "training time: ours vs fastText (s)", s.train_seconds, ft_total, "s",
        ours="reviewnlp.train.fit (13 calibrated heads)" if s.train_seconds else "(training benchmark not run)",
        peer_is="fastText: segment train set + train complaint and severity models", n=len(train),
        extra={"fasttext_segmentation_s": round(prep, 3),
               "fasttext_train_s": {k: round(v, 3) for k, v in ft_train_s.items()}}))


def bench_external(s: Suite, service: bool, batch: bool) -> None:
    """Optional: the other engineers' benchmarks with short durations; their JSON is embedded as-is."""
    jobs = []
    if service:
        jobs.append(("service", "bench_service.py", ["--duration", "3", "--warmup", "1"], 300))
    if batch:
        jobs.append(("batch", "bench_batch.py", ["throughput", "--rows", "2000"], 420))
    for name, script, args, timeout in jobs:
        path = HERE / script
        if not path.is_file():
            s.external[name] = {"status": "absent", "script": script}
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.json"
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([sys.executable, str(path), *args, "--json", str(out)], capture_output=True,
                                      text=True, timeout=timeout, cwd=str(ROOT))
            except subprocess.TimeoutExpired:
                s.external[name] = {"status": f"timeout after {timeout}s", "command": [script, *args]}
                continue
            entry: dict[str, Any] = {"status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}",
                                     "command": [script, *args], "seconds": round(time.perf_counter() - t0, 1)}
            if out.is_file():
                try:
                    entry["result"] = json.loads(out.read_text(encoding="utf-8"))
                except json.JSONDecodeError as exc:
                    entry["result_error"] = str(exc)
            if proc.returncode != 0:
                entry["stderr_tail"] = proc.stderr[-1500:]
            s.external[name] = entry
        print(f"  external {name}: {s.external[name]['status']}", flush=True)


# (name, function, ids of the rows it produces) -- ids are stable across modes
BENCHES: list[tuple[str, Callable[[Suite], None], list[str]]] = [
    ("cold", bench_cold_start_and_memory, ["cold_start", "memory_rss"]),
    ("single", bench_single, ["single_review", "single_review_classify"]),
    ("batch", bench_batch, ["batch"]),
    ("batch_scaling", bench_batch_scaling, [f"batch_size_{n}" for n in BATCH_SIZES] + ["batch_exponent"]),
    ("length_scaling", bench_length_scaling,
     [f"length_{lang}_{n}" for lang in ("zh", "en") for n in LENGTHS] + ["length_exponent_zh", "length_exponent_en"]),
    ("segmentation", bench_segmentation, ["segmentation_share", "segment_vs_jieba"]),
    ("snownlp", bench_snownlp, ["snownlp_sentiment"]),
    ("training", bench_training, ["training"]),
    ("fasttext", bench_fasttext, ["fasttext_predict", "fasttext_complaint_acc", "fasttext_severity_acc",
                                  "fasttext_train"]),
]
ROW_IDS = [rid for _, _, ids in BENCHES for rid in ids]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="tiny sizes, < 60 s (figures are not meaningful)")
    g.add_argument("--full", action="store_true", help="also measure the 100k batch (adds ~1.5 min)")
    ap.add_argument("--json", help="output path (default benchmarks/results/latest.json; quick.json with --quick, "
                                         "full.json with --full)")
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(n for n, _, _ in BENCHES))
    ap.add_argument("--with-service", action="store_true", help="also run bench_service.py for 3 s per scenario")
    ap.add_argument("--with-batch", action="store_true", help="also run bench_batch.py throughput on 2,000 rows")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed of the review samples")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    only = set(args.only.split(",")) if args.only else None
    default_name = {"quick": "quick.json", "full": "full.json"}.get(mode, "latest.json")
    if only:  # a partial run never overwrites the full results
        default_name = "only-" + "-".join(sorted(only)) + ("-quick" if args.quick else "") + ".json"
    out_path = Path(args.json) if args.json else HERE / "results" / default_name
    if only and only - {n for n, _, _ in BENCHES}:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(only - {n for n, _, _ in BENCHES}))}")

    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    machine = common.machine_info()
    print(f"reviewnlp benchmarks, mode={mode}; {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
          f"load average {machine['loadavg_at_start']}", flush=True)
    suite = Suite(mode, args.seed)
    timings = {}
    for name, fn, ids in BENCHES:
        if only and name not in only:
            continue
        print(f"[{name}]", flush=True)
        t0 = time.perf_counter()
        before = len(suite.rows)
        try:
            suite.fresh.refresh()
            fn(suite)
        except Exception as exc:  # a broken peer must not hide the other figures; the row says why
            import traceback

            traceback.print_exc()
            have = {r["id"] for r in suite.rows[before:]}
            for rid in ids:
                if rid not in have:
                    suite.rows.append(make_row(rid, rid, None, None, "", ours="", peer_is="", status="error",
                                               note=f"{type(exc).__name__}: {exc}"))
        timings[name] = round(time.perf_counter() - t0, 1)
        gc.collect()
    elapsed = time.perf_counter() - t_start  # the suite's own budget; the optional externals come on top
    if args.with_service or args.with_batch:
        print("[external]", flush=True)
        bench_external(suite, args.with_service, args.with_batch)

    import resource

    ru_self, ru_kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = ru_self.ru_utime + ru_self.ru_stime + ru_kids.ru_utime + ru_kids.ru_stime
    machine["loadavg_at_end"] = common.loadavg()
    order = {rid: i for i, rid in enumerate(ROW_IDS)}
    rows = sorted(suite.rows, key=lambda r: order.get(r["id"], len(order)))
    result = {
        "suite": "reviewnlp benchmarks/run.py",
        "mode": mode,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "cpu_s": round(cpu_total, 1),
        "cpu_s_note": "user + system CPU of the suite and its subprocesses; on an idle machine the wall time "
                      "is close to this (the suite runs one thing at a time)",
        "budget_s": BUDGET_S if mode == "default" else (60 if mode == "quick" else None),
        "bench_seconds": timings,
        "machine": machine,
        "model": {"version": suite.model.version if suite.model else None, "source": "reviewnlp.load() (shipped)",
                  "artifact_sha256": (suite.model.metadata.get("sha256") or "")[:16] if suite.model else None},
        "code": common.code_fingerprint(),
        "corpora": str(common.corpora_dir()),
        "ratio": "figure / peer for every row; for times lower is better",
        "exponent_limit": EXPONENT_LIMIT,
        "per_text_caches_cleared_before_each_timed_call": sorted(suite.fresh.seen),
        "rows": rows,
        "summary": {"targets": sum(r["pass"] is not None for r in rows),
                    "passed": sum(r["pass"] is True for r in rows),
                    "missed": [r["id"] for r in rows if r["pass"] is False],
                    "errors": [r["id"] for r in rows if r["status"] == "error"]},
        "external": suite.external,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = out_path.with_suffix(".md")
    md.write_text(common.table(rows, markdown=True) + "\n", encoding="utf-8")

    print()
    print(common.table(rows))
    print()
    for r in rows:
        if r["status"] != "measured" or r.get("note"):
            print(f"note: {r['id']}: {r['status']}: {r.get('note')}")
    s = result["summary"]
    print(f"\n{s['passed']}/{s['targets']} targets met; missed: {', '.join(s['missed']) or 'none'}; "
          f"elapsed {elapsed:.0f} s, CPU {cpu_total:.0f} s "
          f"(load average {machine['loadavg_at_start']} -> {machine['loadavg_at_end']})")
    if result["budget_s"] and elapsed > result["budget_s"]:
        print(f"warning: took {elapsed:.0f} s, over the {result['budget_s']} s budget of this mode", file=sys.stderr)
    print(f"wrote {out_path} and {md}")
    return 1 if s["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
