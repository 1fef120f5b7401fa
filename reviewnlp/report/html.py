"""A self-contained HTML seller report: matplotlib charts embedded as base64 PNG, plus tables.

Everything that comes from the data (review text, product and category names, terms) is
escaped with :func:`html.escape`. Charts use a CJK font when one is installed (``Noto Sans CJK
SC``, ``WenQuanYi``, ...) through matplotlib's font fallback; without one, chart titles and axes
are in English and labels with CJK characters are replaced by short codes (``C1``, ``C2``...)
explained under the chart (the HTML tables show the real names, the browser has the fonts).

>>> content = ReportContent(title="t", meta={}, summary={"reviews": 0, "complaints": 0, "complaint_share": 0.0,
...                         "escalated": 0, "flagged": {}}, tables={}, notes={})
>>> "<html" in render(content, charts={})
True
>>> _cell("<script>alert(1)</script>", "text")
'<td class="text">&lt;script&gt;alert(1)&lt;/script&gt;</td>'
"""
from __future__ import annotations

import base64
import html
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..labels import CAUSES

__all__ = ["ReportContent", "Chart", "make_charts", "render", "find_cjk_font", "CJK_FONTS"]

logger = logging.getLogger(__name__)

#: Fonts tried, in order, for Chinese chart labels.
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN",
    "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS",
)
CAUSE_COLORS: Mapping[str, str] = {"product_quality": "#4e79a7", "logistics": "#f28e2b",
                                   "service_attitude": "#e15759", "other": "#9c9c9c"}
_CJK_FILE_HINTS = ("notosanscjk", "notoserifcjk", "notosanssc", "wqy", "droidsansfallback", "sourcehan", "uming",
                   "ukai", "simhei", "msyh", "pingfang")
SEVERITY_COLORS: Mapping[str, str] = {"none": "#a0cbe8", "low": "#8cd17d", "medium": "#f1ce63",
                                      "high": "#f28e2b", "critical": "#d62728"}
MAX_HTML_ROWS = 200


@dataclass(frozen=True)
class ReportContent:
    """What the report shows: headline numbers, tables by name, and a note per section."""

    title: str
    meta: Mapping[str, str]
    summary: Mapping[str, Any]
    tables: Mapping[str, pd.DataFrame]
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    """One PNG chart (base64) with its alt text and an optional legend of label codes."""

    alt: str
    png_base64: str
    codes: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------------------------------
# Fonts and labels
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or ``None``."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    # matplotlib's font cache may predate a font installed later: look at the font files themselves
    for path in sorted(font_manager.findSystemFonts()):
        if not any(k in Path(path).name.lower() for k in _CJK_FILE_HINTS):
            continue
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
        logger.info("using CJK font %s (%s)", name, path)
        return name
    logger.info("no CJK font found; chart labels with Chinese characters are replaced by codes")
    return None


def _needs_cjk(text: str) -> bool:
    return any(ord(ch) >= 0x2E80 for ch in text)


class _Labels:
    """Chart labels: real names when they can be drawn, short codes otherwise."""

    def __init__(self, cjk: bool, prefix: str = "C"):
        self.cjk = cjk
        self.prefix = prefix
        self.codes: dict[str, str] = {}

    def __call__(self, name: Any) -> str:
        text = str(name)
        if self.cjk or not _needs_cjk(text):
            return text if len(text) <= 28 else text[:27] + "…"
        if text not in self.codes:
            self.codes[text] = f"{self.prefix}{len(self.codes) + 1}"
        return self.codes[text]

    def legend(self) -> tuple[tuple[str, str], ...]:
        return tuple((code, name) for name, code in self.codes.items())


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any, font: str | None) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------


