// Switchyard dashboard: fetches /ui/api/* and draws tables and small SVG charts. No dependency, no network
// beyond this proxy. Every value from the log goes into the page as text (textContent), never as HTML.
"use strict";

const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000"];
const SVG = "http://www.w3.org/2000/svg";
const state = { key: "", colors: new Map() };

// ---- formatting: the tests read these back, so one place defines each unit ----
const fmt = {
  usd: (v) => (v == null ? "—" : "$" + v.toFixed(6)),
  pct: (v) => (v == null ? "—" : (v * 100).toFixed(1) + "%"),
  p: (v) => (v == null ? "—" : v.toFixed(3)),
  s: (v) => (v == null ? "—" : v.toFixed(3) + " s"),
  n: (v) => (v == null ? "—" : String(v)),
  time: (t) => new Date(t * 1000).toISOString().slice(0, 19).replace("T", " "),
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

function cell(field, text, numeric) {
  return el("td", { "data-field": field, class: numeric ? "num" : null, text });
}

// A table body with `rows`, or one row saying there is nothing to show yet.
function fill(tbody, rows, message) {
  const columns = tbody.parentElement.tHead.rows[0] ? tbody.parentElement.tHead.rows[0].cells.length : 1;
  tbody.replaceChildren(...(rows.length ? rows
    : [el("tr", { class: "empty" }, el("td", { colspan: columns, text: message || "No calls in this window yet." }))]));
}

function color(name) {
  if (!state.colors.has(name)) state.colors.set(name, PALETTE[state.colors.size % PALETTE.length]);
  return state.colors.get(name);
}

function status(message, isError) {
  const node = document.getElementById("status");
  node.textContent = message;
  node.classList.toggle("error", Boolean(isError));
}

// ---- the API ----
async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options);
  if (opts.key !== undefined ? opts.key : state.key) {
    opts.headers.authorization = "Bearer " + (opts.key !== undefined ? opts.key : state.key);
  }
  const response = await fetch(path, opts);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new Error(`${response.status}: ${err.message || response.statusText}`);
  }
  return body;
}

function windowQuery() {
  const seconds = document.getElementById("window").value;
  return seconds ? "?since=" + (Date.now() / 1000 - Number(seconds)).toFixed(3) : "";
}

async function refresh() {
  document.body.dataset.state = "loading";
  status("Loading…");
  const q = windowQuery();
  const panels = [
    ["overview", "/ui/api/overview", renderOverview],
    ["traffic", "/ui/api/traffic" + q, renderTraffic],
    ["savings", "/ui/api/savings" + q, renderSavings],
    ["accuracy", "/ui/api/accuracy" + q, renderAccuracy],
    ["calibration", "/ui/api/calibration" + q, renderCalibration],
    ["calls", "/ui/api/calls" + q + (q ? "&" : "?") + "limit=50", renderCalls],
  ];
  const results = await Promise.allSettled(panels.map(([, path, render]) => api(path).then(render)));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) status("Could not load the dashboard: " + failed.reason.message, true);
  else status("Updated " + new Date().toLocaleTimeString() + ".");
  document.body.dataset.state = failed ? "error" : "ready";
}

// ---- panels ----
function renderOverview(o) {
  document.getElementById("model-version").textContent = o.model_version;
  document.getElementById("feature-version").textContent = o.feature_version;
  o.backends.forEach(color);
  fill(document.querySelector("#speed-table tbody"), Object.entries(o.live_speed || {}).map(([name, s]) =>
    el("tr", { "data-key": name }, el("th", { scope: "row", text: name }),
      cell("ttft_s", fmt.s(s.ttft_s), true), cell("tokens_per_s", fmt.n(s.tokens_per_s), true),
      cell("evidence", fmt.n(s.evidence), true))), "No live evidence yet: each answered call adds some.");
  const select = document.getElementById("try-alias");
  const current = select.value;
  select.replaceChildren(...o.aliases.map((a) => el("option", { value: a.name, text: a.name })));
  if (current) select.value = current;
}

