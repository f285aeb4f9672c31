// runplane dashboard: plain JavaScript, no dependencies, talks to this server only.
//
// Safety rule of this file: everything that comes from the server or the user is put into the page as text
// (textContent, createTextNode, element properties). Nothing here assigns innerHTML/outerHTML or uses
// insertAdjacentHTML, document.write or eval, so a task labelled `<img src=x onerror=alert(1)>` stays text.
"use strict";

(() => {
  const KEY_STORAGE = "runplane.apiKey";
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const ACTIVE = new Set(["preparing", "running", "collecting"]);
  const TASK_PAGE = 50;
  const LOG_TAIL = 200;
  const RESULT_ROWS_SHOWN = 100;
  const POLL_MS = 3000;
  const LOG_POLL_MS = 2500;
  const WS_BACKOFF_MIN_MS = 1000;
  const WS_BACKOFF_MAX_MS = 30000;
  const WS_AUTH_TIMEOUT_MS = 8000;

  const state = {
    key: null,
    models: [],
    tasks: new Map(), // id -> task (as the API returns it, patched by live events)
    order: [], // task ids in table order
    total: 0,
    statusFilter: "",
    selectedId: null,
    selectedLoadedFor: null, // id whose results/artifacts are loaded (completed tasks)
    workers: [],
    ws: null,
    wsLive: false,
    wsAttempts: 0,
    wsTimer: null,
    pollTimer: null,
    logTimer: null,
    lastEventId: 0,
    refreshTimers: new Map(),
    generation: 0, // bumped on sign-out so stale async work is dropped
  };

  // ---------------------------------------------------------------- DOM helpers (text only, never HTML)

  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [name, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (name === "class") node.className = value;
        else if (name === "text") node.textContent = String(value);
        else if (name === "dataset") Object.assign(node.dataset, value);
        else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
        else if (name in node && typeof value !== "string") node[name] = value;
        else node.setAttribute(name, String(value));
      }
    }
    for (const child of children) append(node, child);
    return node;
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach((c) => append(node, c));
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function setText(node, value) {
    if (!node) return;
    const text = value === undefined || value === null ? "" : String(value);
    if (node.textContent !== text) node.textContent = text;
  }

  // ---------------------------------------------------------------- formatting

  function fmtNumber(value) {
    if (typeof value !== "number") return value === null || value === undefined ? "—" : String(value);
    if (!Number.isFinite(value)) return String(value);
    // Thousands separators for measures; whole numbers below 10,000 (years, seeds, periods) read as written.
    const grouping = Math.abs(value) >= (Number.isInteger(value) ? 10000 : 1000);
    if (Number.isInteger(value)) return value.toLocaleString("en-US", { useGrouping: grouping });
    return value.toLocaleString("en-US", { maximumFractionDigits: 4, useGrouping: grouping });
  }

  function fmtCell(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return fmtNumber(value);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function fmtAgo(iso) {
    if (!iso) return "—";
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (!Number.isFinite(seconds)) return String(iso);
    if (seconds < 5) return "just now";
    if (seconds < 90) return `${seconds}s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return fmtTime(iso);
  }

  function fmtDuration(startIso, endIso) {
    if (!startIso) return "—";
    const end = endIso ? new Date(endIso) : new Date();
    const seconds = (end.getTime() - new Date(startIso).getTime()) / 1000;
    if (!Number.isFinite(seconds) || seconds < 0) return "—";
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function fmtBytes(size) {
    if (typeof size !== "number") return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function pct(progress) {
    const value = Number(progress);
    return Number.isFinite(value) ? Math.max(0, Math.min(100, value)) : 0;
  }

  function statusBadge(status) {
    return el("span", { class: `badge badge-${String(status).replace(/[^a-z_]/g, "")}`, text: status });
  }

  // ---------------------------------------------------------------- messages

  let bannerTimer = null;

  function showBanner(message, kind = "error", sticky = false) {
    const banner = $("banner");
    banner.className = `banner banner-${kind}`;
    setText(banner, message);
    banner.hidden = false;
    clearTimeout(bannerTimer);
    if (!sticky) bannerTimer = setTimeout(() => { banner.hidden = true; }, 8000);
  }

  function hideBanner() {
    $("banner").hidden = true;
  }

  function setConnection(mode, text) {
    const node = $("connection");
    node.className = `conn conn-${mode}`;
    setText(node, text);
    node.title = text;
  }

  // ---------------------------------------------------------------- HTTP

  class ApiError extends Error {
    constructor(status, body) {
      const message = body && typeof body.error === "string" ? body.error : `HTTP ${status}`;
      super(message);
      this.status = status;
      this.code = body && body.code ? String(body.code) : "";
      this.traceId = body && body.trace_id ? String(body.trace_id) : "";
      this.details = body && body.details ? body.details : null;
    }

    describe() {
      const parts = [this.message];
      if (this.code) parts.push(`(${this.code})`);
      if (this.traceId) parts.push(`trace ${this.traceId}`);
      return parts.join(" ");
    }
  }

  async function api(path, options = {}) {
    const generation = state.generation;
    const headers = new Headers(options.headers || {});
    headers.set("X-API-Key", state.key || "");
    if (options.json !== undefined) headers.set("Content-Type", "application/json");
    if (!headers.has("Accept")) headers.set("Accept", options.accept || "application/json");
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
      throw new ApiError(0, { error: "The server cannot be reached", code: "NETWORK" });
    }
    if (generation !== state.generation) throw new ApiError(0, { error: "Signed out", code: "STALE" });
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (err) {
        body = null;
      }
      const error = new ApiError(response.status, body);
      if (response.status === 401) onUnauthorized(error);
      if (response.status === 429) {
        const retry = response.headers.get("Retry-After");
        showBanner(`Rate limited by the server${retry ? `; retry in ${retry} s` : ""}.`, "warn");
      }
      throw error;
    }
    if (options.raw) return response;
    if (response.status === 202 || response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("application/json") ? response.json() : response.text();
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------- key / session

  function loadKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch (err) {
      return null;
    }
  }

  function saveKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (err) {
      // Storage disabled: the key lives in memory for this page only.
    }
  }

  function onUnauthorized(error) {
    if (!state.key) return;
    signOut(`The key was refused: ${error.describe()}`);
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("task-view").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    setText($("login-error"), message || "");
    setConnection("off", "Not connected");
    const input = $("api-key");
    input.value = "";
    input.focus();
  }

  function signOut(message) {
    state.generation += 1;
    state.key = null;
    saveKey(null);
    stopLive();
    state.tasks.clear();
    state.order = [];
    state.selectedId = null;
    state.selectedLoadedFor = null;
    clear($("tasks-body"));
    showLogin(message);
    announce("runplane:session", { signedIn: false });
  }

  async function signIn(key) {
    state.key = key;
    state.generation += 1;
    try {
      await api("/v1/queue"); // proves the key before anything is shown
    } catch (err) {
      if (err.status === 401) return; // onUnauthorized already showed the login with the reason
      state.key = null;
      showLogin(err.status === 403
        ? "This key cannot read the queue (worker keys are for workers; use a user or admin key)."
        : `Cannot connect: ${err.describe()}`);
      return;
    }
    saveKey(key);
    $("login").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    hideBanner();
    await Promise.allSettled([loadModels(), refreshAll()]);
    const fromHash = taskIdFromHash();
    if (fromHash) selectTask(fromHash, false);
    announce("runplane:session", { signedIn: true });
    startLive();
  }

  // Tells sweeps.js what happened here (sign-in and out, a re-read task list) without sharing state.
  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail }));
  }

  // ---------------------------------------------------------------- queue, workers

  async function refreshQueue() {
    const stats = await api("/v1/queue");
    setText($("stat-queued"), fmtNumber(stats.queued));
    setText($("stat-running"), fmtNumber(stats.running));
    setText($("stat-completed"), fmtNumber(stats.completed));
    setText($("stat-failed"), fmtNumber(stats.failed));
    setText($("stat-cancelled"), fmtNumber(stats.cancelled));
    setText($("stat-workers"), fmtNumber(stats.workers));
  }

  async function refreshWorkers() {
    const body = $("workers-body");
    let list;
    try {
      list = await api("/v1/scheduler/workers?limit=100");
    } catch (err) {
      if (err.code === "STALE") return;
      clear(body);
      append(body, el("p", {
        class: "muted small",
        text: err.status === 403 ? "Your key cannot list workers." : `Workers unavailable: ${err.describe()}`,
      }));
      return;
    }
    state.workers = list.workers || [];
    refreshSchedulerSummary(list);
    clear(body);
    if (state.workers.length === 0) {
      append(body, el("p", { class: "empty", text: "No workers have registered yet. Start one with `runplane worker`." }));
      return;
    }
    append(body, el("ul", { class: "workers", id: "workers-list" }, state.workers.map((w) => {
      const caps = w.capabilities || {};
      const hw = [`${caps.cpu_cores ?? "?"} cpu`, `${fmtNumber(caps.memory_gb)} GiB`];
      if (w.gpu_count) hw.push(`${w.gpu_count}× ${w.gpu_type || "GPU"}`);
      const busy = w.slots ? `${w.slots.total - w.slots.available} of ${w.slots.total} slots busy` : "";
      return el("li", { class: "worker", dataset: { workerId: w.id } },
        el("div", { class: "worker-head" }, el("span", { class: "strong", text: w.name }), statusBadge(w.status)),
        el("div", { class: "muted small", text: [w.hostname, ...hw].join(" · ") }),
        el("div", { class: "muted small" }, busy, busy ? " · " : "", "heartbeat ",
          el("time", { datetime: w.last_heartbeat, title: w.last_heartbeat, text: fmtAgo(w.last_heartbeat) })));
    })));
  }

  async function refreshSchedulerSummary(list) {
    let text = `${list.total ?? state.workers.length} registered`;
    try {
      const status = await api("/v1/scheduler/status");
      text = `${status.workers_active} active · ${status.workers_draining} draining · ${status.workers_offline} offline`;
    } catch (err) {
      // The summary is a nicety; the table above already shows each worker's state.
    }
    setText($("workers-summary"), text);
  }

  // ---------------------------------------------------------------- models and the submit form

  async function loadModels() {
    const select = $("model");
    let body;
    try {
      body = await api("/v1/models");
    } catch (err) {
      if (err.code !== "STALE") setText($("model-description"), `Models unavailable: ${err.describe()}`);
      return;
    }
    state.models = body.models || [];
    const previous = select.value;
    clear(select);
    for (const model of state.models) append(select, el("option", { value: model.id, text: `${model.name} (${model.id})` }));
    if (previous && state.models.some((m) => m.id === previous)) select.value = previous;
    if (!$("input-year").value) $("input-year").value = String(new Date().getFullYear());
    renderModelParams();
  }

  function currentModel() {
    return state.models.find((m) => m.id === $("model").value) || null;
  }

  function renderModelParams() {
    const model = currentModel();
    const container = $("param-fields");
    clear(container);
    setText($("model-description"), model ? model.description : "");
    if (!model) return;
    for (const [name, grid] of Object.entries(model.params || {})) {
      const id = `param-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const select = el("select", { id, dataset: { param: name } },
        el("option", { value: "", text: "model default" }),
        (grid || []).map((value) => el("option", { value: String(value), text: String(value) })));
      append(container, el("div", { class: "field" }, el("label", { for: id, text: name }), select));
    }
    renderParameterSets(model);
    const jobName = $("job-name");
    if (!jobName.dataset.edited) jobName.value = `${model.id}-run`;
  }

  // The presets a model declares (its `parameter_set` input's values, `baseline` being its defaults): a
  // choice among them, never free text the model would refuse.
  function renderParameterSets(model) {
    const select = $("input-parameter-set");
    const previous = select.value;
    const declared = ((model && model.inputs) || []).find((input) => input.name === "parameter_set");
    const presets = (declared && declared.values) || [];
    clear(select);
    if (presets.length === 0) {
      append(select, el("option", { value: "", text: "none (this model has no presets)" }));
      select.disabled = true;
      setText($("parameter-set-hint"), "");
      return;
    }
    select.disabled = false;
    for (const preset of presets) append(select, el("option", { value: String(preset), text: String(preset) }));
    const keep = presets.map(String).includes(previous) ? previous : (presets.map(String).includes("baseline") ? "baseline" : String(presets[0]));
    select.value = keep;
    setText($("parameter-set-hint"), declared.description || "");
  }

  function randomToken() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // What sweeps.js (loaded after this file) shares with it: the element builder, the time format and the
  // token maker.
  window.runplaneShared = Object.freeze({ el, fmtTime, randomToken });

  function buildSubmission() {
    const model = currentModel();
    if (!model) throw new Error("Choose a model.");
    const jobName = $("job-name").value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobName)) throw new Error("Job name: 1–64 letters, digits, - or _.");
    const inputs = {};
    for (const select of $("param-fields").querySelectorAll("select[data-param]")) {
      if (select.value !== "") inputs[select.dataset.param] = Number(select.value);
    }
    const region = $("input-region").value.trim();
    if (region) inputs.region = region;
    const year = $("input-year").value.trim();
    if (year) {
      if (!/^\d{4}$/.test(year)) throw new Error("Year: four digits.");
      inputs.year = Number(year);
    }
    const parameterSet = $("input-parameter-set").value.trim();
    if (parameterSet) inputs.parameter_set = parameterSet;
    const body = { job_name: jobName, model_id: model.id, inputs };
    const seed = $("seed").value.trim();
    if (seed) {
      if (!/^\d+$/.test(seed) || Number(seed) > 4294967295) throw new Error("Seed: a whole number from 0 to 4294967295.");
      body.random_seed = Number(seed);
    }
    const priority = $("priority").value.trim();
    if (priority) {
      const value = Number(priority);
      if (!Number.isInteger(value) || value < 1 || value > 10) throw new Error("Priority: 1 to 10.");
      body.priority = value;
    }
    const label = $("run-label").value.trim();
    if (label) body.run_label = label;
    return body;
  }

  async function submitRun(event) {
    event.preventDefault();
    const result = $("submit-result");
    const button = $("submit-run");
    result.className = "form-status";
    let body;
    try {
      body = buildSubmission();
    } catch (err) {
      result.className = "form-status form-error";
      setText(result, err.message);
      return;
    }
    button.disabled = true;
    setText(result, "Submitting…");
    try {
      const task = await api("/v1/tasks", { method: "POST", json: body, headers: { "Idempotency-Key": randomToken() } });
      upsertTask(task, true);
      renderTasks();
      setText(result, `Queued ${task.job_name} (${task.id.slice(0, 8)}).`);
      selectTask(task.id, true);
      scheduleRefresh("queue", 300);
    } catch (err) {
      result.className = "form-status form-error";
      const field = err.details && err.details.field ? ` [${err.details.field}]` : "";
      setText(result, `Not submitted: ${err.describe()}${field}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- the task table

  async function refreshTasks() {
    const params = new URLSearchParams({ limit: String(TASK_PAGE) });
    if (state.statusFilter) params.set("status", state.statusFilter);
    const page = await api(`/v1/tasks?${params}`);
    const ids = [];
    for (const task of page.tasks || []) {
      upsertTask(task, false);
      ids.push(task.id);
    }
    state.order = ids;
    state.total = page.total || 0;
    // Forget tasks that are neither listed nor selected.
    for (const id of Array.from(state.tasks.keys())) {
      if (!ids.includes(id) && id !== state.selectedId) state.tasks.delete(id);
    }
    renderTasks();
    announce("runplane:tasks-listed", {});
  }

  function upsertTask(task, atTop) {
    const known = state.tasks.get(task.id);
    if (known && !TERMINAL.has(task.status) && known.status === task.status) {
      // Progress never goes down: a fetch racing a live event keeps the higher value.
      task.progress = Math.max(pct(task.progress), pct(known.progress));
    }
    state.tasks.set(task.id, Object.assign(known || {}, task));
    if (atTop && !state.order.includes(task.id)) {
      if (!state.statusFilter || state.statusFilter === task.status) {
        state.order.unshift(task.id);
        state.total += 1;
      }
    }
  }

  function renderTasks() {
    const body = $("tasks-body");
    const rows = [];
    for (const id of state.order) {
      const task = state.tasks.get(id);
      if (task) rows.push(taskRow(task));
    }
    clear(body);
    if (rows.length === 0) {
      append(body, el("tr", null, el("td", { colSpan: 5, class: "empty", text: state.statusFilter ? `No ${state.statusFilter} tasks.` : "No tasks yet. Submit a model run to start." })));
    } else {
      append(body, rows);
    }
    const shown = rows.length;
    setText($("tasks-footer"), state.total > shown ? `Showing the newest ${shown} of ${state.total} tasks.` : `${state.total} task${state.total === 1 ? "" : "s"}.`);
  }

  function taskRow(task) {
    const progress = pct(task.progress);
    const row = el("tr", {
      dataset: { taskId: task.id, status: task.status },
      class: task.id === state.selectedId ? "selected" : "",
    });
    const label = task.run_label ? el("div", { class: "muted small task-label", text: task.run_label }) : null;
    append(row, [
      el("td", null,
        el("button", { type: "button", class: "link task-open", text: task.job_name, onclick: () => selectTask(task.id, true), "aria-label": `Open task ${task.job_name}` }),
        label,
        task.sweep_id ? el("div", { class: "muted tiny task-sweep" }, sweepLink(task.sweep_id), ` · trial ${task.trial}`,
          task.variation_values ? ` · ${variationText(task.variation_values)}` : "") : null,
        el("div", { class: "mono muted tiny", text: task.id.slice(0, 12) })),
      task.model_id
        ? el("td", { class: "small", text: task.model_id })
        : el("td", { class: "small" }, el("span", { class: "muted tiny", text: "command " }),
          el("span", { class: "mono command", title: task.entrypoint || "", text: task.entrypoint || "—" })),
      el("td", { class: "cell-status" }, statusBadge(task.status)),
      el("td", { class: "col-progress" },
        el("div", { class: "progress-cell" },
          el("progress", { max: 100, value: progress, class: `bar bar-${task.status}`, "aria-label": `Progress of ${task.job_name}` }),
          el("span", { class: "progress-label", text: `${Math.floor(progress)}%` })),
        el("div", { class: "muted tiny row-message", text: task.message || "" })),
      el("td", { class: "small", text: fmtTime(task.created_at), title: task.created_at })]);
    return row;
  }

  // Updates a row in place (keeps focus and the progress element) when a task changes.
  function patchRow(task) {
    const row = document.querySelector(`#tasks-body tr[data-task-id="${CSS.escape(task.id)}"]`);
    if (!row) return false;
    const progress = pct(task.progress);
    row.dataset.status = task.status;
    const badge = row.querySelector(".cell-status .badge");
    if (badge && badge.textContent !== task.status) badge.replaceWith(statusBadge(task.status));
    const bar = row.querySelector("progress");
    if (bar) {
      if (bar.value !== progress) bar.value = progress;
      bar.className = `bar bar-${task.status}`;
    }
    setText(row.querySelector(".progress-label"), `${Math.floor(progress)}%`);
    setText(row.querySelector(".row-message"), task.message || "");
    return true;
  }

  // ---------------------------------------------------------------- the task view

  // The URL's fragment holds what is open: `task=ID`, and `sweep=ID` (sweeps.js), as query-style pairs.
  function hashParams() {
    return new URLSearchParams(location.hash.replace(/^#/, ""));
  }

  function taskIdFromHash() {
    const id = hashParams().get("task");
    return id && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
  }

  function setHashTask(id) {
    const params = hashParams();
    if (id) params.set("task", id);
    else params.delete("task");
    const hash = params.toString();
    if ((hash ? `#${hash}` : "") !== location.hash) {
      history.replaceState(null, "", hash ? `#${hash}` : `${location.pathname}${location.search}`);
    }
  }

  function variationText(values) {
    return Object.entries(values || {}).map(([k, v]) => `${k}=${fmtCell(v)}`).join(", ");
  }

  // A link to the task's sweep: it opens the sweep's panel (sweeps.js follows the URL).
  function sweepLink(sweepId) {
    const sweeps = window.runplaneSweeps;
    const name = sweeps ? sweeps.nameOf(sweepId) : null;
    const params = hashParams();
    params.set("sweep", sweepId);
    return el("a", {
      href: `#${params}`,
      class: "link sweep-link",
      dataset: { sweepId },
      text: name ? `sweep ${name}` : `sweep ${sweepId.slice(0, 8)}`,
      title: `Sweep ${sweepId}`,
      onclick: (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        const now = hashParams();
        now.set("sweep", sweepId);
        history.pushState(null, "", `#${now}`);
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      },
    });
  }

  function selectTask(id, focus) {
    state.selectedId = id;
    state.selectedLoadedFor = null;
    setHashTask(id);
    for (const row of document.querySelectorAll("#tasks-body tr[data-task-id]")) {
      row.classList.toggle("selected", row.dataset.taskId === id);
    }
    const view = $("task-view");
    view.hidden = false;
    clear($("task-results"));
    clear($("task-artifacts"));
    setText($("task-log"), "");
    const known = state.tasks.get(id);
    if (known) renderTaskView(known);
    loadTask(id).then(() => {
      if (focus) $("task-title").focus();
    });
  }

  function closeTask() {
    state.selectedId = null;
    state.selectedLoadedFor = null;
    stopLogPolling();
    $("task-view").hidden = true;
    setHashTask(null);
    for (const row of document.querySelectorAll("#tasks-body tr.selected")) row.classList.remove("selected");
  }

  async function loadTask(id) {
    let task;
    try {
      task = await api(`/v1/tasks/${enc(id)}`);
    } catch (err) {
      if (err.code === "STALE" || state.selectedId !== id) return;
      if (err.status === 404) {
        showBanner("That task does not exist or belongs to someone else.", "warn");
        closeTask();
      } else {
        showBanner(`Cannot load the task: ${err.describe()}`);
      }
      return;
    }
    if (state.selectedId !== id) return;
    upsertTask(task, false);
    patchRow(state.tasks.get(id));
    renderTaskView(state.tasks.get(id));
    await loadTaskExtras(id);
  }

  async function loadTaskExtras(id) {
    const task = state.tasks.get(id);
    if (!task || state.selectedId !== id) return;
    const work = [loadLog(id)];
    if (TERMINAL.has(task.status)) {
      stopLogPolling();
      if (state.selectedLoadedFor !== id) {
        state.selectedLoadedFor = id;
        work.push(loadResults(id), loadArtifacts(id));
      }
    } else {
      renderPending(task);
      startLogPolling(id);
    }
    await Promise.allSettled(work);
  }

  function renderPending(task) {
    const results = $("task-results");
    clear(results);
    append(results, el("p", { class: "muted", text: `Results appear when the task completes (now ${task.status}).` }));
    const artifacts = $("task-artifacts");
    clear(artifacts);
    append(artifacts, el("p", { class: "muted", text: "Artifacts are collected when the task ends." }));
  }

  function renderTaskView(task) {
    if (!task || task.id !== state.selectedId) return;
    setText($("task-title"), task.job_name);
    const badge = $("task-status");
    badge.className = `badge badge-${String(task.status).replace(/[^a-z_]/g, "")}`;
    setText(badge, task.status);
    const progress = pct(task.progress);
    const bar = $("task-progress");
    bar.value = progress;
    bar.className = `bar bar-${task.status}`;
    setText($("task-progress-label"), `${Math.floor(progress)}%`);
    setText($("task-message"), task.message || "");
    const failure = $("task-failure");
    if (task.failure) {
      const f = task.failure;
      const extra = f.exit_code !== null && f.exit_code !== undefined ? ` (exit code ${f.exit_code})` : "";
      const by = f.cancelled_by ? ` by ${f.cancelled_by}` : "";
      setText(failure, `${f.reason}${extra}${by}: ${f.message}`);
      failure.hidden = false;
    } else {
      failure.hidden = true;
    }
    $("task-cancel").hidden = TERMINAL.has(task.status);

    const facts = $("task-facts");
    clear(facts);
    const inputs = task.inputs && Object.keys(task.inputs).length
      ? Object.entries(task.inputs).map(([k, v]) => `${k}=${fmtCell(v)}`).join(", ")
      : null;
    const metadata = task.metadata && Object.keys(task.metadata).length
      ? Object.entries(task.metadata).map(([k, v]) => `${k}=${v}`).join(", ")
      : null;
    const pairs = [
      ["Id", task.id, "mono"],
      ["Run label", task.run_label],
      task.model_id
        ? ["Model", task.model_id]
        : ["Command", [task.entrypoint, ...(task.args || [])].filter(Boolean).join(" "), "mono pre fact-wide"],
      ["Sweep", task.sweep_id ? sweepLink(task.sweep_id) : null],
      ["Trial", task.sweep_id ? task.trial : null],
      ["Variation", task.sweep_id && task.variation_values ? variationText(task.variation_values) : null],
      ["Inputs", inputs],
      ["Seed", task.random_seed],
      ["Metadata", metadata],
      ["Owner", task.user_id],
      ["Priority", task.priority_aged !== undefined && task.priority_aged !== task.priority ? `${task.priority} (aged ${fmtNumber(task.priority_aged)})` : task.priority],
      ["Worker", task.worker_id, "mono"],
      ["Attempts", task.retry_count ? `${task.retry_count + 1} (max retries ${task.max_retries})` : null],
      ["Created", fmtTime(task.created_at)],
      ["Started", task.started_at ? fmtTime(task.started_at) : null],
      ["Duration", task.started_at ? fmtDuration(task.started_at, task.ended_at) : null],
    ];
    // Wide facts (a command line) go last so the short ones fill the rows above them.
    pairs.sort((a, b) => Number(Boolean(a[2] && a[2].includes("fact-wide"))) - Number(Boolean(b[2] && b[2].includes("fact-wide"))));
    for (const [name, value, cls] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      const wide = cls && cls.includes("fact-wide") ? " fact-wide" : "";
      const shown = value instanceof Node ? el("dd", { class: cls || "" }, value) : el("dd", { class: cls || "", text: value });
      append(facts, el("div", { class: `fact${wide}`, dataset: { fact: name.toLowerCase().replace(/\s+/g, "-") } }, el("dt", { text: name }), shown));
    }
  }

  async function loadLog(id) {
    let text;
    try {
      text = await api(`/v1/tasks/${enc(id)}/logs?tail=${LOG_TAIL}`, { accept: "text/plain" });
    } catch (err) {
      if (err.code === "STALE" || state.selectedId !== id) return;
      setText($("task-log"), err.status === 404 ? "(no log yet)" : `(log unavailable: ${err.describe()})`);
      return;
    }
    if (state.selectedId !== id) return;
    const pre = $("task-log");
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    setText(pre, typeof text === "string" && text.length ? text : "(no output yet)");
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function startLogPolling(id) {
    if (state.logTimer) return;
    state.logTimer = setInterval(() => {
      if (state.selectedId !== id || document.hidden) return;
      loadLog(id);
    }, LOG_POLL_MS);
  }

  function stopLogPolling() {
    clearInterval(state.logTimer);
    state.logTimer = null;
  }

  async function loadResults(id) {
    const box = $("task-results");
    let results;
    try {
      results = await api(`/v1/tasks/${enc(id)}/results`);
    } catch (err) {
      if (err.code === "STALE" || state.selectedId !== id) return;
      clear(box);
      const task = state.tasks.get(id);
      let message = `Results unavailable: ${err.describe()}`;
      if (err.status === 409) message = "No results: the task did not complete.";
      else if (err.status === 404) message = task && task.model_id ? "This run wrote no results." : "This task wrote no results.json.";
      append(box, el("p", { class: "muted", text: message }));
      return;
    }
    if (state.selectedId !== id) return;
    clear(box);
    const summary = results.summary || {};
    const summaryList = el("dl", { class: "summary", id: "results-summary" });
    for (const [name, value] of Object.entries(summary)) {
      append(summaryList, el("div", { class: "summary-item" }, el("dt", { text: name }), el("dd", { text: fmtCell(value) })));
    }
    if (Object.keys(summary).length) append(box, summaryList);

    const rows = Array.isArray(results.rows) ? results.rows : [];
    if (rows.length === 0) {
      append(box, el("p", { class: "muted", text: "No result rows." }));
      return;
    }
    const columns = [];
    for (const row of rows.slice(0, 200)) {
      if (!row || typeof row !== "object") continue;
      for (const name of Object.keys(row)) if (!columns.includes(name)) columns.push(name);
    }
    const shown = rows.slice(0, RESULT_ROWS_SHOWN);
    append(box, el("div", { class: "table-wrap results-wrap" },
      el("table", { class: "table table-compact", id: "results-table" },
        el("caption", { class: "visually-hidden", text: "Result rows" }),
        el("thead", null, el("tr", null, columns.map((c) => el("th", { scope: "col", class: typeof (rows[0] || {})[c] === "number" ? "num" : "", text: c })))),
        el("tbody", null, shown.map((row) => el("tr", null,
          columns.map((c) => el("td", { class: typeof (row || {})[c] === "number" ? "num" : "", text: fmtCell((row || {})[c]) }))))))));
    if (rows.length > shown.length) {
      append(box, el("p", { class: "muted small", text: `Showing ${shown.length} of ${rows.length} rows; download results.json for all of them.` }));
    }
  }

  async function loadArtifacts(id) {
    const box = $("task-artifacts");
    let list;
    try {
      list = await api(`/v1/tasks/${enc(id)}/artifacts`);
    } catch (err) {
      if (err.code === "STALE" || state.selectedId !== id) return;
      clear(box);
      append(box, el("p", { class: "muted", text: `Artifacts unavailable: ${err.describe()}` }));
      return;
    }
    if (state.selectedId !== id) return;
    clear(box);
    const artifacts = list.artifacts || [];
    if (artifacts.length === 0) {
      append(box, el("p", { class: "muted", text: "This task wrote no artifacts." }));
      return;
    }
    append(box, el("ul", { class: "artifacts", id: "artifact-list" }, artifacts.map((a) => el("li", { class: "artifact", dataset: { path: a.path } },
      el("button", {
        type: "button",
        class: "btn btn-small artifact-download",
        onclick: (event) => downloadArtifact(id, a, event.currentTarget),
        "aria-label": `Download ${a.path}`,
        text: "Download",
      }),
      el("span", { class: "mono artifact-path", text: a.path }),
      el("span", { class: "muted small", text: `${fmtBytes(a.size)} · ${a.content_type || "?"}` }),
      el("span", { class: "mono muted tiny", title: `sha256 ${a.sha256}`, text: `sha256 ${String(a.sha256).slice(0, 12)}…` })))));
  }

  async function downloadArtifact(taskId, artifact, button) {
    // The API needs the X-API-Key header, which a plain link cannot send: fetch, then save the Blob.
    button.disabled = true;
    const label = button.textContent;
    setText(button, "Downloading…");
    try {
      const path = String(artifact.path).split("/").map(enc).join("/");
      const response = await api(`/v1/tasks/${enc(taskId)}/artifacts/${path}`, { raw: true, accept: "*/*" });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: String(artifact.path).split("/").pop() || "artifact", class: "visually-hidden" });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      if (err.code !== "STALE") showBanner(`Download failed: ${err.describe()}`);
    } finally {
      button.disabled = false;
      setText(button, label);
    }
  }

  async function cancelSelected() {
    const id = state.selectedId;
    const task = id && state.tasks.get(id);
    if (!task) return;
    if (!window.confirm(`Cancel task ${task.job_name}?`)) return;
    try {
      await api(`/v1/tasks/${enc(id)}`, { method: "DELETE" });
      showBanner(`Cancellation of ${task.job_name} requested.`, "info");
    } catch (err) {
      showBanner(`Cannot cancel: ${err.describe()}`);
    }
    await loadTask(id);
    scheduleRefresh("tasks", 200);
  }

  // ---------------------------------------------------------------- refresh scheduling

  const REFRESHERS = {
    queue: () => refreshQueue(),
    tasks: () => refreshTasks(),
    workers: () => refreshWorkers(),
    selected: () => (state.selectedId ? loadTask(state.selectedId) : Promise.resolve()),
  };

  // Coalesces bursts of events into one request per kind.
  function scheduleRefresh(kind, delay = 500) {
    if (state.refreshTimers.has(kind)) return;
    state.refreshTimers.set(kind, setTimeout(() => {
      state.refreshTimers.delete(kind);
      REFRESHERS[kind]().catch(() => {});
    }, delay));
  }

  async function refreshAll() {
    const results = await Promise.allSettled([refreshQueue(), refreshTasks(), refreshWorkers()]);
    const failed = results.find((r) => r.status === "rejected" && r.reason && r.reason.code !== "STALE");
    if (failed && failed.reason.status !== 401) showBanner(`Refresh failed: ${failed.reason.describe ? failed.reason.describe() : failed.reason}`);
    if (state.selectedId) await loadTask(state.selectedId);
  }

  // ---------------------------------------------------------------- live updates: /ws, else polling

  function startLive() {
    connectWs();
  }

  function stopLive() {
    clearTimeout(state.wsTimer);
    state.wsTimer = null;
    stopPolling();
    stopLogPolling();
    for (const timer of state.refreshTimers.values()) clearTimeout(timer);
    state.refreshTimers.clear();
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.onclose = null;
      ws.close(1000, "signed out");
    }
    state.wsLive = false;
    state.wsAttempts = 0;
  }

  function connectWs() {
    if (!state.key || state.ws) return;
    const generation = state.generation;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`);
    } catch (err) {
      onWsDown(null);
      return;
    }
    state.ws = ws;
    setConnection("wait", state.wsAttempts ? "Reconnecting…" : "Connecting…");
    const authTimer = setTimeout(() => {
      if (!state.wsLive && state.ws === ws) ws.close(4000, "no answer");
    }, WS_AUTH_TIMEOUT_MS);

    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", api_key: state.key }));
      ws.send(JSON.stringify({ type: "subscribe", message_types: ["*"] }));
    };
    ws.onmessage = (event) => {
      if (generation !== state.generation || state.ws !== ws) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (!message || typeof message !== "object") return;
      if (message.type === "subscribed") {
        clearTimeout(authTimer);
        onWsLive();
        return;
      }
      handleWsMessage(message);
    };
    ws.onerror = () => {
      // Followed by close; nothing to do here.
    };
    ws.onclose = (event) => {
      clearTimeout(authTimer);
      if (state.ws !== ws) return;
      state.ws = null;
      onWsDown(event);
    };
  }

  function onWsLive() {
    state.wsLive = true;
    state.wsAttempts = 0;
    state.lastEventId = 0;
    stopPolling();
    setConnection("live", "Live");
    // /ws does not replay what happened before the subscription (while the socket was down, or between
    // the first page load and now): resume by re-reading the state; events from here on keep it current.
    refreshAll().catch(() => {});
  }

  function onWsDown(event) {
    const wasLive = state.wsLive;
    state.wsLive = false;
    if (!state.key) return;
    if (event && event.code === 1008) {
      // Policy violation: the server refused our key on the socket. HTTP decides whether it is still good.
      refreshQueue().catch(() => {});
    }
    state.wsAttempts += 1;
    const base = Math.min(WS_BACKOFF_MAX_MS, WS_BACKOFF_MIN_MS * 2 ** Math.min(state.wsAttempts - 1, 5));
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    startPolling();
    setConnection("poll", wasLive
      ? `Reconnecting in ${Math.ceil(delay / 1000)} s · polling`
      : `Polling · live retry in ${Math.ceil(delay / 1000)} s`);
    clearTimeout(state.wsTimer);
    state.wsTimer = setTimeout(() => {
      state.wsTimer = null;
      connectWs();
    }, delay);
  }

  function startPolling() {
    if (state.pollTimer !== null) return;
    state.pollTimer = setInterval(() => {
      if (document.hidden || state.wsLive) return;
      refreshAll().catch(() => {});
    }, POLL_MS);
    refreshAll().catch(() => {});
  }

  function stopPolling() {
    if (state.pollTimer === null) return;
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function handleWsMessage(message) {
    if (message.type === "error") {
      console.warn("runplane /ws:", message.code, message.error);
      return;
    }
    if (message.type === "pong" || message.type === "authenticated" || message.type === "unsubscribed") return;
    if (typeof message.id === "number") {
      if (message.id <= state.lastEventId) return; // a duplicate
      state.lastEventId = message.id;
    }
    const data = message.data && typeof message.data === "object" ? message.data : {};
    switch (message.type) {
      case "task_progress":
        onTaskEvent(data.task_id, (task) => {
          task.progress = Math.max(pct(task.progress), pct(data.progress));
          if (data.message !== undefined) task.message = data.message;
          if (task.status === "queued") task.status = "running";
        });
        break;
      case "task_update":
        onTaskEvent(data.task_id, (task) => {
          task.status = data.status;
          if (data.worker_id !== undefined) task.worker_id = data.worker_id;
          if (data.status === "completed") task.progress = 100;
        }, true);
        if (data.status === "cancelled") scheduleRefresh("tasks", 800);
        scheduleRefresh("queue", 1000);
        // A claim or an end changes a worker's busy slots: its card is refreshed with the queue.
        scheduleRefresh("workers", 1000);
        break;
      case "task_complete":
        onTaskEvent(data.task_id, (task) => {
          task.status = data.status;
          if (data.failure !== undefined) task.failure = data.failure;
          if (data.status === "completed") task.progress = 100;
        }, true);
        scheduleRefresh("queue", 1000);
        // An event carries the status, not the message ("Cancelled"): re-read the rows, once per burst.
        if (data.status === "cancelled") scheduleRefresh("tasks", 800);
        break;
      case "queue_stats":
        if (typeof data.queued === "number") setText($("stat-queued"), fmtNumber(data.queued));
        if (typeof data.running === "number") setText($("stat-running"), fmtNumber(data.running));
        if (typeof data.workers === "number") setText($("stat-workers"), fmtNumber(data.workers));
        scheduleRefresh("queue", 1500);
        break;
      case "worker_status":
        scheduleRefresh("workers", 300);
        scheduleRefresh("queue", 800);
        break;
      default:
        break;
    }
  }

  function onTaskEvent(taskId, apply, transition = false) {
    if (typeof taskId !== "string") return;
    const task = state.tasks.get(taskId);
    if (!task) {
      // A task we have not listed yet (submitted elsewhere): re-read the list.
      scheduleRefresh("tasks", 600);
      return;
    }
    apply(task);
    if (state.statusFilter && transition && task.status !== state.statusFilter) scheduleRefresh("tasks", 300);
    patchRow(task);
    if (taskId === state.selectedId) {
      renderTaskView(task);
      // A transition can change what there is to show (results, artifacts, failure, times): re-read it.
      if (transition) scheduleRefresh("selected", 150);
    }
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) {
        setText($("login-error"), "Enter an API key.");
        return;
      }
      setText($("login-error"), "");
      signIn(key);
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("submit-form").addEventListener("submit", submitRun);
    $("model").addEventListener("change", renderModelParams);
    $("job-name").addEventListener("input", (event) => { event.target.dataset.edited = "1"; });
    $("status-filter").addEventListener("change", (event) => {
      state.statusFilter = event.target.value;
      refreshTasks().catch(() => {});
    });
    $("refresh").addEventListener("click", () => refreshAll().catch(() => {}));
    $("task-close").addEventListener("click", closeTask);
    $("task-cancel").addEventListener("click", cancelSelected);
    $("log-refresh").addEventListener("click", () => state.selectedId && loadLog(state.selectedId));
    window.addEventListener("hashchange", () => {
      const id = taskIdFromHash();
      if (state.key && id && id !== state.selectedId) selectTask(id, true);
    });
    // sweeps.js cancelled tasks: their rows' statuses and messages are read again now, not at the next event.
    document.addEventListener("runplane:tasks-changed", () => {
      if (!state.key) return;
      refreshTasks().catch(() => {});
      if (state.selectedId) loadTask(state.selectedId).catch(() => {});
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.key && !state.wsLive) refreshAll().catch(() => {});
    });
    // Relative times (heartbeats, durations) age while nothing happens.
    setInterval(() => {
      if (!state.key || document.hidden) return;
      const task = state.selectedId && state.tasks.get(state.selectedId);
      if (task && ACTIVE.has(task.status)) renderTaskView(task);
    }, 1000);

    const key = loadKey();
    if (key) signIn(key);
    else showLogin("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
