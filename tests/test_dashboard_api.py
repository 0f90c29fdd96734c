"""The dashboard's JSON endpoints on a known log: exact aggregates, windows, secrets, bad input, the admin key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.log.records import Label, Observation
from proxy.log.sqlite import SqliteLogStore
from tests.conftest import ENVIRON, ROOT, make_config_dict
from tests.servers import serve_app

T0 = 1_699_999_200.0  # a whole hour in unix seconds, so hourly buckets start at T0, T0 + 3600, ...
ADMIN_KEY = "sk-admin-dashboard-0123456789"
TEAM_KEY = "sk-team-dashboard-0123456789"
SECRET = "sk-live-do-not-show-0123456789"


def cand(
    name: str, p: float, latency: float, cost: float, utility: float | None = None, dropped: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "p_acceptable": p,
        "ttft_s": 0.1,
        "latency_s": latency,
        "output_tokens": 100.0,
        "cost_usd": cost,
        "utility": utility,
        "dropped": dropped,
    }


def routed(i: str, at: float, task: str, backend: str, candidates: list[dict[str, Any]], **kw: Any) -> Observation:
    decision = {"alias": "router", "model": candidates[0]["name"], "reason": "best-utility", "threshold": 0.7}
    decision |= {"model_version": "test-1", "feature_version": "1.0", "task": task, "candidates": candidates}
    kw.setdefault("attempts", [{"backend": backend, "seconds": 0.1}])
    return Observation(
        id=i,
        started_at=T0 + at,
        requested_model="router",
        stream=False,
        alias="router",
        backend=backend,
        model_version="test-1",
        decision=decision,
        **kw,
    )


# Five calls in three hours (and one a day earlier). c2 fell back from cheap to strong; c3 failed; c4 named
# its backend (no prediction); c1 has a person's and a judge's label.
CALLS = [
    routed(
        "c1",
        10,
        "code",
        "cheap",
        [
            cand("cheap", 0.8, 2.0, 0.001, utility=0.1),
            cand("strong", 0.9, 4.0, 0.010, utility=0.5),
            cand("weak", 0.5, 1.0, 0.0005),
            cand("vision", 0.95, 3.0, 0.020, dropped="does not accept images"),
        ],
        status=200,
        latency_s=1.0,
        cost_usd=0.002,
        api_key_id="team-a",
        request={"messages": [{"role": "user", "content": "sort a list"}], "api_key": SECRET},
        response={"choices": [{"message": {"content": "sorted()"}}], "meta": {"Authorization": f"Bearer {SECRET}"}},
    ),
    routed(
        "c2",
        20,
        "math",
        "strong",
        [
            cand("cheap", 0.7, 2.0, 0.002, utility=0.1),
            cand("strong", 0.95, 5.0, 0.011, utility=0.6),
            cand("weak", 0.4, 1.0, 0.0004),
        ],
        status=200,
        latency_s=3.0,
        cost_usd=0.012,
        attempts=[
            {"backend": "cheap", "seconds": 0.2, "status": 503, "error": "overloaded"},
            {"backend": "strong", "seconds": 2.8},
        ],
    ),
    routed(
        "c3",
        3700,
        "code",
        "cheap",
        [cand("cheap", 0.85, 2.0, 0.001, utility=0.1), cand("strong", 0.9, 4.0, 0.01, utility=0.9)],
        status=502,
        latency_s=0.5,
        error="upstream failed",
    ),
    Observation(
        id="c4",
        started_at=T0 + 3800,
        requested_model="weak",
        stream=False,
        status=200,
        latency_s=0.2,
        backend="weak",
        cost_usd=0.0001,
    ),
    routed(
        "c5",
        7300,
        "code",
        "strong",
        [cand("strong", 0.92, 4.5, 0.0095, utility=0.3), cand("cheap", 0.6, 2.0, 0.001)],
        status=200,
        latency_s=4.0,
        cost_usd=0.009,
    ),
    Observation(
        id="c0", started_at=T0 - 86400, requested_model="weak", stream=False, status=200, latency_s=0.3, backend="weak"
    ),
]
LABELS = [
    ("c1", 1.0, "human"),
    ("c1", 0.0, "judge:strong"),
    ("c2", 1.0, "human"),
    ("c4", 1.0, "human"),
    ("c5", 0.0, "human"),
]
WINDOW = f"since={T0:.0f}&until={T0 + 3 * 3600:.0f}"


async def write_log(path: Path) -> None:
    store = SqliteLogStore(path)
    await store.start()
    for call in CALLS:
        store.record(call)
    for call_id, score, source in LABELS:
        store.record_label(Label(call_id, score, source, created_at=T0 + 9000))
    await store.aclose()


@pytest.fixture(scope="module")
def dashboard(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("dashboard") / "calls.db"
    asyncio.run(write_log(db))
    config = config_mod.parse(make_config_dict(sim_url, db))
    with serve_app(create_app(config, environ=ENVIRON)) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def get(http: httpx.Client, path: str) -> dict[str, Any]:
    response = http.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_traffic_per_backend_over_time_and_per_task(dashboard: httpx.Client) -> None:
    t = get(dashboard, f"/ui/api/traffic?{WINDOW}&bucket_s=3600")
    assert t["calls"] == 5 and t["bucket_s"] == 3600
    assert [(b["backend"], b["calls"]) for b in t["backends"]] == [("cheap", 2), ("strong", 2), ("weak", 1)]
    assert [b["share"] for b in t["backends"]] == pytest.approx([2 / 5, 2 / 5, 1 / 5])
    assert t["over_time"] == [
        {"start": T0, "calls": {"cheap": 1, "strong": 1}},
        {"start": T0 + 3600, "calls": {"cheap": 1, "weak": 1}},
        {"start": T0 + 7200, "calls": {"strong": 1}},
    ]
    assert t["by_task"] == [
        {"task": "code", "calls": 3, "backends": {"cheap": 2, "strong": 1}},
        {"task": "direct", "calls": 1, "backends": {"weak": 1}},
        {"task": "math", "calls": 1, "backends": {"strong": 1}},
    ]


def test_without_a_window_every_call_counts_and_the_bucket_fits_the_span(dashboard: httpx.Client) -> None:
    t = get(dashboard, "/ui/api/traffic")
    assert t["calls"] == 6 and t["window"] == {"since": None, "until": None, "truncated": False}
    assert t["bucket_s"] == 3600  # 26 hours: the smallest bucket that needs at most 48 of them
    assert [b["start"] for b in t["over_time"]] == [T0 - 86400, T0, T0 + 3600, T0 + 7200]


def test_window_bounds_are_since_inclusive_until_exclusive(dashboard: httpx.Client) -> None:
    t = get(dashboard, f"/ui/api/traffic?since={T0 + 3700:.0f}&until={T0 + 7300:.0f}")
    assert t["calls"] == 2 and {b["backend"] for b in t["backends"]} == {"cheap", "weak"}


def test_savings_against_always_strongest_and_always_cheapest(dashboard: httpx.Client) -> None:
    s = get(dashboard, f"/ui/api/savings?{WINDOW}")
    policies = {p["policy"]: p for p in s["policies"]}
    assert s["calls"] == 4  # c4 named its backend: no counterfactual
    realised = 0.002 + 0.012 + 0.009  # c3 failed and cost nothing
    assert policies["routed"]["cost_usd"] == pytest.approx(realised)
    assert policies["routed"]["predicted_cost_usd"] == pytest.approx(0.001 + 0.011 + 0.001 + 0.0095)
    assert policies["routed"]["mean_p_acceptable"] == pytest.approx((0.8 + 0.95 + 0.85 + 0.92) / 4)
    # The strongest servable candidate: never the dropped "vision" (0.95) of c1.
    strongest = 0.010 + 0.011 + 0.01 + 0.0095
    assert policies["always_strongest"]["cost_usd"] == pytest.approx(strongest)
    assert policies["always_strongest"]["mean_p_acceptable"] == pytest.approx((0.9 + 0.95 + 0.9 + 0.92) / 4)
    assert policies["always_cheapest"]["cost_usd"] == pytest.approx(0.0005 + 0.0004 + 0.001 + 0.001)
    assert policies["always_cheapest"]["mean_p_acceptable"] == pytest.approx((0.5 + 0.4 + 0.85 + 0.6) / 4)
    # The saving compares predictions with predictions: c1's routed call was predicted at $0.001 but cost $0.002.
    predicted = policies["routed"]["predicted_cost_usd"]
    assert s["saved_vs_strongest_usd"] == pytest.approx(strongest - predicted) and s["saved_basis"] == "predicted"
    assert s["saved_vs_strongest_share"] == pytest.approx(1 - predicted / strongest)
    # Labelled routed calls: c1 (mean of 1 and 0), c2 (1), c5 (0); c4's label has no prediction.
    assert s["quality"]["labelled_calls"] == 3
    assert s["quality"]["realised_acceptability"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert s["quality"]["predicted_acceptability"] == pytest.approx((0.8 + 0.95 + 0.92) / 3)


def test_predicted_vs_observed_uses_the_backend_that_answered(dashboard: httpx.Client) -> None:
    a = get(dashboard, f"/ui/api/accuracy?{WINDOW}")
    assert a["calls"] == 3  # successful routed calls: c1, c2, c5
    assert [p["id"] for p in a["points"]] == ["c5", "c2", "c1"]
    c2 = a["points"][1]
    assert (c2["predicted_latency_s"], c2["observed_latency_s"]) == (5.0, 3.0)  # strong's, not cheap's
    assert (c2["predicted_cost_usd"], c2["observed_cost_usd"]) == (0.011, 0.012)
    cheap, strong = a["backends"]
    assert cheap == {
        "backend": "cheap",
        "calls": 1,
        "predicted_latency_s": 2.0,
        "observed_latency_s": 1.0,
        "predicted_cost_usd": 0.001,
        "observed_cost_usd": 0.002,
    }
    assert strong["calls"] == 2
    assert strong["predicted_latency_s"] == pytest.approx((5.0 + 4.5) / 2)
    # Over time: per bucket and backend, observed / predicted (c1 and c2 share the first bucket, c5 is later).
    first, last = a["over_time"][0], a["over_time"][-1]
    assert first["start"] <= T0 + 10 < first["start"] + a["bucket_s"] and last["start"] > first["start"]
    assert first["backends"]["cheap"] == {"calls": 1, "latency_ratio": 0.5, "cost_ratio": 2.0}
    assert first["backends"]["strong"]["latency_ratio"] == pytest.approx(3.0 / 5.0)
    assert last["backends"] == {
        "strong": {"calls": 1, "latency_ratio": pytest.approx(4.0 / 4.5), "cost_ratio": pytest.approx(0.009 / 0.0095)}
    }
    assert strong["observed_latency_s"] == pytest.approx((3.0 + 4.0) / 2)
    assert strong["predicted_cost_usd"] == pytest.approx((0.011 + 0.0095) / 2)
    assert strong["observed_cost_usd"] == pytest.approx((0.012 + 0.009) / 2)


def test_calibration_bins_predictions_against_labels(dashboard: httpx.Client) -> None:
    c = get(dashboard, f"/ui/api/calibration?{WINDOW}")
    assert c["labelled_calls"] == 3
    assert c["brier"] == pytest.approx(((0.8 - 0.5) ** 2 + (0.95 - 1.0) ** 2 + (0.92 - 0.0) ** 2) / 3)
    low, high = c["bins"]
    assert (low["low"], low["high"], low["calls"]) == (0.8, 0.9, 1)
    assert (low["mean_predicted"], low["mean_observed"]) == pytest.approx((0.8, 0.5))
    assert (high["low"], high["high"], high["calls"]) == (0.9, 1.0, 2)
    assert (high["mean_predicted"], high["mean_observed"]) == pytest.approx(((0.95 + 0.92) / 2, 0.5))
    coarse = get(dashboard, f"/ui/api/calibration?{WINDOW}&bins=2")
    assert [(b["low"], b["calls"]) for b in coarse["bins"]] == [(0.5, 3)]


def test_latest_calls_show_candidates_choice_fallbacks_and_outcome(dashboard: httpx.Client) -> None:
    calls = get(dashboard, "/ui/api/calls?limit=3")["data"]
    assert [c["id"] for c in calls] == ["c5", "c4", "c3"]
    c3 = calls[2]
    assert (c3["status"], c3["error"], c3["cost_usd"], c3["label"]) == (502, "upstream failed", None, None)
    assert [k["name"] for k in c3["candidates"]] == ["cheap", "strong"]
    assert calls[1]["task"] == "direct" and calls[1]["predicted"] is None and calls[1]["label"] == 1.0
    c2 = get(dashboard, f"/ui/api/calls?since={T0 + 20:.0f}&until={T0 + 21:.0f}")["data"]
    assert [(c["id"], c["backend"], c["fallbacks"]) for c in c2] == [("c2", "strong", ["cheap"])]
    assert c2[0]["predicted"]["p_acceptable"] == 0.95 and c2[0]["reason"] == "best-utility"


def test_one_call_in_full_with_secrets_redacted(dashboard: httpx.Client) -> None:
    response = dashboard.get("/ui/api/calls/c1")
    assert response.status_code == 200
    assert SECRET not in response.text
    c1 = response.json()
    assert c1["request"]["api_key"] == "[redacted]" and c1["response"]["meta"]["Authorization"] == "[redacted]"
    assert c1["request"]["messages"] == [{"role": "user", "content": "sort a list"}]
    assert [(x["score"], x["source"]) for x in c1["labels"]] == [(1.0, "human"), (0.0, "judge:strong")]
    assert c1["label"] == 0.5 and c1["threshold"] == 0.7 and c1["api_key_id"] == "team-a"
    assert [k["dropped"] for k in c1["candidates"]] == [None, None, None, "does not accept images"]


def test_an_empty_window_is_zeros_and_nulls_not_an_error(dashboard: httpx.Client) -> None:
    empty = f"since={T0 + 10 * 86400:.0f}"
    assert get(dashboard, f"/ui/api/traffic?{empty}") | {"window": None} == {
        "object": "dashboard.traffic",
        "calls": 0,
        "bucket_s": 60,
        "backends": [],
        "over_time": [],
        "by_task": [],
        "window": None,
    }
    s = get(dashboard, f"/ui/api/savings?{empty}")
    assert s["calls"] == 0 and s["saved_vs_strongest_share"] is None
    assert [(p["cost_usd"], p["mean_p_acceptable"]) for p in s["policies"]] == [(0, None)] * 3
    assert get(dashboard, f"/ui/api/accuracy?{empty}")["backends"] == []
    assert get(dashboard, f"/ui/api/calibration?{empty}") | {"window": None} == {
        "object": "dashboard.calibration",
        "labelled_calls": 0,
        "brier": None,
        "bins": [],
        "window": None,
    }
    assert get(dashboard, f"/ui/api/calls?{empty}")["data"] == []


def test_overview_names_the_model_version_in_use(dashboard: httpx.Client) -> None:
    o = get(dashboard, "/ui/api/overview")
    assert o["model_version"].startswith("prior-")  # the config points at no models: the prior rule
    assert {"name": "router", "candidates": ["strong", "cheap", "weak", "no-tools"]} in o["aliases"]
    assert o["auth"] == {"keys": False, "admin": False}


@pytest.mark.parametrize(
    "path,param",
    [
        ("/ui/api/traffic?since=yesterday", "since"),
        ("/ui/api/traffic?since=nan", "since"),
        ("/ui/api/traffic?until=inf", "until"),
        ("/ui/api/traffic?since=-5", "since"),
        ("/ui/api/traffic?since=10&until=10", "until"),
        ("/ui/api/traffic?since=1&since=2", "since"),
        ("/ui/api/traffic?bucket_s=0", "bucket_s"),
        ("/ui/api/traffic?bucket_s=1.5", "bucket_s"),
        ("/ui/api/savings?bucket_s=60", "bucket_s"),
        ("/ui/api/calibration?bins=1", "bins"),
        ("/ui/api/calls?limit=0", "limit"),
        ("/ui/api/calls?limit=501", "limit"),
        ("/ui/api/calls?limit=ten", "limit"),
        ("/ui/api/accuracy?color=red", "color"),
        ("/ui/api/overview?since=1", "since"),
    ],
)
def test_bad_query_is_a_400_naming_the_parameter(dashboard: httpx.Client, path: str, param: str) -> None:
    response = dashboard.get(path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param) and error["message"]


def test_unknown_call_is_404_and_wrong_method_405(dashboard: httpx.Client) -> None:
    missing = dashboard.get("/ui/api/calls/01NOSUCHCALL")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "call_not_found"
    wrong = dashboard.post("/ui/api/traffic", json={})
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_the_page_is_served_from_the_package_with_no_network(dashboard: httpx.Client) -> None:
    page = dashboard.get("/ui", follow_redirects=True)
    assert page.status_code == 200 and str(page.url).endswith("/ui/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<h2 id="savings-h">' in page.text and 'src="app.js"' in page.text
    for asset in ("app.js", "style.css"):
        assert dashboard.get(f"/ui/{asset}").status_code == 200
    assert "http" not in dashboard.get("/ui/app.js").text.replace("http://www.w3.org/2000/svg", "")
    missing = dashboard.get("/ui/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_page_files_ship_in_the_package() -> None:
    """An installed proxy serves /ui too: every file of proxy/http/ui is package data."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["proxy"]
    files = [p.relative_to(ROOT / "proxy") for p in (ROOT / "proxy" / "http" / "ui").iterdir()]
    assert len(files) == 3 and all(any(f.match(g) for g in globs) for f in files), (files, globs)