function renderTraffic(t) {
  document.getElementById("traffic-note").textContent =
    `${t.calls} calls in the window; buckets of ${humanSeconds(t.bucket_s)}.`;
  const backends = t.backends.map((b) => b.backend);
  fill(document.querySelector("#traffic-backends tbody"),
    t.backends.map((b) =>
      el("tr", { "data-key": b.backend }, el("th", { scope: "row", text: b.backend }),
        cell("calls", fmt.n(b.calls), true), cell("share", fmt.pct(b.share), true))));
  const tasks = document.getElementById("traffic-tasks");
  tasks.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Task" }),
    el("th", { scope: "col", class: "num", text: "Calls" }),
    ...backends.map((b) => el("th", { scope: "col", class: "num", text: b }))));
  fill(tasks.tBodies[0], t.by_task.map((row) =>
    el("tr", { "data-key": row.task }, el("th", { scope: "row", text: row.task }), cell("calls", fmt.n(row.calls), true),
      ...backends.map((b) => cell(b, fmt.n(row.backends[b] || 0), true)))));
  document.getElementById("traffic-legend").replaceChildren(...backends.map((b) =>
    el("span", {}, swatch(b), b)));
  drawStacked(document.getElementById("traffic-chart"), t.over_time, backends);
}

function renderSavings(s) {
  const names = { routed: "Routed (realised)", always_strongest: "Always the strongest", always_cheapest: "Always the cheapest" };
  document.querySelector("#savings-table tbody").replaceChildren(...s.policies.map((p) =>
    el("tr", { "data-key": p.policy }, el("th", { scope: "row", text: names[p.policy] || p.policy }),
      cell("cost_usd", fmt.usd(p.cost_usd), true), cell("mean_p_acceptable", fmt.p(p.mean_p_acceptable), true))));
  const routed = s.policies.find((p) => p.policy === "routed");
  const facts = [
    ["calls", "Routed calls", fmt.n(s.calls)],
    ["predicted_cost_usd", "Predicted cost of the routed choices", fmt.usd(routed && routed.predicted_cost_usd)],
    ["saved_vs_strongest_usd", "Saved against always the strongest (predicted vs predicted)", fmt.usd(s.saved_vs_strongest_usd)],
    ["saved_vs_strongest_share", "Saved, share", fmt.pct(s.saved_vs_strongest_share)],
    ["labelled_calls", "Labelled routed calls", fmt.n(s.quality.labelled_calls)],
    ["realised_acceptability", "Realised quality (mean label)", fmt.p(s.quality.realised_acceptability)],
    ["predicted_acceptability", "Predicted P(acceptable) of those", fmt.p(s.quality.predicted_acceptability)],
  ];
  document.getElementById("savings-summary").replaceChildren(...facts.flatMap(([field, label, value]) =>
    [el("dt", { text: label }), el("dd", { "data-field": field, text: value })]));
  drawBars(document.getElementById("savings-chart"),
    s.policies.map((p) => ({ label: names[p.policy] || p.policy, value: p.cost_usd, text: fmt.usd(p.cost_usd) })));
}

function renderAccuracy(a) {
  fill(document.querySelector("#accuracy-table tbody"), a.backends.map((b) =>
    el("tr", { "data-key": b.backend }, el("th", { scope: "row", text: b.backend }), cell("calls", fmt.n(b.calls), true),
      cell("predicted_latency_s", fmt.s(b.predicted_latency_s), true),
      cell("observed_latency_s", fmt.s(b.observed_latency_s), true),
      cell("predicted_cost_usd", fmt.usd(b.predicted_cost_usd), true),
      cell("observed_cost_usd", fmt.usd(b.observed_cost_usd), true))));
  const names = [...new Set((a.over_time || []).flatMap((b) => Object.keys(b.backends)))];
  document.querySelector("#ratio-table thead tr").replaceChildren(el("th", { scope: "col", text: "From" }),
    ...names.map((n) => el("th", { scope: "col", class: "num", text: n })));
  const ratio = (v) => (v == null ? "—" : v.toFixed(2) + "×");
  fill(document.querySelector("#ratio-table tbody"), (a.over_time || []).slice(-12).map((b) =>
    el("tr", { "data-key": String(b.start) }, el("th", { scope: "row", text: fmt.time(b.start) }),
      ...names.map((n) => cell(n, b.backends[n]
        ? `${ratio(b.backends[n].latency_ratio)} · ${ratio(b.backends[n].cost_ratio)}` : "", true)))));
  const pts = (x, y) => a.points.filter((p) => p[x] > 0 && p[y] > 0)
    .map((p) => ({ x: p[x], y: p[y], color: color(p.backend), title: `${p.backend}: ${p.id}` }));
  drawScatter(document.getElementById("latency-chart"), pts("predicted_latency_s", "observed_latency_s"), "s");
  drawScatter(document.getElementById("cost-chart"), pts("predicted_cost_usd", "observed_cost_usd"), "$");
}

