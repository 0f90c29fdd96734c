"""`switchyard evaluate`'s report as text: one table per source (and per benchmark of it), a column per
metric, a row per router with its 90% interval under it, and under Switchyard's its difference from each
router it is compared with (`evaluate.COMPARED`), that difference's interval under it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Printed columns: quality at the best model's cost (/ its quality), cost (/ its cost) at 100/99/95% of its quality.
COLUMNS = {
    "quality_at_best_cost_frac": "q@bestcost",
    "cost_frac_at_equal_quality": "c@q100%",
    "cost_frac_at_99pct_quality": "c@q99%",
    "cost_frac_at_95pct_quality": "c@q95%",
    "aiq": "AIQ",
    "apgr": "APGR",
    "cpt50": "CPT50",
    "cpt80": "CPT80",
    "ece": "ECE",
    "auc": "AUC",
}


def format_report(report: dict[str, Any]) -> str:
    """The report as text: per source, the single models, the oracle, and each router's numbers."""
    kind = "test" if report.get("test") else "held-out"
    lines: list[str] = []
    for source, r in report["sources"].items():
        lines.append(f"\n== {source}: {r['prompts']} {kind} prompts, best single model {r['best_model']}")
        lines += _table(r)
        for bench, b in r.get("by_benchmark", {}).items():
            lines.append(f"\n-- {source} / {bench}: {b['prompts']} {kind} prompts, best single model {b['best_model']}")
            lines += _table(b)
    loso = report.get("leave_one_source_out")
    if loso:
        lines.append("\n== leave one source out: P(acceptable) of a model trained on the other sources")
        for source, c in loso.items():
            if "ece" not in c:
                lines.append(f"   {source:40s} {c['note']}")
                continue
            ece, auc = c["interval_90"]["ece"], c["interval_90"]["auc"]
            lines.append(
                f"   {source:40s} {c['prompts']:6d} prompts  ECE {c['ece']:.4f} [{_span(ece).strip()}]"
                f"  AUC {c['auc']:.4f} [{_span(auc).strip()}]"
            )
            lines += _loso_parts(c)
    return "\n".join(lines)


def _loso_parts(c: dict[str, Any]) -> list[str]:
    """Where a left-out source's P is off, and which way: per candidate, then per benchmark and candidate."""
    parts = [("", c)] + [(f"{bench} / ", b) for bench, b in c.get("by_benchmark", {}).items()]
    lines = []
    for prefix, part in parts:
        if prefix:
            head = f"     {prefix + 'all':38s} {part['prompts']:6d} prompts"
            lines.append(f"{head}  ECE {part['ece']:.4f}  " + _gap(part))
        for model, m in part.get("by_candidate", {}).items():
            lines.append(f"     {prefix + model:38s} {'':14s}  ECE {m['ece']:.4f}  " + _gap(m))
    return lines


def _gap(m: dict[str, Any]) -> str:
    return f"mean P {m['mean_p']:.3f} vs label {m['mean_label']:.3f}"


def _table(r: dict[str, Any]) -> list[str]:
    lines = []
    for m, s in sorted(r["models"].items(), key=lambda kv: kv[1]["cost"]):
        lines.append(f"   {m:40s} quality {s['quality']:.4f}{_around(s, 'quality')}  cost ${s['cost']:.6f}")
    o = r["oracle"]
    lines.append(f"   {'oracle':40s} quality {o['quality']:.4f}{_around(o, 'quality')}  cost ${o['cost']:.6f}")
    lines.append(f"   {'router':26s} " + " ".join(f"{k:>10s}" for k in COLUMNS.values()))
    omitted = ""
    for name, m in r["routers"].items():
        lines.append(_row(name, m))
        if "interval_90" in m:
            lines.append(_spans("  90% interval", m["interval_90"], _span))
        for other, vs in m.get("versus", {}).items():
            # Its difference from another router on the same prompts, and the difference's own interval.
            lines.append(_row("  minus " + other, vs["difference"]))
            lines.append(_spans("    90% interval", vs["interval_90"], _gap_span))
        omitted = m.get("apgr_omitted_reason", omitted)
    if omitted:
        lines.append(f"   APGR/CPT blank: {omitted}")
    return lines


def _row(label: str, numbers: dict[str, Any]) -> str:
    """One row of COLUMNS: a number the row does not have is "-"; one omitted on purpose (APGR where the best
    is cheapest) is blank."""
    return f"   {label:26s} " + " ".join(_cell(numbers[k]) if k in numbers else f"{'-':>10s}" for k in COLUMNS)


def _spans(label: str, spans: dict[str, Any], fmt: Callable[[list[float | None] | None], str]) -> str:
    """The intervals under a row, each formatted by `fmt`."""
    return f"   {label:26s} " + " ".join(fmt(spans.get(k)) for k in COLUMNS)


def _around(s: dict[str, Any], key: str) -> str:
    span = s.get("interval_90", {}).get(key)
    return f" [{_span(span).strip()}]" if span else ""


def _cell(v: Any) -> str:
    return f"{v:10.4f}" if isinstance(v, float) else f"{'':10s}"


def _span(v: list[float | None] | None) -> str:
    if v is None:
        return f"{'':10s}"
    lo, hi = (f"{x:.2f}" if x is not None else "inf" for x in v)
    return f"{lo + '-' + hi:>10s}"


def _gap_span(v: list[float | None] | None) -> str:
    """A difference's interval, signed ("-0.12+0.03", "+0.05+inf")."""
    if v is None:
        return f"{'':10s}"
    return f"{f'{v[0]:+.2f}{v[1]:+.2f}':>10s}"