def _mix_chart(table: pd.DataFrame, by: str, labels: _Labels, max_groups: int = 15) -> Any:
    """Horizontal bars: complaint share per group, split by the normalized cause mix."""
    names = [labels(v) for v in table.head(max_groups)[by]][::-1]  # codes C1, C2... in table order
    data = table.head(max_groups).iloc[::-1]
    fig = _figure(8.5, 0.8 + 0.36 * max(len(data), 2))
    ax = fig.add_subplot()
    cause_cols = [f"cause_{c}" for c in CAUSES]
    mix = data[cause_cols].to_numpy(dtype=float)
    sums = mix.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    parts = mix / sums * data["complaint_share"].to_numpy(dtype=float)[:, None]
    left = [0.0] * len(data)
    for j, cause in enumerate(CAUSES):
        ax.barh(names, parts[:, j], left=left, color=CAUSE_COLORS[cause], label=cause)
        left = [a + b for a, b in zip(left, parts[:, j], strict=True)]
    for y, (share, n) in enumerate(zip(data["complaint_share"], data["reviews"], strict=True)):
        ax.text(share + 0.005, y, f"{share:.0%} of {n}", va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, max(0.1, float(data["complaint_share"].max()) * 1.25)))
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.set_xlabel("complaint share (bar split by cause mix)")
    ax.set_title(f"Complaint share and cause mix by {by}")
    fig.legend(loc="outside lower center", ncols=len(CAUSES), fontsize=8, frameon=False)
    return fig


