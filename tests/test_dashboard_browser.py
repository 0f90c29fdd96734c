"""End to end in a real headless browser: Debian's chromium, driven by Playwright, loads /ui against the proxy
and the simulated backends after some traffic and a label, and shows what the JSON endpoints return.

Needs /usr/bin/chromium (`.ci/run` installs it) and never downloads a browser. Leaves var/dashboard.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from tests.conftest import ENVIRON, ROOT, logged_row, make_config_dict
from tests.servers import serve_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "var" / "dashboard.png"
PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "What is 17 * 23?",
    "Summarise the plot of Hamlet in two sentences.",
    "Translate 'good morning, how are you?' into French.",
    "Hi! How is your day going?",
]
ADMIN_KEY = "sk-admin-ui-0123456789abcdef"
TEAM_KEY = "sk-team-ui-0123456789abcdef"
TRY_PROMPT = "Prove that the square root of 2 is irrational."

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def traffic(proxy_url: str, db_path: Path) -> dict[str, Any]:
    """Six routed calls (five to `router`, one to `strict`), one naming its backend, two labels; all on disk."""
    with httpx.Client(base_url=proxy_url, timeout=30) as http:
        routed = []
        for prompt in PROMPTS:
            r = http.post("/v1/chat/completions", json={"model": "router", "messages": [user(prompt)]})
            assert r.status_code == 200, r.text
            routed.append(r.headers["x-router-request-id"])
        # The strict alias accepts only P(acceptable) >= 0.85: the strong backend gets some traffic too.
        strict = http.post(
            "/v1/chat/completions", json={"model": "strict", "messages": [user("Explain TCP slow start.")]}
        )
        assert strict.status_code == 200 and strict.headers["x-router-model"] == "strong"
        routed.append(strict.headers["x-router-request-id"])
        named = http.post("/v1/chat/completions", json={"model": "weak", "messages": [user("Hello")]})
        assert named.status_code == 200
        for call_id in [*routed, named.headers["x-router-request-id"]]:
            logged_row(db_path, call_id, "id")
        assert http.post("/v1/feedback", json={"request_id": routed[0], "thumbs": "up"}).status_code == 201
        assert http.post("/v1/feedback", json={"request_id": routed[1], "score": 0.0}).status_code == 201
        deadline = time.monotonic() + 10
        while http.get("/ui/api/calibration").json()["labelled_calls"] < 2:
            assert time.monotonic() < deadline, "the labels were not written within 10 s"
            time.sleep(0.05)
        return {
            name: http.get(f"/ui/api/{name}").json()
            for name in ("overview", "traffic", "savings", "accuracy", "calibration", "calls")
        }


@pytest.fixture(scope="module")
def problems() -> list[str]:
    """What the page reported going wrong: script errors, console errors, requests to any other server."""
    return []


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Any, proxy_url: str, traffic: dict[str, Any], problems: list[str]) -> Iterator[Any]:
    """The dashboard in chromium, showing all time. The tests share it and run in order (the last saves it)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: None if req.url.startswith(proxy_url) else problems.append(f"off-site: {req.url}"))
    page.goto(f"{proxy_url}/ui/")
    page.wait_for_selector("body[data-state=ready]")
    page.select_option("#window", "")  # all time: the same calls the JSON above was computed on
    page.wait_for_selector("body[data-state=ready]")
    yield page
    page.close()


def test_header_shows_the_model_version(page: Any, traffic: dict[str, Any]) -> None:
    assert page.inner_text("#model-version") == traffic["overview"]["model_version"]
    assert page.inner_text("#feature-version") == traffic["overview"]["feature_version"]


def test_traffic_panel(page: Any, traffic: dict[str, Any]) -> None:
    t = traffic["traffic"]
    assert t["calls"] == len(PROMPTS) + 2
    assert {"cheap", "strong", "weak"} <= {b["backend"] for b in t["backends"]}
    assert len(page.query_selector_all("#traffic-backends tbody tr")) == len(t["backends"])
    for b in t["backends"]:
        row = f'#traffic-backends tr[data-key="{b["backend"]}"]'
        assert page.inner_text(f'{row} [data-field="calls"]') == str(b["calls"])
        near(page.inner_text(f'{row} [data-field="share"]'), b["share"] * 100, 1)
    tasks = {row["task"]: row for row in t["by_task"]}
    assert "direct" in tasks and len(tasks) >= 2
    for task, row in tasks.items():
        assert page.inner_text(f'#traffic-tasks tr[data-key="{task}"] [data-field="calls"]') == str(row["calls"])
        for backend, n in row["backends"].items():
            assert page.inner_text(f'#traffic-tasks tr[data-key="{task}"] [data-field="{backend}"]') == str(n)
    bars = sum(len(b["calls"]) for b in t["over_time"])
    assert len(page.query_selector_all("#traffic-chart rect")) == bars


