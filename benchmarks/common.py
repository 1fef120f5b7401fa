"""Shared helpers of the benchmark suite (:mod:`benchmarks.run`): real reviews, timers, fits, table.

Nothing here imports reviewnlp, scikit-learn or jieba at module import time, so the suite's
subprocess benchmarks (cold start, memory) stay independent of what the parent has loaded.
"""
from __future__ import annotations

import csv
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "datasets" / "gold"


def corpora_dir() -> Path:
    """``$REVIEWNLP_CORPORA``, else ``../shared/corpora`` next to the checkout, else ``/work/shared/corpora``."""
    env = os.environ.get("REVIEWNLP_CORPORA")
    if env:
        return Path(env)
    sibling = ROOT.parent / "shared" / "corpora"
    return sibling if sibling.is_dir() else Path("/work/shared/corpora")


# -- real reviews ---------------------------------------------------------------------------------
# (folder/file, text column, filter) -- shop and delivery reviews only: the hotel rows of
# online_shopping_10_cats are out of the library's scope (corpora README), so they are skipped.
SOURCES: dict[str, tuple[str, str]] = {
    "waimai": ("waimai_10k/waimai_10k.csv", "review"),
    "shopping": ("online_shopping_10_cats/online_shopping_10_cats.csv", "review"),
    "amazon": ("amazon_polarity_sample/amazon_polarity_sample.csv", "text"),
}
MAX_CHARS = 20000  # reviewnlp.model.DEFAULT_MAX_CHARS: longer texts are rejected by the model


def read_reviews(source: str) -> list[str]:
    """Every distinct non-empty review text of one corpus, in file order."""
    rel, col = SOURCES[source]
    path = corpora_dir() / rel
    out: list[str] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if source == "shopping" and row.get("cat") == "酒店":
                continue
            text = (row.get(col) or "").lstrip("\ufeff")
            if not text.strip() or len(text) > MAX_CHARS or text in seen:
                continue
            seen.add(text)
            out.append(text)
    return out


class Corpus:
    """The real reviews the suite draws from, loaded once, in a fixed shuffled order per source."""

    def __init__(self, seed: int = 0):
        self.by_source = {}
        for i, name in enumerate(SOURCES):
            texts = read_reviews(name)
            random.Random(seed + i).shuffle(texts)
            self.by_source[name] = texts

    # 40 % waimai, 40 % online shopping, 20 % amazon (en), interleaved in this fixed pattern
    _PATTERN = ("waimai", "shopping", "amazon", "waimai", "shopping")

    def mixed(self) -> list[str]:
        """All reviews interleaved by :attr:`_PATTERN` until one source runs out (~24k distinct reviews)."""
        if getattr(self, "_mixed", None) is None:
            pos = dict.fromkeys(self.by_source, 0)
            out: list[str] = []
            while True:
                name = self._PATTERN[len(out) % len(self._PATTERN)]
                if pos[name] >= len(self.by_source[name]):
                    break
                out.append(self.by_source[name][pos[name]])
                pos[name] += 1
            self._mixed = out
        return self._mixed

    def mix(self, n: int, offset: int = 0) -> list[str]:
        """``n`` distinct real reviews of the mix, from position ``offset``."""
        pool = self.mixed()
        if offset + n > len(pool):
            raise ValueError(f"the review mix has {len(pool)} distinct reviews, {offset + n} needed")
        return pool[offset:offset + n]

    def zh(self) -> list[str]:
        """Chinese shop and delivery reviews (waimai + online shopping), interleaved."""
        a, b = self.by_source["waimai"], self.by_source["shopping"]
        out = []
        for x, y in zip(a, b):
            out += [x, y]
        return out

    def en(self) -> list[str]:
        return list(self.by_source["amazon"])


def concat_to_length(pool: Sequence[str], length: int, count: int, start: int = 0) -> list[str]:
    """``count`` texts of exactly ``length`` characters, each made by joining consecutive real reviews
    (separated by one space) from ``pool`` and cutting at ``length``. Successive texts use different reviews."""
    out = []
    i = start
    while len(out) < count:
        buf: list[str] = []
        size = 0
        while size < length:
            r = pool[i % len(pool)].strip()
            i += 1
            buf.append(r)
            size += len(r) + 1
        text = " ".join(buf)[:length]
        if text.strip():
            out.append(text)
    return out


