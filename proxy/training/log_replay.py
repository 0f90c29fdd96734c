"""Replay logged traffic: what a candidate model set would change (offline), or collect outcomes (online).

`switchyard replay` runs one of the two. Offline (no LLM is called): for every logged routed call,
`offline` re-runs the router's own decision (router.py) with the candidate models and with the current
ones, and reports how many choices change, the predicted cost and latency of each policy, and an
inverse-propensity estimate of each policy's quality from the labelled calls: a call counts for a policy
when the policy picks the backend that served it, weighted by 1 / the logged selection probability
(exploration makes this possible; without it only agreeing calls count).

Online (bounded by count and budget; calls LLMs through a running proxy): `online` re-sends logged
prompts by name to candidates that were not chosen, so outcomes exist for them too (the design's "run
prompts through multiple LLMs"); the proxy logs them like any call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from proxy.errors import ProxyError
from proxy.request import parse_chat
from proxy.route.features import load_resources
from proxy.route.router import Router, load_models
from proxy.settings import Config
from proxy.training.export_log import records


def routed_records(db: str | Path) -> list[dict[str, Any]]:
    return [r for r in records(db) if r["decision"] and r["request"].get("messages")]


def offline(db: str | Path, config: Config, new_models: Path, current_models: Path) -> dict[str, Any]:
    # Each models directory with the knowledge it was trained with (learned profiles, History, lexical heads), as
    # the proxy would serve it; the catalog and vocabularies are loaded once.
    resources = load_resources()
    new_scorer, new_knowledge = load_models(config, new_models, resources)
    current_scorer, current_knowledge = load_models(config, current_models, resources)
    new = Router(config, new_scorer, knowledge=new_knowledge)
    current = Router(config, current_scorer, knowledge=current_knowledge)
    totals: dict[str, Any] = {"calls": 0, "changed": 0, "skipped": 0}
    policy: dict[str, dict[str, float]] = {
        name: {"cost": 0.0, "latency": 0.0, "ips_sum": 0.0, "ips_weight": 0.0, "agree": 0}
        for name in ("new", "current")
    }
    for rec in routed_records(db):
        body = {**rec["request"], "model": rec["decision"]["alias"]}
        try:
            request = parse_chat(body)
            picks = {"new": new.decide(request), "current": current.decide(request)}
        except ProxyError:
            totals["skipped"] += 1
            continue
        totals["calls"] += 1
        served, labels = rec["call"]["backend"], [lab["score"] for lab in rec["labels"]]
        p_log = rec["call"]["selection_probability"] or 1.0
        chosen = {}
        for name, decision in picks.items():
            assert decision.choice is not None
            first = decision.choice.chosen
            chosen[name] = first.name
            policy[name]["cost"] += first.cost_usd
            policy[name]["latency"] += first.latency_s
            if labels and first.name == served:
                policy[name]["agree"] += 1
                policy[name]["ips_sum"] += (sum(labels) / len(labels)) / p_log
            if labels:
                policy[name]["ips_weight"] += 1
        totals["changed"] += chosen["new"] != chosen["current"]
    n = max(1, totals["calls"])
    report = {**totals, "new_version": new.scorer.version, "current_version": current.scorer.version}
    for name, acc in policy.items():
        labelled = acc["ips_weight"]
        report[name] = {
            "mean_predicted_cost_usd": acc["cost"] / n,
            "mean_predicted_latency_s": acc["latency"] / n,
            "labelled_calls": int(labelled),
            "labelled_calls_agreeing_with_log": int(acc["agree"]),
            "ips_quality": acc["ips_sum"] / labelled if labelled else None,
        }
    return report


def online(db: str | Path, config: Config, url: str, limit: int, budget: float, key: str) -> dict[str, Any]:
    sent, spent, failed = 0, 0.0, 0
    with httpx.Client(base_url=url, timeout=120, headers={"authorization": f"Bearer {key}"}) as http:
        for rec in routed_records(db):
            served = rec["call"]["backend"]
            for cand in rec["decision"]["candidates"]:
                if sent >= limit or spent + cand["cost_usd"] > budget:
                    return {"sent": sent, "failed": failed, "predicted_spend_usd": spent}
                if cand["name"] == served or cand.get("dropped"):
                    continue
                body = {**rec["request"], "model": cand["name"], "stream": False}
                body.pop("stream_options", None)
                response = http.post("/v1/chat/completions", json=body)
                sent += 1
                spent += cand["cost_usd"]
                failed += response.status_code != 200
    return {"sent": sent, "failed": failed, "predicted_spend_usd": spent}