def test_savings_panel(page: Any, traffic: dict[str, Any]) -> None:
    s = traffic["savings"]
    assert s["calls"] == len(PROMPTS) + 1
    for p in s["policies"]:
        row = f'#savings-table tr[data-key="{p["policy"]}"]'
        near(page.inner_text(f'{row} [data-field="cost_usd"]'), p["cost_usd"], 6)
        near(page.inner_text(f'{row} [data-field="mean_p_acceptable"]'), p["mean_p_acceptable"], 3)
    near(page.inner_text('#savings-summary [data-field="saved_vs_strongest_usd"]'), s["saved_vs_strongest_usd"], 6)
    assert page.inner_text('#savings-summary [data-field="labelled_calls"]') == "2"
    realised = s["quality"]["realised_acceptability"]
    near(page.inner_text('#savings-summary [data-field="realised_acceptability"]'), realised, 3)


def test_predicted_vs_observed_panel(page: Any, traffic: dict[str, Any]) -> None:
    a = traffic["accuracy"]
    assert a["calls"] == len(PROMPTS) + 1
    for b in a["backends"]:
        row = f'#accuracy-table tr[data-key="{b["backend"]}"]'
        assert page.inner_text(f'{row} [data-field="calls"]') == str(b["calls"])
        for field, digits in [("predicted_latency_s", 3), ("observed_latency_s", 3), ("predicted_cost_usd", 6)]:
            near(page.inner_text(f'{row} [data-field="{field}"]'), b[field], digits)
        near(page.inner_text(f'{row} [data-field="observed_cost_usd"]'), b["observed_cost_usd"], 6)
    assert len(page.query_selector_all("#latency-chart circle")) == len(a["points"])
    assert len(page.query_selector_all("#cost-chart circle")) == len(a["points"])


def test_calibration_panel(page: Any, traffic: dict[str, Any]) -> None:
    c = traffic["calibration"]
    assert c["labelled_calls"] == 2 and c["bins"]
    assert f"{c['labelled_calls']} labelled routed calls" in page.inner_text("#calibration-note")
    assert len(page.query_selector_all("#calibration-table tbody tr")) == len(c["bins"])
    for b in c["bins"]:
        row = f'#calibration-table tr[data-key="{b["low"]:.1f}"]'
        assert page.inner_text(f'{row} [data-field="calls"]') == str(b["calls"])
        near(page.inner_text(f'{row} [data-field="mean_predicted"]'), b["mean_predicted"], 3)
        near(page.inner_text(f'{row} [data-field="mean_observed"]'), b["mean_observed"], 3)
    assert len(page.query_selector_all("#calibration-chart circle")) == len(c["bins"])