def _weekly_chart(table: pd.DataFrame, max_weeks: int = 52) -> Any:
    shown = table.tail(max_weeks).reset_index(drop=True)
    title = "Reviews and complaint share per ISO week"
    if len(shown) < len(table):
        title += f" (last {len(shown)} of {len(table)} weeks with reviews)"
    table = shown
    fig = _figure(8.5, 3.4)
    ax = fig.add_subplot()
    x = range(len(table))
    ax.bar(x, table["reviews"], color="#d9d9d9", label="reviews")
    ax.set_ylabel("reviews")
    ax2 = ax.twinx()
    ax2.plot(x, table["complaint_share"], color="#d62728", marker="o", ms=3, label="complaint share")
    ax2.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("complaint share")
    step = max(1, len(table) // 12)
    ax.set_xticks(list(x)[::step], list(table["week"])[::step], rotation=45, ha="right", fontsize=8)
    ax.set_title(title)
    return fig


def _severity_chart(table: pd.DataFrame) -> Any:
    fig = _figure(6.0, 2.8)
    ax = fig.add_subplot()
    ax.bar(table["severity"], table["count"], color=[SEVERITY_COLORS[s] for s in table["severity"]])
    for i, (c, s) in enumerate(zip(table["count"], table["share"], strict=True)):
        ax.text(i, c, f"{s:.0%}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("reviews")
    ax.set_title("Severity distribution")
    ax.margins(y=0.15)
    return fig


def _spike_chart(weekly_by: pd.DataFrame, alerts: pd.DataFrame, by: str, labels: _Labels, max_lines: int = 5) -> Any:
    fig = _figure(8.5, 3.4)
    ax = fig.add_subplot()
    weeks = sorted(weekly_by["week"].unique())
    pos = {w: i for i, w in enumerate(weeks)}
    for group in alerts[by].head(max_lines):
        g = weekly_by[weekly_by[by] == group]
        ax.plot([pos[w] for w in g["week"]], g["complaint_share"], marker="o", ms=3, label=labels(group))
    step = max(1, len(weeks) // 12)
    ax.set_xticks(range(0, len(weeks), step), weeks[::step], rotation=45, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("complaint share")
    ax.set_title(f"Weekly complaint share of the {by}s with a spike alert")
    ax.legend(fontsize=8, frameon=False)
    return fig


def make_charts(tables: Mapping[str, pd.DataFrame], font: str | None = "auto") -> dict[str, Chart]:
    """Render the charts the tables allow; ``font="auto"`` looks for a CJK font, ``None`` uses none."""
    import matplotlib

    font = find_cjk_font() if font == "auto" else font
    rc = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
          "font.family": ["DejaVu Sans", font] if font else ["DejaVu Sans"]}
    charts: dict[str, Chart] = {}
    fm_logger = logging.getLogger("matplotlib.font_manager")
    level = fm_logger.level
    fm_logger.setLevel(logging.ERROR)  # "Failed to find font weight normal for ..., now using 500"
    try:
        with matplotlib.rc_context(rc):
            charts.update(_draw(tables, font))
    finally:
        fm_logger.setLevel(level)
    return charts


def _draw(tables: Mapping[str, pd.DataFrame], font: str | None) -> dict[str, Chart]:
    charts: dict[str, Chart] = {}
    for key, by in (("by_category", "category"), ("by_product", "product")):
        table = tables.get(key)
        if table is not None and not table.empty:
            labels = _Labels(font is not None, prefix="C" if by == "category" else "P")
            fig = _mix_chart(table, by, labels)
            charts[key] = Chart(f"complaint share and cause mix by {by}", _png(fig, font), labels.legend())
    table = tables.get("weekly")
    if table is not None and not table.empty:
        charts["weekly"] = Chart("reviews and complaint share per week", _png(_weekly_chart(table), font))
    table = tables.get("severity")
    if table is not None and int(table["count"].sum()) > 0:
        charts["severity"] = Chart("severity distribution", _png(_severity_chart(table), font))
    alerts, weekly_by = tables.get("spikes"), tables.get("weekly_by_product")
    if alerts is not None and weekly_by is not None and not alerts.empty and bool(alerts["alert"].any()):
        labels = _Labels(font is not None, prefix="P")
        fig = _spike_chart(weekly_by, alerts[alerts["alert"]], "product", labels)
        charts["spikes"] = Chart("weekly complaint share of products with a spike", _png(fig, font),
                                 labels.legend())
    return charts


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Zen Hei","PingFang SC",
"Microsoft YaHei",sans-serif;margin:0;background:#f6f7f9;color:#222;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px} h2{font-size:1.2rem;margin:0 0 10px}
section{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:16px 20px;margin:16px 0}
.meta{color:#666;font-size:.85rem} .note{color:#666;font-size:.85rem;margin:6px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}
.card{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:1.4rem}
.scroll{overflow-x:auto;max-height:560px;overflow-y:auto}
table{border-collapse:collapse;font-size:.82rem;width:auto;min-width:40%}
table.wide{width:100%}
th,td{border-bottom:1px solid #eceef1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{white-space:nowrap} td.text{min-width:220px;max-width:520px;white-space:normal;word-break:break-word}
td.list{white-space:normal;min-width:90px}
img.chart{max-width:100%;height:auto;display:block;margin:8px 0}
.terms{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.terms>div{min-width:0} .terms table{width:100%;min-width:0} h3{font-size:1rem;margin:4px 0}
.alert{color:#b00020;font-weight:600}
code{background:#f0f2f5;padding:0 3px;border-radius:3px}
"""

_PERCENT = ("share", "rate")
_LIST_COLUMNS = ("causes", "flags", "reasons", "suggested_actions")


def _fmt(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if column == "p_value":
            return f"{value:.2g}"
        if column.startswith("cause_") or any(k in column for k in _PERCENT):
            return f"{value:.1%}"
        return f"{value:.2f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _cell(value: Any, column: str, limit: int = 400) -> str:
    text = _fmt(value, column)
    if column == "text":
        short = text if len(text) <= limit else text[: limit - 1] + "…"
        title = f' title="{html.escape(text, quote=True)}"' if short != text else ""
        return f'<td class="text"{title}>{html.escape(short)}</td>'
    num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if column in _LIST_COLUMNS:
        return f'<td class="list">{html.escape(text.replace(";", "; "))}</td>'
    return f'<td class="num">{html.escape(text)}</td>' if num else f"<td>{html.escape(text)}</td>"


def _table(df: pd.DataFrame, columns: Sequence[str] | None = None, max_rows: int = MAX_HTML_ROWS,
           table_id: str = "") -> str:
    columns = [c for c in (columns or list(df.columns)) if c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in df[columns].head(max_rows).itertuples(index=False, name=None):
        body.append("<tr>" + "".join(_cell(v, c) for v, c in zip(row, columns, strict=True)) + "</tr>")
    more = f'<p class="note">First {max_rows} of {len(df)} rows; all rows are in the CSV.</p>' \
        if len(df) > max_rows else ""
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    wide = ' class="wide"' if "text" in columns else ""
    return (f'<div class="scroll"><table{ident}{wide}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>{more}")


def _img(chart: Chart | None) -> str:
    if chart is None:
        return ""
    out = f'<img class="chart" alt="{html.escape(chart.alt)}" src="data:image/png;base64,{chart.png_base64}">'
    if chart.codes:
        legend = ", ".join(f"<code>{html.escape(c)}</code> = {html.escape(n)}" for c, n in chart.codes)
        out += f'<p class="note">Chart labels: {legend}</p>'
    return out


def _section(key: str, title: str, body: str, notes: Mapping[str, str], csv_name: str | None = None) -> str:
    note = f'<p class="note">{html.escape(notes[key])}</p>' if notes.get(key) else ""
    link = f' <span class="meta">(<a href="{html.escape(csv_name)}">{html.escape(csv_name)}</a>)</span>' \
        if csv_name else ""
    return f'<section id="{html.escape(key)}"><h2>{html.escape(title)}{link}</h2>{note}{body}</section>'


def _mix_columns(by: str) -> list[str]:
    return [by, "reviews", "complaints", "complaint_share", *[f"cause_{c}" for c in CAUSES]]


def render(content: ReportContent, charts: Mapping[str, Chart]) -> str:
    """The whole report as one HTML document (no external resources)."""
    t, s, notes = content.tables, content.summary, content.notes
    cards = [("reviews", f"{s['reviews']:,}"), ("complaints", f"{s['complaints']:,}"),
             ("complaint share", f"{s['complaint_share']:.1%}"), ("escalated", f"{s['escalated']:,}")]
    cards += [(f"flag: {f}", f"{n:,}") for f, n in s.get("flagged", {}).items() if n]
    if s.get("first_date"):
        cards.append(("dates", f"{s['first_date']} – {s['last_date']}"))
    meta = " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in content.meta.items())
    parts = [f"<header><h1>{html.escape(content.title)}</h1><div class=\"meta\">{meta}</div>",
             '<div class="cards">' + "".join(f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>'
                                            for k, v in cards) + "</div></header>"]

    for key, by, title in (("by_category", "category", "Complaints by category"),
                           ("by_product", "product", "Complaints by product")):
        if key in t:
            parts.append(_section(key, title, _img(charts.get(key)) + _table(t[key], _mix_columns(by), table_id=key),
                                  notes, f"complaints_by_{by}.csv"))
        elif notes.get(key):
            parts.append(_section(key, title, "", notes))
    if "weekly" in t:
        newest_first = t["weekly"].iloc[::-1]
        parts.append(_section("weekly", "Complaints per ISO week (newest first)", _img(charts.get("weekly"))
                              + _table(newest_first, _mix_columns("week"), table_id="weekly"), notes, "weekly.csv"))
    elif notes.get("weekly"):
        parts.append(_section("weekly", "Complaints per ISO week", "", notes))
    if "severity" in t:
        parts.append(_section("severity", "Severity distribution", _img(charts.get("severity"))
                              + _table(t["severity"], table_id="severity"), notes, "severity.csv"))
    if "top_terms" in t:
        terms = t["top_terms"]
        cards_html = []
        for cause in CAUSES:
            sub = terms[terms["cause"] == cause]
            if not sub.empty:
                cards_html.append(f"<div><h3>{html.escape(cause)}</h3>"
                                  f"{_table(sub, ['term', 'docs', 'share', 'z'])}</div>")
        body = f'<div class="terms">{"".join(cards_html)}</div>' if cards_html else \
            '<p class="note">No cause had enough complaints.</p>'
        parts.append(_section("top_terms", "Top terms per cause", body, notes, "top_terms.csv"))
    elif notes.get("top_terms"):
        parts.append(_section("top_terms", "Top terms per cause", "", notes))
    if "spikes" in t:
        spikes = t["spikes"]
        alerts = spikes[spikes["alert"]] if not spikes.empty else spikes
        body = (f'<p class="alert">{len(alerts)} spike alert(s) in {html.escape(str(spikes["week"].iloc[0]))}.</p>'
                if len(alerts) else '<p class="note">No spike alert.</p>') if not spikes.empty else \
            '<p class="note">No product had enough reviews this week and before to test.</p>'
        body += _img(charts.get("spikes")) + (_table(spikes, table_id="spikes") if not spikes.empty else "")
        parts.append(_section("spikes", "Spike alerts", body, notes, "spike_alerts.csv"))
    elif notes.get("spikes"):
        parts.append(_section("spikes", "Spike alerts", "", notes))
    if "contradictions" in t:
        c = t["contradictions"]
        body = _table(c, table_id="contradictions") if not c.empty else '<p class="note">None found.</p>'
        parts.append(_section("contradictions", "Star rating vs. text", body, notes, "contradictions.csv"))
    elif notes.get("contradictions"):
        parts.append(_section("contradictions", "Star rating vs. text", "", notes))
    if "escalated" in t:
        e = t["escalated"]
        shown = [c for c in e.columns if c != "week"]  # the CSV has it; the page needs the room for the text
        body = _table(e, shown, table_id="escalated") if not e.empty else '<p class="note">No escalated review.</p>'
        parts.append(_section("escalated", "Escalated reviews", body, notes, "escalated.csv"))
    return ("<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(content.title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")

