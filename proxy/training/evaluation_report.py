"""`switchyard evaluate`'s report as text: one table per source, a column per metric, a row per router."""

from __future__ import annotations

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
}


def format_report(report: dict[str, Any]) -> str:
    """The report as text: per source, the single models, the oracle, and each router's numbers."""
    lines: list[str] = []
    for source, r in report["sources"].items():
        lines.append(f"\n== {source}: {r['prompts']} held-out prompts, best single model {r['best_model']}")
        for m, s in sorted(r["models"].items(), key=lambda kv: kv[1]["cost"]):
            lines.append(f"   {m:40s} quality {s['quality']:.4f}  cost ${s['cost']:.6f}")
        lines.append(f"   {'oracle':40s} quality {r['oracle']['quality']:.4f}  cost ${r['oracle']['cost']:.6f}")
        lines.append(f"   {'router':20s} " + " ".join(f"{k:>10s}" for k in COLUMNS.values()))
        for name, m in r["routers"].items():
            lines.append(f"   {name:20s} " + " ".join(_cell(m.get(k)) for k in COLUMNS))
            if "interval_90" in m:
                lines.append(f"   {'  90% interval':20s} " + " ".join(_span(m["interval_90"].get(k)) for k in COLUMNS))
    return "\n".join(lines)


def _cell(v: Any) -> str:
    return f"{v:10.4f}" if isinstance(v, float) else f"{'-':>10s}"


def _span(v: list[float | None] | None) -> str:
    if v is None:
        return f"{'':10s}"
    lo, hi = (f"{x:.2f}" if x is not None else "inf" for x in v)
    return f"{lo + '-' + hi:>10s}"
