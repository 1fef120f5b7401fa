"""Benchmarks of batch scoring: peak memory by input size, and throughput of the CLI path and of Dask.

Inputs are built in a temporary directory by repeating *real* reviews from the shared corpora
(``waimai_10k`` by default) under new ids; no text is invented.

    python benchmarks/bench_batch.py memory --rows 10000 1000000 [--jobs 1] [--output-format parquet]
    python benchmarks/bench_batch.py throughput --rows 20000
    python benchmarks/bench_batch.py all --json benchmarks/results/batch.json

``memory`` runs ``reviewnlp classify`` in a subprocess and samples the resident set size of its
whole process tree (parent + workers) every 50 ms with psutil; it also reports the kernel's
``ru_maxrss`` of the largest child. ``throughput`` times, on the same input and machine,
``reviewnlp classify`` with ``--jobs 1`` and ``--jobs 2`` (wall clock of the whole command, model
load included) and :func:`reviewnlp.scale.score_dataframe` on a ``LocalCluster`` with 1 and 2
single-threaded worker processes (cold: first compute, model loads included; warm: second compute).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", "/work/shared/corpora"))
SOURCES = {
    "waimai": (CORPORA / "waimai_10k" / "waimai_10k.csv", "review", None),
    "shopping": (CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv", "review", "cat"),
}


def real_reviews(source: str) -> list[tuple[str, str]]:
    """``(text, category)`` of every non-empty review of a corpus."""
    path, text_col, cat_col = SOURCES[source]
    out = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row[text_col].lstrip("\ufeff")
            if text.strip():
                out.append((text, row[cat_col] if cat_col else source))
    return out


def build_input(path: Path, rows: int, source: str = "waimai") -> Path:
    """Write ``rows`` reviews (the corpus repeated, new ids ``r<n>``) as CSV, streaming."""
    reviews = real_reviews(source)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "text", "category"])
        for i in range(rows):
            text, cat = reviews[i % len(reviews)]
            w.writerow([f"r{i}", text, cat])
    return path


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_classify(src: Path, out: Path, jobs: int, chunk_size: int = 2000, sample_s: float = 0.05) -> dict[str, Any]:
    """Run ``reviewnlp classify`` in a subprocess; wall time and peak RSS (parent alone, and whole tree)."""
    import psutil

    cmd = [sys.executable, "-m", "reviewnlp.cli", "classify", str(src), "-o", str(out), "--jobs", str(jobs),
           "--chunk-size", str(chunk_size)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(popen.pid)
    peak_tree = peak_parent = 0
    timeline = []
    while popen.poll() is None:
        tree = _tree_rss(proc)
        try:
            parent = proc.memory_info().rss
        except psutil.NoSuchProcess:
            parent = 0
        peak_tree, peak_parent = max(peak_tree, tree), max(peak_parent, parent)
        timeline.append((round(time.perf_counter() - t0, 2), tree))
        time.sleep(sample_s)
    _, err = popen.communicate()
    wall = time.perf_counter() - t0
    if popen.returncode != 0:
        raise RuntimeError(f"classify failed ({popen.returncode}): {err[-2000:]}")
    summary = json.loads(err.strip().splitlines()[-1])
    # RSS in the second half of the run against the first: flat memory means no growth
    half = [rss for t, rss in timeline if t > wall / 2]
    first = [rss for t, rss in timeline if wall * 0.2 < t <= wall / 2]
    return {
        "rows": summary["rows_in"], "jobs": jobs, "wall_s": round(wall, 1),
        "rows_per_s": round(summary["rows_in"] / wall, 1),
        "peak_rss_tree_mb": round(peak_tree / 2**20, 1), "peak_rss_parent_mb": round(peak_parent / 2**20, 1),
        "max_rss_first_half_mb": round(max(first) / 2**20, 1) if first else None,
        "max_rss_second_half_mb": round(max(half) / 2**20, 1) if half else None,
        "ru_maxrss_children_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "output_mb": round(out.stat().st_size / 2**20, 1),
        # (seconds, MB) at about 40 evenly spaced moments: flat memory is a flat line
        "timeline_mb": [(t, round(rss / 2**20)) for t, rss in timeline[:: max(1, len(timeline) // 40)]],
    }


def bench_memory(rows: list[int], jobs: int, output_format: str, source: str) -> list[dict[str, Any]]:
    results = []
    for n in rows:
        with tempfile.TemporaryDirectory(prefix="reviewnlp-bench-") as tmp:
            src = build_input(Path(tmp) / "in.csv", n, source)
            size = src.stat().st_size
            res = run_classify(src, Path(tmp) / f"out.{output_format}", jobs)
            res.update(input_mb=round(size / 2**20, 1), output_format=output_format, source=source)
            print(json.dumps(res), file=sys.stderr, flush=True)
            results.append(res)
    return results


def bench_throughput(rows: int, source: str, partitions: int = 8) -> dict[str, Any]:
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    from dask.distributed import Client, LocalCluster

    from reviewnlp.scale import model_loads_on, score_dataframe

    out: dict[str, Any] = {"rows": rows, "source": source}
    with tempfile.TemporaryDirectory(prefix="reviewnlp-bench-") as tmp:
        src = build_input(Path(tmp) / "in.csv", rows, source)
        for jobs in (1, 2):
            res = run_classify(src, Path(tmp) / f"cli{jobs}.parquet", jobs, chunk_size=1000)
            out[f"cli_jobs{jobs}_rows_per_s"] = res["rows_per_s"]
            out[f"cli_jobs{jobs}_wall_s"] = res["wall_s"]
            print(json.dumps({f"cli_jobs{jobs}": res}), file=sys.stderr, flush=True)
        out["cli_jobs2_over_jobs1"] = round(out["cli_jobs2_rows_per_s"] / out["cli_jobs1_rows_per_s"], 2)
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                for run in ("cold", "warm"):
                    ddf = dd.read_csv(str(src), dtype=str, blocksize=None).repartition(npartitions=partitions)
                    target = Path(tmp) / f"dask{workers}_{run}"
                    t0 = time.perf_counter()
                    # written out, so that no optimisation can skip the scoring
                    score_dataframe(ddf, text_column="text").to_parquet(str(target), write_index=False)
                    wall = time.perf_counter() - t0
                    n = sum(pq.ParquetFile(f).metadata.num_rows for f in target.glob("*.parquet"))
                    assert n == rows, (n, rows)
                    out[f"dask_{workers}w_{run}_rows_per_s"] = round(rows / wall, 1)
                    out[f"dask_{workers}w_{run}_wall_s"] = round(wall, 1)
                out[f"dask_{workers}w_model_loads"] = model_loads_on(client)
            print(json.dumps({k: v for k, v in out.items() if k.startswith(f"dask_{workers}w")}), file=sys.stderr,
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "throughput", "all"])
    parser.add_argument("--rows", type=int, nargs="+", help="input sizes (memory: default 10000 1000000; "
                                                            "throughput: default 20000)")
    parser.add_argument("--jobs", type=int, default=1, help="memory: worker processes of classify")
    parser.add_argument("--output-format", default="parquet", choices=["csv", "jsonl", "parquet"])
    parser.add_argument("--source", default="waimai", choices=sorted(SOURCES))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "platform": platform.platform()}}
    if args.what in ("memory", "all"):
        results["memory"] = bench_memory(args.rows or [10_000, 1_000_000], args.jobs, args.output_format,
                                         args.source)
    if args.what in ("throughput", "all"):
        results["throughput"] = bench_throughput((args.rows or [20_000])[0] if args.what == "throughput"
                                                 else 20_000, args.source)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
