"""Benchmark of the HTTP service against a naive Flask + scikit-learn baseline, on loopback.

    python benchmarks/bench_service.py --duration 10 --json out.json

Starts two real servers, both gunicorn with the same settings (``--workers`` processes with
``--threads`` threads each: the gthread worker, as ``reviewnlp serve`` runs by default; ``--threads 1``
gives the sync worker, which closes the connection after each response):

- the service, ``reviewnlp serve`` (lean scorer, routing, escalations committed to a SQLite store);
- a NAIVE baseline: a tiny Flask app whose view returns
  ``model.pipeline.predict_proba([normalize(text)])`` for each request (no lean path, no routing,
  no store);

then drives each scenario for ``--duration`` seconds with ``--concurrency`` client threads
(``http.client`` keep-alive connections, reopened when the server closes one), after a short warm-up:

(a) ``POST /classify`` with one review; (b) ``POST /classify`` with batches of 100 reviews;
(c) ``GET /health``, the HTTP ceiling of this server and client; (d) the naive baseline.

Review texts are real: ``waimai_10k.csv`` and ``online_shopping_10_cats.csv`` from the shared
corpora (``REVIEWNLP_CORPORA`` or ``/work/shared/corpora``), deduplicated, at most
``MAX_TEXT_LENGTH`` characters, in a fixed shuffled order. Prints a table and writes JSON.

Everything runs on one machine: the client threads compete with the servers for the CPU, so
the figures are a lower bound, and ratios measured in the same run are the meaningful part.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("REVIEWNLP_CORPORA", "/work/shared/corpora"))
MAX_TEXT_LENGTH = 5000
BATCH = 100
TARGETS = {"classify_vs_naive_rps": (">=", 2.5), "classify_vs_health_rps": (">=", 0.5),
           "classify_p99_over_p50": ("<=", 4.0)}

Request = tuple[str, str, bytes | None, dict[str, str]]


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def load_texts(seed: int = 0) -> list[str]:
    """Real review texts from the corpora: deduplicated, non-empty, <= MAX_TEXT_LENGTH, shuffled."""
    texts: list[str] = []
    sources = ((CORPORA / "waimai_10k" / "waimai_10k.csv", "review"),
               (CORPORA / "online_shopping_10_cats" / "online_shopping_10_cats.csv", "review"))
    for path, column in sources:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            texts += [row[column] for row in csv.DictReader(fh) if row.get(column)]
    unique = sorted({t for t in texts if t.strip() and len(t) <= MAX_TEXT_LENGTH})
    random.Random(seed).shuffle(unique)
    return unique


# --------------------------------------------------------------------------------------------------
# The naive baseline app (served in a subprocess: this file with --serve-naive)
# --------------------------------------------------------------------------------------------------


def naive_app():
    """A Flask app classifying each request with the scikit-learn pipeline, nothing else."""
    from flask import Flask, jsonify, request

    import reviewnlp
    from reviewnlp.normalize import normalize

    model = reviewnlp.load()
    model.pipeline.predict_proba([normalize("warm-up 预热")])  # load the segmenter's dictionary now
    app = Flask("naive")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/classify")
    def classify():
        text = request.get_json()["text"]
        probs = model.pipeline.predict_proba([normalize(text)])[0]
        return jsonify({"probabilities": [round(float(p), 6) for p in probs]})

    return app


def serve_naive(args: argparse.Namespace) -> int:
    import logging.config

    from reviewnlp.service.cli import gunicorn_application, gunicorn_options
    from reviewnlp.service.config import logging_config

    logging.config.dictConfig(logging_config("warning"))
    gunicorn_application(naive_app, gunicorn_options(args)).run()
    return 0


# --------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWNLP_") or k == "REVIEWNLP_MODEL"}
    with open(log, "wb") as fh:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server on port {port} not healthy after {timeout} s")


# --------------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------------


def _client(port: int, next_request: Callable[[], Request], start_at: float, stop_at: float,
            out: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    mine: list[float] = []
    failed = 0
    while True:
        method, path, body, headers = next_request()
        began = time.perf_counter()
        if began >= stop_at:
            break
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ok = False
        elapsed = time.perf_counter() - began
        if began >= start_at:  # requests that start during the warm-up are not counted
            mine.append(elapsed)
            failed += not ok
    conn.close()
    out.extend(mine)
    errors.append(failed)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a server: its master and all its workers; None without psutil."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        master = psutil.Process(pid)
        total = 0.0
        for process in (master, *master.children(recursive=True)):
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return None


def run_scenario(name: str, port: int, server_pid: int, make: Callable[[int], Callable[[], Request]],
                 duration: float, warmup: float, concurrency: int, reviews_per_request: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[int] = []
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    threads = [threading.Thread(target=_client, args=(port, make(i), start_at, stop_at, latencies, errors))
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start_at - time.perf_counter()))
    cpu_start, client_start = cpu_seconds(server_pid), time.process_time()
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    cpu_end, client_end = cpu_seconds(server_pid), time.process_time()
    for thread in threads:
        thread.join()
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")

    result = {"requests": n, "errors": sum(errors), "duration_s": duration, "rps": n / duration,
              "reviews_per_s": n * reviews_per_request / duration, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
              "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000 if n else float("nan"),
              "mean_ms": statistics.fmean(latencies) * 1000 if n else float("nan")}
    # CPU spent per request (all server processes; the client's own), robust to other load on the machine
    server_cpu = None if cpu_start is None or cpu_end is None else cpu_end - cpu_start
    result["server_cpu_ms_per_request"] = server_cpu * 1000 / n if server_cpu is not None and n else None
    result["server_cpu_cores"] = server_cpu / duration if server_cpu is not None else None
    result["client_cpu_cores"] = (client_end - client_start) / duration
    print(f"  {name:<16} {n:>7} req  {result['rps']:>8.1f} req/s  p50 {result['p50_ms']:7.2f} ms  "
          f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}", flush=True)
    return result


def _json_request(path: str, payload: dict[str, Any]) -> Request:
    return "POST", path, json.dumps(payload, ensure_ascii=False).encode("utf-8"), \
        {"Content-Type": "application/json"}


def single_requests(texts: list[str], concurrency: int) -> Callable[[int], Callable[[], Request]]:
    def make(thread: int) -> Callable[[], Request]:
        position = [thread]

        def next_request() -> Request:
            text = texts[position[0] % len(texts)]
            position[0] += concurrency
            return _json_request("/classify", {"text": text})

        return next_request

    return make


def batch_requests(texts: list[str], concurrency: int) -> Callable[[int], Callable[[], Request]]:
    n_batches = len(texts) // BATCH

    def make(thread: int) -> Callable[[], Request]:
        position = [thread]

        def next_request() -> Request:
            start = (position[0] % n_batches) * BATCH
            position[0] += concurrency
            return _json_request("/classify", {"reviews": [{"text": t} for t in texts[start:start + BATCH]]})

        return next_request

    return make


def health_requests(concurrency: int) -> Callable[[int], Callable[[], Request]]:
    request: Request = ("GET", "/health", None, {})
    return lambda thread: (lambda: request)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def check_service(port: int, text: str) -> dict[str, Any]:
    """One request to each server before measuring: the responses must be what we think."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    method, path, body, headers = _json_request("/classify", {"text": text})
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"port {port}: /classify answered {response.status}: {answer}")
    return answer


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per scenario (default 10)")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds of unmeasured load first (default 1.5)")
    parser.add_argument("--concurrency", type=int, default=12, help="client threads = connections (default 12)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per worker (default 4, as `reviewnlp serve`: gthread; 1 = sync worker)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_naive:
        server_args = argparse.Namespace(host="127.0.0.1", port=args.port, workers=args.workers,
                                         threads=args.threads, timeout=60, log_level="warning")
        return serve_naive(server_args)

    texts = load_texts()
    half = len(texts) // 2
    print(f"{len(texts)} real review texts (waimai_10k + online_shopping_10_cats), "
          f"{args.concurrency} connections, {args.workers} workers x {args.threads} thread(s), "
          f"{args.duration:g} s per scenario", flush=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="reviewnlp-bench-") as tmp:
        tmp_path = Path(tmp)
        store = tmp_path / "escalations.db"
        service_port, naive_port = free_port(), free_port()
        service = start([sys.executable, "-m", "reviewnlp.cli", "serve", "--host", "127.0.0.1",
                         "--port", str(service_port), "--workers", str(args.workers), "--threads", str(args.threads),
                         "--store", str(store)], tmp_path / "service.log")
        naive = start([sys.executable, str(Path(__file__).resolve()), "--serve-naive", "--port", str(naive_port),
                       "--workers", str(args.workers), "--threads", str(args.threads)], tmp_path / "naive.log")
        try:
            started = time.monotonic()
            wait_healthy(service_port, service, tmp_path / "service.log")
            wait_healthy(naive_port, naive, tmp_path / "naive.log")
            print(f"servers ready in {time.monotonic() - started:.1f} s", flush=True)
            sample = check_service(service_port, texts[0])
            check_service(naive_port, texts[0])
            common = dict(duration=args.duration, warmup=args.warmup, concurrency=args.concurrency)
            results = {
                "classify_single": run_scenario("classify single", service_port, service.pid,
                                                single_requests(texts[:half], args.concurrency),
                                                reviews_per_request=1, **common),
                "classify_batch100": run_scenario("classify batch", service_port, service.pid,
                                                  batch_requests(texts[half:], args.concurrency),
                                                  reviews_per_request=BATCH, **common),
                "health": run_scenario("health", service_port, service.pid, health_requests(args.concurrency),
                                       reviews_per_request=0, **common),
                "naive_single": run_scenario("naive single", naive_port, naive.pid,
                                             single_requests(texts[:half], args.concurrency),
                                             reviews_per_request=1, **common),
            }
        finally:
            stop(service)
            stop(naive)
        from reviewnlp.store import open_store

        with open_store(store, create=False) as opened:
            escalations = opened.count()
    load_after = os.getloadavg()

    single = results["classify_single"]
    ratios = {"classify_vs_naive_rps": ratio(single["rps"], results["naive_single"]["rps"]),
              "classify_vs_health_rps": ratio(single["rps"], results["health"]["rps"]),
              "classify_p99_over_p50": ratio(single["p99_ms"], single["p50_ms"]),
              "batch_reviews_vs_single_reviews_per_s": ratio(results["classify_batch100"]["reviews_per_s"],
                                                             single["reviews_per_s"])}
    if single["server_cpu_ms_per_request"] and results["naive_single"]["server_cpu_ms_per_request"]:
        ratios["naive_vs_classify_server_cpu_per_request"] = ratio(
            results["naive_single"]["server_cpu_ms_per_request"], single["server_cpu_ms_per_request"])
    verdicts = {name: (ratios[name] >= bound if op == ">=" else ratios[name] <= bound)
                for name, (op, bound) in TARGETS.items()}

    print()
    print(f"{'scenario':<18}{'req/s':>10}{'reviews/s':>11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'srv CPU ms/req':>16}{'srv cores':>11}{'client cores':>14}")
    for name, r in results.items():
        cpu = r["server_cpu_ms_per_request"]
        cores = r["server_cpu_cores"]
        print(f"{name:<18}{r['rps']:>10.1f}{r['reviews_per_s']:>11.1f}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['errors']:>8}{'-' if cpu is None else f'{cpu:.2f}':>16}"
              f"{'-' if cores is None else f'{cores:.2f}':>11}{r['client_cpu_cores']:>14.2f}")
    print()
    for name, value in ratios.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  target {target[0]} {target[1]:g}: " + \
            ("met" if verdicts[name] else "MISSED")
        print(f"{name:<40}{value:>8.2f}{verdict}")
    print(f"\nescalations stored during the run: {escalations}; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f} on {os.cpu_count()} CPUs")

    if args.json:
        import gunicorn

        report = {
            "results": results, "ratios": ratios,
            "targets": {k: {"op": op, "value": v, "met": verdicts[k]} for k, (op, v) in TARGETS.items()},
            "config": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": args.concurrency,
                       "workers": args.workers, "threads": args.threads,
                       "worker_class": "gthread" if args.threads > 1 else "sync", "batch_size": BATCH,
                       "texts": len(texts), "corpora": ["waimai_10k.csv", "online_shopping_10_cats.csv"]},
            "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "gunicorn": gunicorn.__version__, "platform": platform.platform(),
                            "loadavg_before": load_before, "loadavg_after": load_after,
                            "model_version": sample["model_version"]},
            "escalations_stored": escalations,
        }
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
