"""`switchyard evaluate --plot`: each source's quality-cost curves as one PNG. Needs matplotlib ([train])."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np


def plot(report: dict[str, Any], path: Path) -> None:
    matplotlib.use("Agg")  # files only: never a display
    import matplotlib.pyplot as plt

    sources = list(report["sources"].values())
    fig, axes = plt.subplots(1, len(sources), figsize=(6 * len(sources), 4.5), squeeze=False)
    for ax, r in zip(axes[0], sources, strict=True):
        for name, m in r["routers"].items():
            if m["curve"] and len(m["curve"]) > 1:
                c = np.array([[pt["cost"], pt["quality"]] for pt in m["curve"]])
                order = np.argsort(c[:, 0])
                ax.plot(c[order, 0], c[order, 1], label=name, lw=1.5 if name == "switchyard" else 1.0)
        for mname, s in r["models"].items():
            ax.scatter([s["cost"]], [s["quality"]], s=14, color="grey")
            ax.annotate(mname.split("/")[-1][:18], (s["cost"], s["quality"]), fontsize=6)
        ax.scatter([r["oracle"]["cost"]], [r["oracle"]["quality"]], marker="*", s=80, color="black", label="oracle")
        ax.set_xscale("log")
        ax.set_xlabel("mean cost per prompt (USD, log)")
        ax.set_ylabel("mean quality")
        ax.set_title(f"{r['source'][:40]} ({r['prompts']} held-out prompts)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