function renderCalibration(c) {
  document.getElementById("calibration-note").textContent = c.labelled_calls
    ? `${c.labelled_calls} labelled routed calls; Brier score ${fmt.p(c.brier)} (0 is perfect).`
    : "No labelled routed calls yet: send labels with POST /v1/feedback or switchyard label.";
  fill(document.querySelector("#calibration-table tbody"), c.bins.map((b) =>
    el("tr", { "data-key": b.low.toFixed(1) }, el("th", { scope: "row", text: `${b.low.toFixed(1)} – ${b.high.toFixed(1)}` }),
      cell("calls", fmt.n(b.calls), true), cell("mean_predicted", fmt.p(b.mean_predicted), true),
      cell("mean_observed", fmt.p(b.mean_observed), true))), "No labelled routed calls in this window yet.");
  drawCalibration(document.getElementById("calibration-chart"), c.bins);
}

function renderCalls(list) {
  fill(document.querySelector("#calls-table tbody"), list.data.map((c) => {
    const open = el("button", { type: "button", class: "link", "aria-label": `Details of call ${c.id}`,
      text: c.id.slice(-8), onclick: () => showCall(c.id) });
    return el("tr", { "data-key": c.id }, cell("time", fmt.time(c.started_at)), el("td", { "data-field": "id" }, open),
      cell("requested_model", c.requested_model), cell("task", c.task), cell("backend", c.backend || "—"),
      cell("p_acceptable", fmt.p(c.predicted && c.predicted.p_acceptable), true),
      cell("latency_s", fmt.s(c.latency_s), true), cell("cost_usd", fmt.usd(c.cost_usd), true),
      cell("candidates", c.candidates.map((k) => `${k.name} ${k.dropped ? "dropped" : fmt.p(k.p_acceptable)}`)
        .join(", ") || "—"),
      cell("fallbacks", c.fallbacks.join(", ") || "—"), cell("status", fmt.n(c.status), true),
      cell("label", fmt.p(c.label), true));
  }));
}

async function showCall(id) {
  const box = document.getElementById("call-detail");
  try {
    const c = await api("/ui/api/calls/" + encodeURIComponent(id));
    box.dataset.call = c.id;
    document.getElementById("call-detail-h").textContent = "Call " + c.id;
    const facts = [
      ["started_at", "Started (UTC)", fmt.time(c.started_at)], ["requested_model", "Asked for", c.requested_model],
      ["dialect", "Client API", c.dialect || "—"],
      ["backend", "Answered by", c.backend || "—"], ["reason", "Why", c.reason || "named its backend"],
      ["task", "Task", c.task], ["model_version", "Router models", c.model_version || "—"],
      ["threshold", "Acceptability threshold", fmt.p(c.threshold)], ["status", "Status", fmt.n(c.status)],
      ["error", "Error", c.error || "—"], ["latency_s", "Latency", fmt.s(c.latency_s)],
      ["ttft_s", "Time to first token", fmt.s(c.ttft_s)],
      ["tokens", "Tokens in / out", `${fmt.n(c.input_tokens)} / ${fmt.n(c.output_tokens)}`],
      ["cost_usd", "Cost", fmt.usd(c.cost_usd)], ["fallbacks", "Fallbacks", c.fallbacks.join(", ") || "—"],
      ["exploration", "Exploration pick", c.exploration ? "yes" : "no"], ["label", "Label (mean)", fmt.p(c.label)],
    ];
    document.getElementById("call-detail-facts").replaceChildren(...facts.flatMap(([field, label, value]) =>
      [el("dt", { text: label }), el("dd", { "data-field": field, text: value })]));
    fillCandidates(document.querySelector("#call-detail-candidates tbody"), c.candidates, c.reason, c.threshold);
    document.getElementById("call-detail-candidates").hidden = c.candidates.length === 0;
    document.getElementById("call-detail-attempts").replaceChildren(...c.attempts.map((a) =>
      el("li", { text: a.skipped ? `${a.backend}: skipped (${a.skipped})`
        : `${a.backend}: ${a.error ? `failed with ${a.status}: ${a.error}` : "answered"} in ${fmt.s(a.seconds)}` })));
    document.getElementById("call-detail-labels").replaceChildren(...(c.labels.length ? c.labels.map((l) =>
      el("li", { text: `${fmt.p(l.score)} from ${l.source}${l.comment ? `: “${l.comment}”` : ""}` }))
      : [el("li", { text: "none" })]));
    document.getElementById("call-detail-bodies").textContent =
      JSON.stringify({ request: c.request, response: c.response }, null, 2);
    box.hidden = false;
    document.getElementById("call-detail-h").focus();
  } catch (err) {
    status("Could not load the call: " + err.message, true);
  }
}

