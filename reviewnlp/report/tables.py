"""Plain-text and Markdown renderings of metrics."""
from __future__ import annotations

from typing import Any


def evaluation_markdown(res: dict[str, Any]) -> str:
    """A Markdown summary of :func:`reviewnlp.evaluate.compare` output."""
    m = res["model"]
    kb = res["keyword_baseline"]
    sn = res.get("snownlp_baseline", {})
    lines = [f"Data: {res.get('data', '?')} ({m['n']} rows)", "",
             "| metric | model | keyword rules | SnowNLP |", "|---|---|---|---|"]

    def row(name, a, b, c="—"):
        lines.append(f"| {name} | {a} | {b} | {c} |")

    row("complaint F1", m["complaint"]["f1"], kb["complaint"]["f1"],
        sn.get("complaint", {}).get("f1", sn.get("skipped", "—")) if sn else "—")
    if "model_zh_complaint" in res:
        row("complaint F1 (zh rows)", res["model_zh_complaint"]["f1"], "", sn.get("complaint", {}).get("f1", "—"))
    row("causes micro F1", m["causes"]["micro"]["f1"], kb["causes"]["micro"]["f1"])
    row("causes macro F1", m["causes"]["macro_f1"], kb["causes"]["macro_f1"])
    row("flags micro F1", m["flags"]["micro"]["f1"], kb["flags"]["micro"]["f1"])
    row("severity accuracy", m["severity"]["accuracy"], kb["severity"]["accuracy"])
    row("severity within-one", m["severity"]["within_one"], kb["severity"]["within_one"])
    row("severity QWK", m["severity"]["qwk"], kb["severity"]["qwk"])
    row("escalation recall", m["escalation"]["recall"], kb["escalation"]["recall"])
    row("escalation precision", m["escalation"]["precision"], kb["escalation"]["precision"])
    row("critical recall", m["critical"]["recall"], kb["critical"]["recall"])
    lines += ["", "Per label (model): precision / recall / F1 (support)", ""]
    for group in ("causes", "flags"):
        for name, v in m[group]["per_label"].items():
            lines.append(f"- {group}.{name}: {v['precision']:.3f} / {v['recall']:.3f} / {v['f1']:.3f} ({v['support']})")
    cm = m["severity"]["confusion_matrix"]
    lines += ["", "Severity confusion (rows = gold, columns = predicted): " + ", ".join(cm["labels"])]
    for lab, r in zip(cm["labels"], cm["rows_gold_cols_pred"]):
        lines.append(f"    {lab:>8}: " + " ".join(f"{x:5d}" for x in r))
    return "\n".join(lines)
