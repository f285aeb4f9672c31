// runplane dashboard, sweeps: the caller's sweeps (GET /v1/sweeps, paged), "Sweep grid" to start one over
// the chosen catalog model's whole parameter grid (POST /v1/sweeps), and a panel that follows one sweep:
// progress, counts, the best trial, a results table, a chart of a chosen metric against the swept parameter
// (drawn here as SVG: no library, nothing from another origin) and cancelling it.
//
// The open sweep lives in the URL (#sweep=ID, beside app.js's task=ID), so a reload or a shared link opens it
// again. Polling is cheap: the panel reads the sweep's counts (GET /v1/sweeps/{id}) every POLL_MS and the
// whole results table only when those counts changed; one request at a time; none once the sweep has ended
// or the panel is closed.
//
// The same safety rule as app.js: server and user data reach the page as text only (textContent, SVG
// attributes set one by one); no innerHTML, no inline styles (the page's CSP forbids them), no eval.
"use strict";

(() => {
  const KEY_STORAGE = "runplane.apiKey";
  const POLL_MS = 2000;
  const LIST_POLL_ACTIVE_MS = 5000; // while a listed sweep is unfinished
  const LIST_POLL_IDLE_MS = 15000; // otherwise: picks up sweeps started elsewhere (the API, another tab)
  const LIST_PAGE = 10;
  const RESULT_ROWS_SHOWN = 100;
  // A task's results summary is recorded just after its status turns `completed`: a results table read in
  // between lacks it. Read again (every few polls, a few times) until each completed row has its summary.
  const SUMMARY_RETRIES = 4;
  const SUMMARY_RETRY_POLLS = 2;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CHART = { width: 640, height: 300, left: 76, right: 20, top: 16, bottom: 48 };
  const PREFERRED_METRICS = ["rmse", "loss", "mae", "r2"];
  const STATUSES = ["queued", "preparing", "running", "collecting", "completed", "failed", "cancelled"];
  const UNFINISHED = ["queued", "preparing", "running", "collecting"];
  const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

  const sweepState = {
    id: null,
    sweep: null, // the latest GET /v1/sweeps/{id}
    results: null, // the latest GET /v1/sweeps/{id}/results
    resultsKey: null, // the counts the results were read at
    summaryRetries: 0,
    pollsSinceResults: 0,
    timer: null,
    metric: "",
    parameter: null,
    busy: false,
    again: false, // a refresh was asked for while one was in flight
  };
  const listState = { offset: 0, total: 0, sweeps: [], timer: null, busy: false, again: false, signedIn: false, readAt: 0 };
  const names = new Map(); // sweep id -> name, for the task view's link

  const $ = (id) => document.getElementById(id);

  function setText(node, value) {
    if (!node) return;
    const text = value === undefined || value === null ? "" : String(value);
    if (node.textContent !== text) node.textContent = text;
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

  // One element builder, time format and Idempotency-Key maker for the whole dashboard (app.js, loaded first).
  const { el, fmtTime, randomToken } = window.runplaneShared;

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
      const error = new Error(`${(body && body.error) || `HTTP ${response.status}`}${field}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // ---------------------------------------------------------------- the URL (#sweep=ID&task=ID)

  function hashParams() {
    return new URLSearchParams(location.hash.replace(/^#/, ""));
  }

  function sweepIdFromHash() {
    const id = hashParams().get("sweep");
    return id && ID_PATTERN.test(id) ? id : null;
  }

  // Sets (or with null drops) the sweep in the URL, keeping the rest (an open task). `push` makes a history
  // entry (the user opened a sweep: Back returns); otherwise the entry is replaced.
  function setHashSweep(id, push) {
    const params = hashParams();
    if (id) params.set("sweep", id);
    else params.delete("sweep");
    const hash = params.toString();
    const url = hash ? `#${hash}` : `${location.pathname}${location.search}`;
    if ((hash ? `#${hash}` : "") === location.hash) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }

  function sweepHref(id) {
    const params = hashParams();
    params.set("sweep", id);
    return `#${params}`;
  }

  function taskHref(id) {
    const params = hashParams();
    params.set("task", id);
    return `#${params}`;
  }

  // A link that opens the sweep in this page (the href also works in a new tab).
  function sweepLink(id, text, className) {
    return el("a", {
      href: sweepHref(id),
      class: className || "link sweep-open",
      text,
      onclick: (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        openSweepById(id, true);
      },
    });
  }

  // Task rows and the task view (app.js) link a task's sweep before its name may be known here: name them.
  function relabel() {
    for (const link of document.querySelectorAll("a.sweep-link[data-sweep-id]")) {
      const name = names.get(link.dataset.sweepId);
      if (name) setText(link, `sweep ${name}`);
    }
  }

  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail }));
  }

  // ---------------------------------------------------------------- the list of sweeps

  function scheduleList(delay) {
    clearTimeout(listState.timer);
    listState.timer = listState.signedIn ? setTimeout(() => refreshList(), delay) : null;
  }

  async function refreshList() {
    if (!listState.signedIn) return;
    if (listState.busy) {
      listState.again = true;
      return;
    }
    listState.busy = true;
    let active = false;
    try {
      if (document.hidden) return;
      const params = new URLSearchParams({ limit: String(LIST_PAGE), offset: String(listState.offset) });
      listState.readAt = Date.now();
      const page = await call(`/v1/sweeps?${params}`);
      if (!listState.signedIn) return;
      if ((page.sweeps || []).length === 0 && listState.offset > 0 && page.total > 0) {
        listState.offset = Math.max(0, Math.floor((page.total - 1) / LIST_PAGE) * LIST_PAGE);
        listState.again = true;
        return;
      }
      listState.sweeps = page.sweeps || [];
      listState.total = page.total || 0;
      for (const sweep of listState.sweeps) names.set(sweep.id, sweep.name);
      active = listState.sweeps.some((s) => !s.finished);
      renderList();
      relabel();
    } catch (err) {
      setText($("sweeps-footer"), `Sweeps not refreshed: ${err.message}`);
    } finally {
      listState.busy = false;
      if (listState.again) {
        listState.again = false;
        scheduleList(0);
      } else {
        scheduleList(active ? LIST_POLL_ACTIVE_MS : LIST_POLL_IDLE_MS);
      }
    }
  }

  function stateOf(sweep) {
    if (sweep.finished) return sweep.cancelled_at ? "cancelled" : "finished";
    return sweep.cancelled_at ? "cancelling" : "running";
  }

  function countsText(counts) {
    return STATUSES.filter((status) => counts && counts[status]).map((status) => `${counts[status]} ${status}`).join(" · ");
  }

  function renderList() {
    const body = $("sweeps-body");
    clear(body);
    if (listState.sweeps.length === 0) {
      body.appendChild(el("tr", null, el("td", { colSpan: 4, class: "empty", text: "No sweeps yet. Choose a model and press Sweep grid, or POST /v1/sweeps." })));
    }
    for (const sweep of listState.sweeps) body.appendChild(sweepRow(sweep));
    const first = listState.total ? listState.offset + 1 : 0;
    const last = listState.offset + listState.sweeps.length;
    setText($("sweeps-footer"), listState.total ? `Sweeps ${first}–${last} of ${listState.total}, newest first.` : "");
    $("sweeps-prev").disabled = listState.offset === 0;
    $("sweeps-next").disabled = last >= listState.total;
  }

  function sweepRow(sweep) {
    const state = stateOf(sweep);
    const progress = Math.max(0, Math.min(100, Number(sweep.progress) || 0));
    const what = sweep.model_id ? `${sweep.model_id} · ` : "";
    return el("tr", { dataset: { sweepId: sweep.id, state }, class: sweep.id === sweepState.id ? "selected" : "" },
      el("td", null,
        sweepLink(sweep.id, sweep.name),
        el("div", { class: "muted tiny", text: `${what}${(sweep.parameters || []).join(", ")} · ${sweep.variation_count} × ${sweep.repeats}` }),
        el("div", { class: "mono muted tiny", text: sweep.id.slice(0, 12) })),
      el("td", { class: "small", text: fmtTime(sweep.created_at), title: sweep.created_at }),
      el("td", { class: "col-progress" },
        el("div", { class: "progress-cell" },
          el("progress", { max: 100, value: progress, class: `bar bar-${sweep.finished ? (state === "cancelled" ? "cancelled" : "completed") : "running"}`, "aria-label": `Progress of sweep ${sweep.name}` }),
          el("span", { class: "progress-label", text: `${Math.floor(progress)}%` }))),
      el("td", { class: "small" },
        el("div", null, `${sweep.task_count} tasks`, el("span", { class: `badge badge-${state === "finished" ? "completed" : state === "running" ? "running" : "cancelled"} sweep-state`, text: state })),
        el("div", { class: "muted tiny sweep-row-counts", text: countsText(sweep.counts) })));
  }

  function pageList(step) {
    listState.offset = Math.max(0, listState.offset + step * LIST_PAGE);
    refreshList();
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
      names.set(sweep.id, sweep.name);
      listState.offset = 0;
      refreshList();
      openSweep(sweep, true);
    } catch (err) {
      result.className = "form-status form-error";
      setText(result, `Sweep not started: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- following a sweep

  function resetPanel() {
    sweepState.sweep = null;
    sweepState.results = null;
    sweepState.resultsKey = null;
    sweepState.summaryRetries = 0;
    sweepState.pollsSinceResults = 0;
    sweepState.metric = "";
    sweepState.again = false;
    $("sweep-confirm").hidden = true;
    clear($("sweep-chart"));
    clear($("sweep-results"));
    setText($("sweep-results-note"), "");
    setText($("sweep-error"), "");
    setText($("sweep-notice"), "");
    setText($("sweep-best"), "");
    setText($("sweep-chart-caption"), "");
  }

  function markSelectedRow() {
    for (const row of document.querySelectorAll("#sweeps-body tr[data-sweep-id]")) {
      row.classList.toggle("selected", row.dataset.sweepId === sweepState.id);
    }
  }

  function openSweep(sweep, push) {
    if (sweepState.id !== sweep.id) {
      resetPanel();
      sweepState.id = sweep.id;
    }
    sweepState.parameter = (sweep.parameters || [])[0] || null;
    names.set(sweep.id, sweep.name);
    setHashSweep(sweep.id, push);
    $("sweep-view").hidden = false;
    $("sweep-view").dataset.sweepId = sweep.id;
    setText($("sweep-title"), `Sweep ${sweep.name}`);
    markSelectedRow();
    renderSweep(sweep);
    refresh();
  }

  // Opens a sweep known only by its id (a link, the URL): its name comes with the first read.
  function openSweepById(id, push) {
    if (sweepState.id === id && !$("sweep-view").hidden) {
      setHashSweep(id, push);
      return;
    }
    resetPanel();
    sweepState.id = id;
    sweepState.parameter = null;
    setHashSweep(id, push);
    $("sweep-view").hidden = false;
    $("sweep-view").dataset.sweepId = id;
    $("sweep-view").dataset.finished = "0";
    setText($("sweep-title"), `Sweep ${names.get(id) || id.slice(0, 8)}`);
    setText($("sweep-counts"), "Loading…");
    markSelectedRow();
    refresh();
  }

  function closeSweep(keepHash) {
    sweepState.id = null;
    if (sweepState.timer) clearTimeout(sweepState.timer);
    sweepState.timer = null;
    resetPanel();
    $("sweep-view").hidden = true;
    delete $("sweep-view").dataset.sweepId;
    $("sweep-view").dataset.polling = "0";
    if (!keepHash) setHashSweep(null, false);
    markSelectedRow();
  }

  function schedule(delay) {
    if (sweepState.timer) clearTimeout(sweepState.timer);
    sweepState.timer = setTimeout(() => {
      sweepState.timer = null;
      refresh();
    }, delay);
    $("sweep-view").dataset.polling = "1";
  }

  function stopPolling() {
    if (sweepState.timer) clearTimeout(sweepState.timer);
    sweepState.timer = null;
    $("sweep-view").dataset.polling = "0";
  }

  function sweepQuery() {
    const params = new URLSearchParams({ goal: $("sweep-goal").value });
    if (sweepState.metric) params.set("metric", sweepState.metric);
    return params;
  }

  function completedWithoutSummary(results) {
    return (results.rows || []).some((row) => row.status === "completed" && Object.keys(row.summary || {}).length === 0);
  }

  // One poll: the sweep's counts; the results table only when they changed since it was last read (or a
  // completed row still lacks its summary). Never two at once: a refresh asked for meanwhile runs after.
  async function refresh() {
    const id = sweepState.id;
    if (!id) return;
    if (sweepState.busy) {
      sweepState.again = true;
      return;
    }
    sweepState.busy = true;
    let next = POLL_MS;
    try {
      if (document.hidden) return; // visibilitychange polls again when the tab is shown
      let sweep = await call(`/v1/sweeps/${encodeURIComponent(id)}?${sweepQuery()}`);
      if (id !== sweepState.id) return;
      const key = JSON.stringify(sweep.counts);
      sweepState.pollsSinceResults += 1;
      const retry = sweepState.results && key === sweepState.resultsKey && completedWithoutSummary(sweepState.results)
        && sweepState.summaryRetries < SUMMARY_RETRIES && sweepState.pollsSinceResults >= SUMMARY_RETRY_POLLS;
      if (key !== sweepState.resultsKey || retry) {
        const results = await call(`/v1/sweeps/${encodeURIComponent(id)}/results`);
        if (id !== sweepState.id) return;
        sweepState.summaryRetries = key === sweepState.resultsKey ? sweepState.summaryRetries + 1 : 0;
        sweepState.results = results;
        sweepState.resultsKey = key;
        sweepState.pollsSinceResults = 0;
        chooseMetric(results.metrics || []);
        // Read the sweep once more, after its results: its best trial is then ranked over every summary
        // the table shows (a summary stored between the two reads was missing from the first one's
        // ranking, and polling stops once the sweep is finished with every summary in), and by the
        // metric, which may be known only now.
        sweep = await call(`/v1/sweeps/${encodeURIComponent(id)}?${sweepQuery()}`);
        if (id !== sweepState.id) return;
      }
      sweepState.sweep = sweep;
      names.set(sweep.id, sweep.name);
      sweepState.parameter = sweepState.parameter || (sweep.parameters || [])[0] || null;
      setText($("sweep-title"), `Sweep ${sweep.name}`);
      renderSweep(sweep);
      if (sweepState.results) {
        drawChart(sweepState.results, sweep);
        renderResults(sweepState.results);
      }
      patchListRow(sweep);
      setText($("sweep-error"), "");
      const pendingSummary = sweepState.results && completedWithoutSummary(sweepState.results) && sweepState.summaryRetries < SUMMARY_RETRIES;
      if (sweep.finished && !pendingSummary) next = null;
    } catch (err) {
      if (id !== sweepState.id) return;
      if (err.status === 404) {
        setText($("sweep-counts"), "");
        setText($("sweep-error"), "This sweep does not exist or belongs to someone else.");
        next = null;
      } else {
        setText($("sweep-error"), `Sweep not refreshed: ${err.message}`);
        next = POLL_MS * 2;
      }
    } finally {
      sweepState.busy = false;
      relabel();
      if (sweepState.id) {
        // Another sweep was opened meanwhile, or a refresh was asked for: read now; else poll on or stop.
        if (id !== sweepState.id || sweepState.again) {
          sweepState.again = false;
          schedule(0);
        } else if (next === null) {
          stopPolling();
        } else {
          schedule(next);
        }
      }
    }
  }

  function chooseMetric(metrics) {
    const select = $("sweep-metric");
    const known = Array.from(select.options, (o) => o.value);
    if (known.join("\n") !== metrics.join("\n")) {
      clear(select);
      for (const name of metrics) select.appendChild(el("option", { value: name, text: name }));
    }
    if (!metrics.includes(sweepState.metric)) {
      sweepState.metric = PREFERRED_METRICS.find((m) => metrics.includes(m)) || metrics[0] || "";
    }
    select.value = sweepState.metric;
    select.disabled = metrics.length === 0;
  }

  function unfinishedOf(sweep) {
    const counts = sweep.counts || {};
    return UNFINISHED.reduce((sum, status) => sum + (counts[status] || 0), 0);
  }

  function renderSweep(sweep) {
    const bar = $("sweep-progress");
    bar.value = sweep.progress;
    setText($("sweep-progress-label"), `${Math.round(sweep.progress)}%`);
    const state = stateOf(sweep);
    setText($("sweep-counts"), `${sweep.task_count} tasks (${sweep.variation_count} variations × ${sweep.repeats}) · ${state} · ${countsText(sweep.counts)}`);
    $("sweep-view").dataset.finished = sweep.finished ? "1" : "0";
    $("sweep-cancel").hidden = sweep.finished || unfinishedOf(sweep) === 0;
    if ($("sweep-cancel").hidden) $("sweep-confirm").hidden = true;
    const best = sweep.best;
    if (best) {
      const values = Object.entries(best.variation).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
      setText($("sweep-best"), `Best (${best.goal} ${best.metric}): ${fmt(best.value)} at ${values}, trial ${best.trial} (task ${best.task_id.slice(0, 8)})`);
    } else {
      setText($("sweep-best"), sweepState.metric ? "No completed trial has this metric yet." : "No results yet.");
    }
  }

  function patchListRow(sweep) {
    const index = listState.sweeps.findIndex((s) => s.id === sweep.id);
    if (index < 0) return;
    listState.sweeps[index] = sweep;
    const row = document.querySelector(`#sweeps-body tr[data-sweep-id="${CSS.escape(sweep.id)}"]`);
    if (row) row.replaceWith(sweepRow(sweep));
  }

  // The results table: completed trials best first by the chosen metric, then the others in the sweep's
  // order; the first RESULT_ROWS_SHOWN of them.
  function renderResults(results) {
    const host = $("sweep-results");
    const rows = (results.rows || []).slice();
    const metric = sweepState.metric;
    const sign = $("sweep-goal").value === "max" ? -1 : 1;
    const has = (row) => row.summary && typeof row.summary[metric] === "number";
    rows.sort((a, b) => {
      if (has(a) !== has(b)) return has(a) ? -1 : 1;
      if (has(a)) return sign * (a.summary[metric] - b.summary[metric]) || a.variation_index - b.variation_index || a.trial - b.trial;
      return 0;
    });
    const parameters = results.parameters || [];
    // The chosen metric first, then the others (a model may report many: the first few).
    const metrics = [metric, ...(results.metrics || []).filter((m) => m !== metric)].filter(Boolean).slice(0, 6);
    const shown = rows.slice(0, RESULT_ROWS_SHOWN);
    clear(host);
    if (rows.length === 0) return;
    host.appendChild(el("table", { class: "table table-compact", id: "sweep-results-table" },
      el("caption", { class: "visually-hidden", text: "Sweep results, best first" }),
      el("thead", null, el("tr", null,
        el("th", { scope: "col", text: "Task" }),
        parameters.map((p) => el("th", { scope: "col", text: p })),
        el("th", { scope: "col", class: "num", text: "Trial" }),
        el("th", { scope: "col", text: "Status" }),
        metrics.map((m) => el("th", { scope: "col", class: "num", text: m })))),
      el("tbody", null, shown.map((row) => el("tr", { dataset: { taskId: row.task_id, status: row.status } },
        el("td", { class: "mono small" }, el("a", { href: taskHref(row.task_id), class: "link task-link", text: row.task_id.slice(0, 8), "aria-label": `Open task ${row.task_id}` })),
        parameters.map((p) => el("td", { class: "small", text: fmt((row.variation || {})[p]) })),
        el("td", { class: "num small", text: row.trial }),
        el("td", null, el("span", { class: `badge badge-${String(row.status).replace(/[^a-z_]/g, "")}`, text: row.status })),
        metrics.map((m) => el("td", { class: "num small", text: row.summary && row.summary[m] !== undefined ? fmt(row.summary[m]) : "—" })))))));
    setText($("sweep-results-note"), rows.length > shown.length
      ? `Showing ${shown.length} of ${rows.length} trials, best first; GET /v1/sweeps/${results.sweep_id}/results has them all.`
      : `${rows.length} trial${rows.length === 1 ? "" : "s"}, best first.`);
  }

  // "Cancel sweep" asks first, saying how many unfinished tasks it stops; "Stop them" cancels, then the task
  // rows are read again (their messages change with their status) and the panel refreshes.
  function askCancel() {
    const sweep = sweepState.sweep;
    if (!sweep) return;
    const unfinished = unfinishedOf(sweep);
    const done = (sweep.counts.completed || 0) + (sweep.counts.failed || 0);
    setText($("sweep-confirm-text"), `Stop ${unfinished} unfinished task${unfinished === 1 ? "" : "s"} of sweep ${sweep.name}?`
      + (done ? ` The ${done} finished task${done === 1 ? "" : "s"} keep${done === 1 ? "s" : ""} ${done === 1 ? "its" : "their"} results.` : ""));
    setText($("sweep-confirm-yes"), `Stop ${unfinished} task${unfinished === 1 ? "" : "s"}`);
    $("sweep-confirm").hidden = false;
    $("sweep-confirm-no").focus();
  }

  async function cancelSweep() {
    const id = sweepState.id;
    $("sweep-confirm").hidden = true;
    if (!id) return;
    const button = $("sweep-cancel");
    button.disabled = true;
    try {
      const answer = await call(`/v1/sweeps/${encodeURIComponent(id)}`, { method: "DELETE" });
      setText($("sweep-notice"), `Cancelled ${answer.cancelled} queued task${answer.cancelled === 1 ? "" : "s"}; stopping ${answer.stopping} started one${answer.stopping === 1 ? "" : "s"}.`);
      announce("runplane:tasks-changed", { sweepId: id });
      refresh();
      refreshList();
    } catch (err) {
      setText($("sweep-error"), `Not cancelled: ${err.message}`);
    } finally {
      button.disabled = false;
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

  // ---------------------------------------------------------------- wiring

  function syncFromHash() {
    if (!listState.signedIn) return;
    const id = sweepIdFromHash();
    if (id && id !== sweepState.id) openSweepById(id, false);
    else if (!id && sweepState.id) closeSweep(true);
  }

  function onSession(event) {
    const signedIn = Boolean(event.detail && event.detail.signedIn);
    listState.signedIn = signedIn;
    if (signedIn) {
      listState.offset = 0;
      refreshList();
      syncFromHash();
    } else {
      clearTimeout(listState.timer);
      listState.timer = null;
      listState.sweeps = [];
      clear($("sweeps-body"));
      setText($("sweeps-footer"), "");
      closeSweep(true);
    }
  }

  function init() {
    $("sweep-grid").addEventListener("click", startSweep);
    $("sweep-close").addEventListener("click", () => closeSweep(false));
    $("sweep-cancel").addEventListener("click", askCancel);
    $("sweep-confirm-yes").addEventListener("click", cancelSweep);
    $("sweep-confirm-no").addEventListener("click", () => {
      $("sweep-confirm").hidden = true;
      $("sweep-cancel").focus();
    });
    $("sweep-metric").addEventListener("change", (event) => {
      sweepState.metric = event.target.value;
      if (sweepState.results) {
        renderResults(sweepState.results);
        if (sweepState.sweep) drawChart(sweepState.results, sweepState.sweep);
      }
      refresh();
    });
    $("sweep-goal").addEventListener("change", () => {
      if (sweepState.results) renderResults(sweepState.results);
      refresh();
    });
    $("sweeps-prev").addEventListener("click", () => pageList(-1));
    $("sweeps-next").addEventListener("click", () => pageList(1));
    $("sweeps-refresh").addEventListener("click", () => refreshList());
    document.addEventListener("runplane:session", onSession);
    // app.js re-read its task list (a task it did not know appeared): a sweep may have started elsewhere.
    document.addEventListener("runplane:tasks-listed", () => {
      if (!listState.signedIn || listState.busy || Date.now() - listState.readAt < LIST_POLL_ACTIVE_MS) return;
      scheduleList(300);
    });
    window.addEventListener("hashchange", syncFromHash);
    window.addEventListener("popstate", syncFromHash);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden || !listState.signedIn) return;
      refreshList();
      if (sweepState.id && $("sweep-view").dataset.polling === "1") refresh();
    });
  }

  window.runplaneSweeps = { nameOf: (id) => names.get(id) || null, sweepHref };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