@pytest.fixture(scope="module")
def locked(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("dashboard-locked") / "calls.db"
    asyncio.run(write_log(db))
    raw = make_config_dict(sim_url, db)
    raw["auth"] = {"admin_key_env": "ADMIN_KEY"}
    raw["key"] = [{"id": "team", "sha256": hashlib.sha256(TEAM_KEY.encode()).hexdigest()}]
    environ = {**ENVIRON, "ADMIN_KEY": ADMIN_KEY}
    with serve_app(create_app(config_mod.parse(raw, environ=environ), environ=environ)) as url:
        yield url


@pytest.mark.parametrize("path", ["/ui/api/overview", "/ui/api/traffic", "/ui/api/calls", "/ui/api/calls/c1"])
def test_with_keys_the_json_needs_the_admin_key(locked: str, path: str) -> None:
    anonymous = httpx.get(locked + path)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_api_key"
    client = httpx.get(locked + path, headers={"authorization": f"Bearer {TEAM_KEY}"})
    assert client.status_code == 403 and client.json()["error"]["code"] == "not_admin"
    admin = httpx.get(locked + path, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert admin.status_code == 200
    assert ADMIN_KEY not in admin.text and TEAM_KEY not in admin.text and SECRET not in admin.text
    assert json.loads(admin.text)  # a JSON body, not the page


def test_with_keys_the_page_itself_loads_but_holds_no_data(locked: str) -> None:
    page = httpx.get(f"{locked}/ui/")
    assert page.status_code == 200 and "c1" not in page.text and "team" not in page.text


def test_with_logging_off_the_panels_are_empty_not_errors(sim_url: str, tmp_path: Path) -> None:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["log"] = {"enabled": False}
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        assert httpx.get(f"{url}/ui/api/traffic").json()["calls"] == 0
        assert httpx.get(f"{url}/ui/api/calls").json()["data"] == []
        assert httpx.get(f"{url}/ui/api/calls/c1").status_code == 404
