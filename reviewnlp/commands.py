"""CLI subcommands over the library: classify, train, evaluate, validate-data, serve, report, bench.

Each handler is a few lines; the work happens in the modules it calls.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_classify(args: argparse.Namespace) -> int:
    from .batch import run_batch

    summary = run_batch(args.input, args.output, model_path=args.model, text_column=args.text_column,
                        id_column=args.id_column, jobs=args.jobs, resume=args.resume, quiet=args.quiet,
                        policy_path=args.policy, store=args.store, chunk_size=args.chunk_size,
                        explain=args.explain, input_format=args.input_format, output_format=args.output_format)
    if not args.quiet:
        print(json.dumps(summary, ensure_ascii=False), file=sys.stderr)
    return 0 if summary.get("errors", 0) == 0 else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    params = json.loads(args.params) if args.params else None
    _, metrics = train(args.data, args.out, params=params, seed=args.seed, version=args.version,
                       weak=args.weak, weak_weight=args.weak_weight, n_jobs=args.jobs)
    print(json.dumps({"out": str(args.out), "dev": _headline(metrics["dev"]),
                      "test": _headline(metrics.get("test", {}))}, indent=2))
    return 0


def _headline(m: dict) -> dict:
    if not m:
        return {}
    return {"causes_micro_f1": m["causes"]["micro"]["f1"], "flags_micro_f1": m["flags"]["micro"]["f1"],
            "severity_qwk": m["severity"]["qwk"], "complaint_f1": m["complaint"]["f1"],
            "escalation_recall": m["escalation"]["recall"], "escalation_precision": m["escalation"]["precision"]}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .dataset import load_gold
    from .evaluate import compare
    from .model import load
    from .report.tables import evaluation_markdown

    rows = load_gold(args.data)
    res = compare(load(args.model), rows)
    res["data"] = str(args.data)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(evaluation_markdown(res))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .dataset import validate_files

    paths = []
    for p in args.paths:
        p = Path(p)
        paths += sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    errors = validate_files(paths)
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{len(paths)} files, {len(errors)} problems", file=sys.stderr)
    return 1 if errors else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="classify a CSV/JSONL/Parquet file of reviews (streaming)")
    p.add_argument("input", help="input .csv, .jsonl or .parquet (or - for JSONL on stdin)")
    p.add_argument("-o", "--output", required=True, help="output .csv, .jsonl or .parquet")
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", default="id")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (output keeps input order)")
    p.add_argument("--chunk-size", type=int, default=2000, help="rows per chunk")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run without duplicating rows")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.add_argument("--policy", help="routing policy TOML (default: the shipped LABELS.md §5 policy)")
    p.add_argument("--store", help="also write escalations to this store (path or postgresql:// URL)")
    p.add_argument("--explain", action="store_true", help="include the explanation (slower)")
    p.add_argument("--input-format", choices=["csv", "jsonl", "parquet"], help="override the input suffix")
    p.add_argument("--output-format", choices=["csv", "jsonl", "parquet"], help="override the output suffix")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("train", help="train a model on gold train/dev/test JSONL")
    p.add_argument("--data", default="datasets/gold", help="directory with train/dev/test.jsonl")
    p.add_argument("--out", required=True, help="model directory to write, e.g. models/NAME")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", help="model version string (default: derived from data hash and seed)")
    p.add_argument("--params", help='JSON of pipeline params, e.g. \'{"heads__C": 2.0}\'')
    p.add_argument("--weak", help="weak complaint labels JSONL (complaint head only), "
                   "e.g. datasets/weak/weak_complaint.jsonl")
    p.add_argument("--weak-weight", type=float, default=0.3, help="sample weight of weak rows (default 0.3)")
    p.add_argument("--jobs", type=int, default=1,
                   help="heads fitted at once in worker processes (-1: every core; default 1, as fast on "
                        "2 cores; the model is the same)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a model on a gold JSONL file, with baselines")
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument("--data", required=True, help="gold JSONL file, e.g. datasets/gold/test.jsonl")
    p.add_argument("--json", help="also write the full metrics as JSON here")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("validate-data", help="validate gold JSONL files (schema, labels, ids, split overlap)")
    p.add_argument("paths", nargs="+", help="files or directories")
    p.set_defaults(func=_cmd_validate)

    import importlib

    for name in ("reviewnlp.service.cli", "reviewnlp.report.cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("reviewnlp"):
                continue
            raise
        module.register(sub)