// The serving order is: the chosen candidate, its fallbacks, then the dropped ones.
function fillCandidates(tbody, candidates, reason, threshold) {
  let rank = 0;
  tbody.replaceChildren(...candidates.map((c, i) => {
    const kept = !c.dropped;
    if (kept) rank += 1;
    let why;
    if (!kept) why = "dropped: " + c.dropped;
    else if (i === 0) why = `chosen (${reason})`;
    else if (c.utility != null) why = "kept: acceptable, a fallback by utility";
    else why = `kept as a last resort: P(acceptable) below the threshold ${fmt.p(threshold)}`;
    return el("tr", { "data-key": c.name, class: !kept ? "dropped" : i === 0 ? "chosen" : null },
      cell("rank", kept ? String(rank) : "—", true), el("th", { scope: "row", text: c.name }),
      cell("p_acceptable", fmt.p(c.p_acceptable), true), cell("latency_s", fmt.s(c.latency_s), true),
      cell("cost_usd", fmt.usd(c.cost_usd), true), cell("utility", fmt.p(c.utility), true), cell("why", why));
  }));
}

async function tryPrompt(event) {
  event.preventDefault();
  const out = document.getElementById("try-result");
  const table = document.getElementById("try-table");
  const body = {
    model: document.getElementById("try-alias").value,
    messages: [{ role: "user", content: document.getElementById("try-prompt").value }],
  };
  out.textContent = "Ranking…";
  try {
    const d = await api("/v1/route", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      key: document.getElementById("try-key").value || state.key,
    });
    out.textContent = `Routed to ${d.model} (${d.reason}); task ${d.task}; router models ${d.model_version}.`;
    out.classList.remove("error");
    fillCandidates(table.tBodies[0], d.candidates, d.reason, d.threshold);
    table.hidden = false;
  } catch (err) {
    out.textContent = "Could not rank: " + err.message;
    out.classList.add("error");
    table.hidden = true;
  }
}

async function reloadModels() {
  status("Reloading the router models…");
  try {
    const r = await api("/admin/reload", { method: "POST" });
    status(`Models reloaded: ${r.previous} → ${r.model_version}.`);
    document.getElementById("model-version").textContent = r.model_version;
  } catch (err) {
    status("Models not reloaded: " + err.message, true);
  }
}

// ---- charts: small inline SVG, drawn from the same JSON as the tables ----
function swatch(name) {
  const s = el("span", { class: "swatch", "aria-hidden": "true" });
  s.style.background = color(name);
  return s;
}

function humanSeconds(s) {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function frame(svg, w, h) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  return svg;
}