def test_latest_calls_and_the_detail_view_by_keyboard(page: Any, proxy_url: str, traffic: dict[str, Any]) -> None:
    calls = traffic["calls"]["data"]
    rows = page.query_selector_all("#calls-table tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == [c["id"] for c in calls]
    for c in calls:
        row = f'#calls-table tr[data-key="{c["id"]}"]'
        assert page.inner_text(f'{row} [data-field="backend"]') == c["backend"]
        assert page.inner_text(f'{row} [data-field="task"]') == c["task"]
        assert page.inner_text(f'{row} [data-field="status"]') == str(c["status"])
        shown = page.inner_text(f'{row} [data-field="candidates"]')
        assert shown == (", ".join(f"{k['name']} {k['p_acceptable']:.3f}" for k in c["candidates"]) or "—")
    call = next(c for c in calls if c["candidates"])
    page.focus(f'#calls-table tr[data-key="{call["id"]}"] button')
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#call-detail[data-call="{call["id"]}"]:not([hidden])')
    sync_api.expect(page.locator("#call-detail-h")).to_be_focused()  # focus follows the reader
    detail = httpx.get(f"{proxy_url}/ui/api/calls/{call['id']}").json()
    names = [r.get_attribute("data-key") for r in page.query_selector_all("#call-detail-candidates tbody tr")]
    assert names == [k["name"] for k in detail["candidates"]]
    assert page.inner_text('#call-detail-facts [data-field="backend"]') == detail["backend"]
    chosen = f'#call-detail-candidates tr[data-key="{detail["backend"]}"] [data-field="why"]'
    assert page.inner_text(chosen) == f"chosen ({detail['reason']})"


def test_try_a_prompt_shows_the_ranking_and_why(page: Any, proxy_url: str) -> None:
    page.fill("#try-prompt", TRY_PROMPT)
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#try-table:not([hidden])")
    expected = httpx.post(f"{proxy_url}/v1/route", json={"model": "router", "messages": [user(TRY_PROMPT)]}).json()
    rows = page.query_selector_all("#try-table tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == [c["name"] for c in expected["candidates"]]
    for c in expected["candidates"]:
        row = f'#try-table tr[data-key="{c["name"]}"]'
        near(page.inner_text(f'{row} [data-field="p_acceptable"]'), c["p_acceptable"], 3)
        near(page.inner_text(f'{row} [data-field="cost_usd"]'), c["cost_usd"], 6)
        why = page.inner_text(f'{row} [data-field="why"]')
        assert why.startswith("dropped: ") if c["dropped"] else why.startswith(("chosen", "kept"))
    assert f"Routed to {expected['model']} ({expected['reason']})" in page.inner_text("#try-result")


def test_reload_reports_what_the_proxy_said(page: Any) -> None:
    page.click("#reload-models")
    page.wait_for_selector("#status.error")  # this proxy has no admin key: /admin/reload refuses, and says so
    assert "Admin endpoints are disabled" in page.inner_text("#status")


def test_screenshot_and_no_error_or_off_site_request(page: Any, problems: list[str]) -> None:
    page.click("#refresh")
    page.wait_for_selector("body[data-state=ready]")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    # The only console error allowed is the reload refused on purpose above (a 403 resource error).
    assert [p for p in problems if "403" not in p] == []


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def near(text: str, expected: float, digits: int) -> None:
    """The number shown in `text` is `expected` rounded to `digits` decimals."""
    match = re.search(r"-?\d+(\.\d+)?", text)
    assert match is not None, f"no number in {text!r}"
    assert abs(float(match.group()) - expected) <= 0.5 * 10**-digits + 1e-12, (text, expected)


@pytest.fixture(scope="module")
def locked_url(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A proxy with a client key and an admin key."""
    raw = make_config_dict(sim_url, tmp_path_factory.mktemp("locked-ui") / "calls.db")
    raw["auth"] = {"admin_key_env": "ADMIN_KEY"}
    raw["key"] = [{"id": "team", "key_env": "TEAM_KEY"}]
    environ = {**ENVIRON, "ADMIN_KEY": ADMIN_KEY, "TEAM_KEY": TEAM_KEY}
    with serve_app(create_app(config_mod.parse(raw, environ=environ), environ=environ)) as url:
        yield url


def test_with_keys_the_page_asks_for_the_admin_key_and_never_shows_it(browser: Any, locked_url: str) -> None:
    page = browser.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{locked_url}/ui/")
    page.wait_for_selector("body[data-state=error]")
    assert "401: Missing admin key" in page.inner_text("#status")
    page.fill("#admin-key", ADMIN_KEY)
    page.press("#admin-key", "Enter")
    page.wait_for_selector("body[data-state=ready]")
    assert (
        page.inner_text("#model-version")
        == httpx.get(f"{locked_url}/ui/api/overview", headers={"authorization": f"Bearer {ADMIN_KEY}"}).json()[
            "model_version"
        ]
    )
    # /v1/route wants a client key: the admin key alone is refused, the team key ranks.
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#try-result.error")
    assert "401" in page.inner_text("#try-result") and page.is_hidden("#try-table")
    page.fill("#try-key", TEAM_KEY)
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#try-table:not([hidden])")
    assert page.inner_text("#try-result").startswith("Routed to ")
    page.click("#reload-models")
    # (Locator assertions, not wait_for_function: the page's CSP forbids the eval that one would poll with.)
    sync_api.expect(page.locator("#status")).to_contain_text("Models reloaded: ")
    assert ADMIN_KEY not in page.content() and TEAM_KEY not in page.content()
    assert errors == []  # this proxy has no traffic yet: every panel draws its empty state
    page.close()