def gold(split: str) -> list[dict[str, Any]]:
    with open(GOLD / f"{split}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# -- per-text caches ------------------------------------------------------------------------------
def text_caches() -> dict[str, Any]:
    """The memoizing caches (``functools.lru_cache``/``cache``) of the loaded reviewnlp modules that
    take arguments (per-text caches such as ``reviewnlp.lexicon.scan``), by qualified name.

    Argument-less cached loaders (dictionaries, compiled patterns) are left alone: a serving process
    keeps those. Per-text caches are cleared before every timed call so that each call costs what an
    unseen review costs, and a peer timed right after ours on the same text gets no free hits.
    """
    import inspect

    out: dict[str, Any] = {}
    for modname, mod in list(sys.modules.items()):
        if mod is None or not (modname == "reviewnlp" or modname.startswith("reviewnlp.")):
            continue
        for attr, obj in list(vars(mod).items()):
            if not (callable(getattr(obj, "cache_clear", None)) and callable(getattr(obj, "cache_info", None))):
                continue
            fn = getattr(obj, "__wrapped__", None)
            if fn is None or getattr(fn, "__module__", modname) != modname:
                continue
            try:
                n_params = len(inspect.signature(fn).parameters)
            except (TypeError, ValueError):
                continue
            if n_params:
                out[f"{modname}.{attr}"] = obj
    return out


class Fresh:
    """``fresh()`` clears the per-text caches found by :func:`text_caches` (rediscovered on ``refresh``)."""

    def __init__(self):
        self.caches: dict[str, Any] = {}
        self.seen: set[str] = set()
        self._n_modules = -1

    def refresh(self) -> None:
        self.caches = text_caches()
        self.seen.update(self.caches)
        self._n_modules = len(sys.modules)

    def __call__(self) -> None:
        if len(sys.modules) != self._n_modules:  # something new was imported since the last look
            self.refresh()
        for c in self.caches.values():
            c.cache_clear()


# -- timing ---------------------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(math.ceil(q * len(s))) - 1))
    return float(s[k])


def time_per_item(fns: dict[str, Callable[[Any], Any]], items: Sequence[Any], rounds: int = 3,
                  warmup: int = 5, before: Callable[[], Any] | None = None) -> dict[str, dict[str, float]]:
    """Time each function on each item, one call at a time, interleaved (item by item, function by
    function) so that load on a shared machine hits every function alike.

    Returns, per function, in seconds per call: ``median`` (wall clock, ``time.perf_counter``: the
    median over rounds of the per-round median), ``cpu_median`` (the same with
    ``time.process_time``), ``p90`` and ``mean`` (wall, over every call) and ``calls``.
    ``before()``, when given, runs before every timed call, outside the timed region.
    """
    for fn in fns.values():
        for x in list(items)[:warmup]:
            fn(x)
    wall_rounds: dict[str, list[float]] = {k: [] for k in fns}
    cpu_rounds: dict[str, list[float]] = {k: [] for k in fns}
    every: dict[str, list[float]] = {k: [] for k in fns}
    gc.collect()
    wall, cpu = time.perf_counter, time.process_time
    for _ in range(rounds):
        ws: dict[str, list[float]] = {k: [] for k in fns}
        cs: dict[str, list[float]] = {k: [] for k in fns}
        for x in items:
            for name, fn in fns.items():
                if before is not None:
                    before()
                c0, t0 = cpu(), wall()
                fn(x)
                t1, c1 = wall(), cpu()
                ws[name].append(t1 - t0)
                cs[name].append(c1 - c0)
        for name in fns:
            wall_rounds[name].append(median(ws[name]))
            cpu_rounds[name].append(median(cs[name]))
            every[name].extend(ws[name])
    return {name: {"median": median(wall_rounds[name]), "cpu_median": median(cpu_rounds[name]),
                   "p90": percentile(every[name], 0.9), "mean": float(statistics.fmean(every[name])),
                   "calls": len(every[name])} for name in fns}


def time_blocks(fns: dict[str, Callable[[], Any]], repeats: int = 3, before: Callable[[], Any] | None = None,
                collect: bool = True) -> dict[str, dict[str, Any]]:
    """Time whole calls (``fn()``), alternating the functions on each repeat; median of repeats of
    the wall clock (``median``, ``runs``) and of the CPU time (``cpu_median``, ``cpu_runs``).
    ``collect``: run ``gc.collect()`` before each call (outside the timing; it costs ~0.1 s with a
    model loaded, so small blocks skip it)."""
    runs: dict[str, list[float]] = {k: [] for k in fns}
    cpu_runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c, _ = wall_and_cpu(fn, before, collect)
            runs[name].append(w)
            cpu_runs[name].append(c)
    return {name: {"median": median(runs[name]), "runs": [round(x, 6) for x in runs[name]],
                   "cpu_median": median(cpu_runs[name]), "cpu_runs": [round(x, 6) for x in cpu_runs[name]]}
            for name in fns}


def wall_and_cpu(fn: Callable[[], Any], before: Callable[[], Any] | None = None,
                 collect: bool = True) -> tuple[float, float, Any]:
    if collect:
        gc.collect()
    if before is not None:
        before()
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def loglog_slope(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """Least-squares exponent ``b`` of ``cost ~ a * size**b``."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(c) for c in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def local_slopes(sizes: Sequence[float], costs: Sequence[float]) -> list[float]:
    """Exponent between each pair of successive sizes."""
    return [math.log(c2 / c1) / math.log(s2 / s1) for s1, s2, c1, c2 in zip(sizes, sizes[1:], costs, costs[1:])]


# -- machine --------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def code_fingerprint() -> dict[str, Any]:
    """sha256 of the library sources measured (there is no VCS call here): all of ``reviewnlp/**/*.py``
    and, separately, the modules on the inference path."""
    import hashlib

    pkg = ROOT / "reviewnlp"
    files = sorted(pkg.rglob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    key = {}
    for name in ("lean.py", "model.py", "lexicon.py", "segment.py", "normalize.py", "features.py", "train.py"):
        f = pkg / name
        if f.is_file():
            key[name] = hashlib.sha256(f.read_bytes()).hexdigest()[:12]
    return {"reviewnlp_py_sha256": h.hexdigest()[:16], "files": len(files), "inference_path": key}


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": loadavg(),
    }
    try:
        import psutil

        info["memory_total_mb"] = round(psutil.virtual_memory().total / 2**20)
    except ImportError:
        info["memory_total_mb"] = None
    libs = {}
    for name in ("reviewnlp", "scikit-learn", "numpy", "scipy", "jieba", "joblib", "opencc", "fasttext-wheel",
                 "snownlp", "psutil"):
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = None
    info["libraries"] = libs
    return info


# -- table ----------------------------------------------------------------------------------------
def fmt_num(x: Any, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    ax = abs(x)
    if ax >= 1000:
        s = f"{x:,.0f}"
    elif ax >= 100:
        s = f"{x:.0f}"
    elif ax >= 10:
        s = f"{x:.1f}"
    elif ax >= 1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3f}"
    return f"{s} {unit}".strip()


def fmt_ratio(row: dict[str, Any]) -> str:
    r = row.get("ratio")
    if r is None:
        return "-"
    s = fmt_num(r)
    if row.get("better") == "lower" and r > 0:
        s += f" ({1 / r:.1f}x faster)" if r < 1 else f" ({r:.1f}x slower)"
    return s


def fmt_pass(row: dict[str, Any]) -> str:
    p = row.get("pass")
    return "-" if p is None else ("PASS" if p else "MISS")


def table(rows: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    head = ["benchmark", "figure (ours)", "peer", "ratio", "target", "result"]
    body = [[r["id"], fmt_num(r.get("figure"), r.get("unit", "")), fmt_num(r.get("peer"), r.get("unit", "")),
             fmt_ratio(r), r.get("target") or "-", fmt_pass(r)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(out)