function drawStacked(svg, buckets, backends) {
  const W = 560, H = 180, L = 36, B = 22;
  frame(svg, W, H);
  const total = buckets.map((b) => Object.values(b.calls).reduce((x, y) => x + y, 0));
  const max = Math.max(1, ...total);
  const bw = Math.min((W - L) / Math.max(buckets.length, 1), 48);  // one bucket is a bar, not a wall
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "#8a94a3" }));
  svg.append(svgEl("text", { x: L - 4, y: 10, "text-anchor": "end" }, String(max)));
  svg.append(svgEl("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
  buckets.forEach((b, i) => {
    let y = H - B;
    for (const name of backends) {
      const n = b.calls[name] || 0;
      if (!n) continue;
      const h = ((H - B - 12) * n) / max;
      y -= h;
      const r = svgEl("rect", { x: L + i * bw + 1, y, width: Math.max(bw - 2, 1), height: h, fill: color(name) });
      r.append(svgEl("title", {}, `${fmt.time(b.start)}: ${name} ${n}`));
      svg.append(r);
    }
  });
  if (buckets.length) {
    svg.append(svgEl("text", { x: L, y: H - 6 }, fmt.time(buckets[0].start)));
    svg.append(svgEl("text", { x: W, y: H - 6, "text-anchor": "end" }, fmt.time(buckets[buckets.length - 1].start)));
  }
  svg.setAttribute("aria-label", `Stacked bars of calls per backend in ${buckets.length} time buckets`);
}

function drawBars(svg, bars) {
  const W = 560, rowH = 30, L = 170, H = rowH * bars.length + 10;
  frame(svg, W, H);
  const max = Math.max(...bars.map((b) => b.value || 0), 1e-12);
  bars.forEach((b, i) => {
    const y = 5 + i * rowH;
    const w = ((W - L - 90) * (b.value || 0)) / max;
    svg.append(svgEl("text", { x: L - 6, y: y + 18, "text-anchor": "end" }, b.label));
    svg.append(svgEl("rect", { x: L, y: y + 4, width: Math.max(w, 1), height: rowH - 10, fill: PALETTE[i] }));
    svg.append(svgEl("text", { x: L + w + 6, y: y + 18 }, b.text));
  });
  svg.setAttribute("aria-label", bars.map((b) => `${b.label} ${b.text}`).join("; "));
}

function drawScatter(svg, points, unit) {
  const W = 280, H = 220, L = 44, B = 26, T = 8, R = 18;
  frame(svg, W, H);
  if (!points.length) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
    svg.setAttribute("aria-label", "No data yet");
    return;
  }
  const values = points.flatMap((p) => [p.x, p.y]);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(Math.ceil(Math.log10(Math.max(...values))), lo + 1);
  const sx = (v) => L + ((Math.log10(v) - lo) / (hi - lo)) * (W - L - R);
  const sy = (v) => H - B - ((Math.log10(v) - lo) / (hi - lo)) * (H - B - T);
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - B - T, fill: "none", stroke: "#d0d5dd" }));
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: T, stroke: "#8a94a3", "stroke-dasharray": "4 3" }));
  for (let e = lo; e <= hi; e += Math.max(1, Math.round((hi - lo) / 4))) {
    const label = unit === "$" ? `$1e${e}` : `1e${e}`;
    svg.append(svgEl("text", { x: sx(10 ** e), y: H - 8, "text-anchor": "middle" }, label));
    svg.append(svgEl("text", { x: L - 4, y: sy(10 ** e) + 4, "text-anchor": "end" }, label));
  }
  for (const p of points) {
    const c = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: 3.5, fill: p.color, "fill-opacity": 0.8 });
    c.append(svgEl("title", {}, `${p.title}: predicted ${p.x.toPrecision(3)}, observed ${p.y.toPrecision(3)}`));
    svg.append(c);
  }
  svg.setAttribute("aria-label", `${points.length} calls, predicted against observed`);
}

function drawCalibration(svg, bins) {
  const W = 280, H = 220, L = 36, B = 26, T = 8, R = 8;
  frame(svg, W, H);
  const sx = (v) => L + v * (W - L - R);
  const sy = (v) => H - B - v * (H - B - T);
  svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - B - T, fill: "none", stroke: "#d0d5dd" }));
  svg.append(svgEl("line", { x1: sx(0), y1: sy(0), x2: sx(1), y2: sy(1), stroke: "#8a94a3", "stroke-dasharray": "4 3" }));
  for (const v of [0, 0.5, 1]) {
    svg.append(svgEl("text", { x: sx(v), y: H - 8, "text-anchor": "middle" }, String(v)));
    svg.append(svgEl("text", { x: L - 4, y: sy(v) + 4, "text-anchor": "end" }, String(v)));
  }
  const most = Math.max(1, ...bins.map((b) => b.calls));
  for (const b of bins) {
    const c = svgEl("circle", { cx: sx(b.mean_predicted), cy: sy(b.mean_observed), r: 3 + (6 * b.calls) / most, fill: PALETTE[0] });
    c.append(svgEl("title", {}, `${b.calls} calls: predicted ${fmt.p(b.mean_predicted)}, label ${fmt.p(b.mean_observed)}`));
    svg.append(c);
  }
  svg.setAttribute("aria-label", bins.length ? `${bins.length} bins of predicted against labelled acceptability` : "No labels yet");
}

// ---- wiring ----
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = document.getElementById("admin-key").value.trim();
    refresh();
  });
  document.getElementById("window").addEventListener("change", refresh);
  document.getElementById("refresh").addEventListener("click", refresh);
  document.getElementById("reload-models").addEventListener("click", reloadModels);
  document.getElementById("try-form").addEventListener("submit", tryPrompt);
  document.getElementById("call-detail-close").addEventListener("click", () => {
    const box = document.getElementById("call-detail");
    box.hidden = true;
    const opener = document.querySelector(`#calls-table tr[data-key="${CSS.escape(box.dataset.call || "")}"] button`);
    if (opener) opener.focus();
  });
  refresh();
});
