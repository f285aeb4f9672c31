// runplane dashboard, sweeps: "Sweep grid" starts a sweep over the chosen catalog model's whole parameter
// grid (POST /v1/sweeps) and follows it: progress, counts, the best trial, and a chart of a chosen metric
// against the swept parameter, drawn here as SVG (no library, nothing from another origin).
//
// The same safety rule as app.js: server and user data reach the page as text only (textContent, SVG
// attributes set one by one); no innerHTML, no inline styles (the page's CSP forbids them), no eval.
"use strict";

(() => {
  const KEY_STORAGE = "runplane.apiKey";
  const POLL_MS = 2000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART = { width: 640, height: 300, left: 76, right: 20, top: 16, bottom: 48 };
  const PREFERRED_METRICS = ["rmse", "loss", "mae", "r2"];

  const sweepState = { id: null, timer: null, metric: "", parameter: null, busy: false };

  const $ = (id) => document.getElementById(id);

  function setText(node, value) {
    if (node) node.textContent = value === undefined || value === null ? "" : String(value);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function fmt(value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    return value.toLocaleString("en-US", { maximumSignificantDigits: 4, useGrouping: false });
  }

  function randomToken() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function call(path, options = {}) {
    const headers = { "X-API-Key": sessionStorage.getItem(KEY_STORAGE) || "", Accept: "application/json" };
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, options.headers || {});
    let response;
    try {
      response = await fetch(path, {
        method: options.method || "GET",
        headers,
        body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
        cache: "no-store",
        credentials: "omit",
        redirect: "error",
      });
    } catch (err) {
      throw new Error("The server cannot be reached");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const field = body && body.details && body.details.field ? ` [${body.details.field}]` : "";
      throw new Error(`${(body && body.error) || `HTTP ${response.status}`}${field}`);
    }
    return body;
  }

  // ---------------------------------------------------------------- starting a sweep from the form

  function formTask(model) {
    const jobName = $("job-name").value.trim() || `${model.id}-sweep`;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobName)) throw new Error("Job name: 1–64 letters, digits, - or _.");
    const inputs = {};
    const region = $("input-region").value.trim();
    if (region) inputs.region = region;
    const year = $("input-year").value.trim();
    if (year) {
      if (!/^\d{4}$/.test(year)) throw new Error("Year: four digits.");
      inputs.year = Number(year);
    }
    const parameterSet = $("input-parameter-set").value.trim();
    if (parameterSet) inputs.parameter_set = parameterSet;
    const task = { job_name: jobName, model_id: model.id, inputs };
    const priority = Number($("priority").value.trim() || "5");
    if (!Number.isInteger(priority) || priority < 1 || priority > 10) throw new Error("Priority: 1 to 10.");
    task.priority = priority;
    const label = $("run-label").value.trim();
    if (label) task.run_label = label;
    return task;
  }

  async function startSweep() {
    const result = $("submit-result");
    const button = $("sweep-grid");
    result.className = "form-status";
    button.disabled = true;
    try {
      const models = (await call("/v1/models")).models || [];
      const model = models.find((m) => m.id === $("model").value);
      if (!model) throw new Error("Choose a model.");
      const grid = model.params || {};
      if (Object.keys(grid).length === 0) throw new Error(`${model.name} has no parameter grid.`);
      const repeats = Number($("sweep-repeats").value.trim() || "1");
      if (!Number.isInteger(repeats) || repeats < 1 || repeats > 1000) throw new Error("Repeats: 1 to 1000.");
      const body = { task: formTask(model), grid, repeats };
      const seed = $("seed").value.trim();
      if (seed) {
        if (!/^\d+$/.test(seed) || Number(seed) > 4294967295) throw new Error("Seed: a whole number from 0 to 4294967295.");
        body.random_seed = Number(seed);
      }
      setText(result, "Starting sweep…");
      const sweep = await call("/v1/sweeps", { method: "POST", json: body, headers: { "Idempotency-Key": randomToken() } });
      setText(result, `Sweep ${sweep.name} started: ${sweep.task_count} tasks (${sweep.id.slice(0, 8)}).`);
      openSweep(sweep);
    } catch (err) {
      result.className = "form-status form-error";
      setText(result, `Sweep not started: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- following a sweep

  function openSweep(sweep) {
    sweepState.id = sweep.id;
    sweepState.metric = "";
    sweepState.parameter = (sweep.parameters || [])[0] || null;
    $("sweep-view").hidden = false;
    setText($("sweep-title"), `Sweep ${sweep.name}`);
    renderSweep(sweep);
    clear($("sweep-chart"));
    refresh();
  }

  function closeSweep() {
    sweepState.id = null;
    if (sweepState.timer) clearTimeout(sweepState.timer);
    sweepState.timer = null;
    $("sweep-view").hidden = true;
  }

  function schedule(delay) {
    if (sweepState.timer) clearTimeout(sweepState.timer);
    sweepState.timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    const id = sweepState.id;
    if (!id || sweepState.busy) return;
    sweepState.busy = true;
    try {
      const results = await call(`/v1/sweeps/${encodeURIComponent(id)}/results`);
      if (id !== sweepState.id) return;
      chooseMetric(results.metrics || []);
      const params = new URLSearchParams({ goal: $("sweep-goal").value });
      if (sweepState.metric) params.set("metric", sweepState.metric);
      const sweep = await call(`/v1/sweeps/${encodeURIComponent(id)}?${params}`);
      if (id !== sweepState.id) return;
      renderSweep(sweep);
      drawChart(results, sweep);
      setText($("sweep-error"), "");
      if (!sweep.finished) schedule(POLL_MS);
    } catch (err) {
      setText($("sweep-error"), `Sweep not refreshed: ${err.message}`);
      schedule(POLL_MS * 2);
    } finally {
      sweepState.busy = false;
    }
  }

  function chooseMetric(metrics) {
    const select = $("sweep-metric");
    const known = Array.from(select.options, (o) => o.value);
    if (known.join("\n") !== metrics.join("\n")) {
      clear(select);
      for (const name of metrics) {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        select.appendChild(option);
      }
    }
    if (!metrics.includes(sweepState.metric)) {
      sweepState.metric = PREFERRED_METRICS.find((m) => metrics.includes(m)) || metrics[0] || "";
    }
    select.value = sweepState.metric;
    select.disabled = metrics.length === 0;
  }

  function renderSweep(sweep) {
    const bar = $("sweep-progress");
    bar.value = sweep.progress;
    setText($("sweep-progress-label"), `${Math.round(sweep.progress)}%`);
    const counts = sweep.counts || {};
    const parts = ["queued", "preparing", "running", "collecting", "completed", "failed", "cancelled"]
      .filter((status) => counts[status])
      .map((status) => `${counts[status]} ${status}`);
    const state = sweep.finished ? "finished" : sweep.cancelled_at ? "cancelling" : "running";
    setText($("sweep-counts"), `${sweep.task_count} tasks (${sweep.variation_count} variations × ${sweep.repeats}) · ${state} · ${parts.join(" · ")}`);
    $("sweep-view").dataset.finished = sweep.finished ? "1" : "0";
    $("sweep-cancel").hidden = sweep.finished;
    const best = sweep.best;
    if (best) {
      const values = Object.entries(best.variation).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
      setText($("sweep-best"), `Best (${best.goal} ${best.metric}): ${fmt(best.value)} at ${values}, trial ${best.trial} (task ${best.task_id.slice(0, 8)})`);
    } else {
      setText($("sweep-best"), sweepState.metric ? "No completed trial has this metric yet." : "No results yet.");
    }
  }

  async function cancelSweep() {
    const id = sweepState.id;
    if (!id) return;
    try {
      const answer = await call(`/v1/sweeps/${encodeURIComponent(id)}`, { method: "DELETE" });
      setText($("sweep-error"), `Cancelled ${answer.cancelled} queued task(s); stopping ${answer.stopping}.`);
      refresh();
    } catch (err) {
      setText($("sweep-error"), `Not cancelled: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- the chart (SVG)

  function drawChart(results, sweep) {
    const host = $("sweep-chart");
    clear(host);
    const parameter = sweepState.parameter;
    const metric = sweepState.metric;
    const points = [];
    for (const row of results.rows || []) {
      const x = row.variation ? row.variation[parameter] : undefined;
      const y = row.summary ? row.summary[metric] : undefined;
      if (x === undefined || typeof y !== "number") continue;
      points.push({ x, y, trial: row.trial, task: row.task_id });
    }
    const width = CHART.width;
    const height = CHART.height;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      class: "chart",
      role: "img",
      "aria-label": `${metric || "metric"} against ${parameter || "parameter"}`,
    });
    root.appendChild(svg("title", {}, `${metric} against ${parameter} (${points.length} of ${sweep.task_count} trials)`));
    setText($("sweep-chart-caption"), parameter && metric
      ? `${metric} against ${parameter}: ${points.length} of ${sweep.task_count} trials; the line joins the mean at each value.`
      : "");
    host.appendChild(root);
    if (!parameter || !metric || points.length === 0) {
      root.appendChild(svg("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" }, "No results yet"));
      return;
    }
    const xs = scaleX(points.map((p) => p.x), (sweep.parameters || []).length ? gridValues(results, parameter) : []);
    const ys = points.map((p) => p.y);
    let low = Math.min(...ys);
    let high = Math.max(...ys);
    if (low === high) {
      low -= Math.abs(low) * 0.1 || 1;
      high += Math.abs(high) * 0.1 || 1;
    }
    const plotW = width - CHART.left - CHART.right;
    const plotH = height - CHART.top - CHART.bottom;
    const px = (x) => CHART.left + xs.at(x) * plotW;
    const py = (y) => CHART.top + (1 - (y - low) / (high - low)) * plotH;

    // Axes, ticks and labels.
    root.appendChild(svg("line", { x1: CHART.left, y1: CHART.top + plotH, x2: CHART.left + plotW, y2: CHART.top + plotH, class: "chart-axis" }));
    root.appendChild(svg("line", { x1: CHART.left, y1: CHART.top, x2: CHART.left, y2: CHART.top + plotH, class: "chart-axis" }));
    for (const value of xs.ticks.length ? xs.ticks : xs.categories || []) {
      const x = px(value);
      root.appendChild(svg("line", { x1: x, y1: CHART.top + plotH, x2: x, y2: CHART.top + plotH + 5, class: "chart-axis" }));
      root.appendChild(svg("text", { x, y: CHART.top + plotH + 18, "text-anchor": "middle", class: "chart-tick" }, fmt(value)));
    }
    for (let i = 0; i <= 4; i += 1) {
      const value = low + ((high - low) * i) / 4;
      const y = py(value);
      root.appendChild(svg("line", { x1: CHART.left, y1: y, x2: CHART.left + plotW, y2: y, class: "chart-grid" }));
      root.appendChild(svg("text", { x: CHART.left - 6, y: y + 4, "text-anchor": "end", class: "chart-tick" }, fmt(value)));
    }
    root.appendChild(svg("text", { x: CHART.left + plotW / 2, y: height - 8, "text-anchor": "middle", class: "chart-label" },
      `${parameter}${xs.log ? " (log scale)" : ""}`));
    root.appendChild(svg("text", { x: 14, y: CHART.top + plotH / 2, "text-anchor": "middle", class: "chart-label",
      transform: `rotate(-90 14 ${CHART.top + plotH / 2})` }, metric));

    // The mean at each swept value, joined in order; then every trial as a point.
    const groups = new Map();
    for (const p of points) {
      const key = JSON.stringify(p.x);
      if (!groups.has(key)) groups.set(key, { x: p.x, ys: [] });
      groups.get(key).ys.push(p.y);
    }
    const means = Array.from(groups.values())
      .map((g) => ({ x: g.x, y: g.ys.reduce((a, b) => a + b, 0) / g.ys.length }))
      .sort((a, b) => xs.at(a.x) - xs.at(b.x));
    if (means.length > 1) {
      const path = means.map((m, i) => `${i ? "L" : "M"}${px(m.x).toFixed(1)},${py(m.y).toFixed(1)}`).join(" ");
      root.appendChild(svg("path", { d: path, class: "chart-line" }));
    }
    for (const p of points) {
      const dot = svg("circle", { cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r: 4, class: "chart-point" });
      dot.appendChild(svg("title", {}, `${parameter}=${fmt(p.x)}, trial ${p.trial}: ${metric}=${fmt(p.y)}`));
      root.appendChild(dot);
    }
  }

  function gridValues(results, parameter) {
    const seen = new Map();
    for (const row of results.rows || []) {
      const value = row.variation ? row.variation[parameter] : undefined;
      if (value !== undefined) seen.set(JSON.stringify(value), value);
    }
    return Array.from(seen.values());
  }

  // Where a swept value sits along the x axis (0..1): numbers on a linear scale, or a log scale when they
  // are all positive and span two decades or more (alpha 0.1..10, trials 100..10000); anything else as
  // evenly spaced categories in the grid's order.
  function scaleX(values, grid) {
    const all = grid.length ? grid : values;
    if (all.every((v) => typeof v === "number" && Number.isFinite(v))) {
      const low = Math.min(...all);
      const high = Math.max(...all);
      const log = low > 0 && high / low >= 100;
      const f = log ? Math.log10 : (v) => v;
      const span = f(high) - f(low);
      const pad = 0.05;
      const at = (v) => (span === 0 ? 0.5 : pad + (1 - 2 * pad) * ((f(v) - f(low)) / span));
      return { at, ticks: Array.from(new Set(all)).sort((a, b) => a - b), log };
    }
    const keys = all.map((v) => JSON.stringify(v));
    const at = (v) => (keys.length < 2 ? 0.5 : 0.05 + 0.9 * (keys.indexOf(JSON.stringify(v)) / (keys.length - 1)));
    return { at, ticks: [], log: false, categories: all };
  }

  function init() {
    $("sweep-grid").addEventListener("click", startSweep);
    $("sweep-close").addEventListener("click", closeSweep);
    $("sweep-cancel").addEventListener("click", cancelSweep);
    $("sweep-metric").addEventListener("change", (event) => {
      sweepState.metric = event.target.value;
      refresh();
    });
    $("sweep-goal").addEventListener("change", () => refresh());
    $("sign-out").addEventListener("click", closeSweep);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
