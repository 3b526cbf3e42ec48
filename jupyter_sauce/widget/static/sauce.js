// The CaseWidget panels (anywidget ESM, no build step). The `_view` trait picks the panel.
// State comes from the model's traits; user actions go back as {action, ...} messages.

// Each PerspectiveWidget loads perspective-python's module again. The module skips the
// custom elements a page already has (it says "Perspective was loaded more than once on
// this page"), except its "regular-layout*" ones (5.6.1): the second grid on a page (a
// cell run again, a second notebook) then failed with "the name regular-layout has
// already been used". Our panels always render before the grid, so this page-wide guard
// is in place first; it skips only what would throw: an already defined regular-layout*.
(() => {
  const registry = window.customElements;
  if (registry.__sauceRegularLayoutGuard) return;
  const define = registry.define.bind(registry);
  registry.define = (name, constructor, options) => {
    if (String(name).startsWith("regular-layout") && registry.get(name)) return undefined;
    return define(name, constructor, options);
  };
  registry.__sauceRegularLayoutGuard = true;
})();

const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c);
  return el;
};

const send = (model, action, args = {}) => model.send({ action, ...args });

function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

function fmtSeconds(s) {
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${s % 60} s` : `${s} s`;
}

const NUMBER = new Intl.NumberFormat("en-US"); // one formatter: thousands of cells

function fmtCell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return NUMBER.format(v);
  const text = String(v);
  // ISO timestamps (UTC) read better as "2020-08-02 05:49:45 UTC"; other text is as is
  return /^\d{4}-\d{2}-\d{2}T/.test(text) ? text.replace("T", " ").replace(/Z$/, " UTC") : text;
}

// one sentence, details on demand, dismissible
function errorBox(model) {
  const box = h("div", { class: "sauce-error", role: "alert", "data-testid": "sauce-error" });
  const update = () => {
    const err = model.get("error") || {};
    box.replaceChildren();
    box.hidden = !err.message;
    if (!err.message) return;
    box.append(h("span", { class: "sauce-error-msg", text: err.message }));
    if (err.details) {
      box.append(h("details", {}, h("summary", { text: "Details" }),
        h("pre", { class: "sauce-details", text: err.details })));
    }
    box.append(h("button", { class: "sauce-link-btn", title: "Dismiss",
      onclick: () => send(model, "dismiss"), text: "Dismiss" }));
  };
  model.on("change:error", update);
  update();
  return box;
}

function bindInput(model, input, trait) {
  const update = () => {
    if (document.activeElement !== input) input.value = model.get(trait) || "";
  };
  model.on(`change:${trait}`, update);
  update();
}

function listBox(model, trait, cls) {
  const ul = h("ul", { class: cls });
  const update = () => {
    const items = model.get(trait) || [];
    ul.replaceChildren(...items.map((t) => h("li", { text: t })));
    ul.hidden = items.length === 0;
  };
  model.on(`change:${trait}`, update);
  update();
  return ul;
}

// ---------------------------------------------------------------- capture and run
function renderControls(model, el) {
  const crumbs = h("div", { class: "sauce-crumbs", "data-testid": "sauce-folder" });
  const files = h("tbody");
  const table = h("table", { class: "sauce-files", "data-testid": "sauce-files" },
    h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Size" }),
      h("th", { text: "Analysed" }))), files);
  const drawFiles = () => {
    const root = model.get("root_label");
    const folder = model.get("folder");
    crumbs.replaceChildren(
      h("span", { class: "sauce-muted", text: "Folder: " }),
      h("code", { text: folder ? `${root}/${folder}` : root }));
    const selected = model.get("selected");
    const rows = (model.get("entries") || []).map((e) => {
      const isCap = e.kind === "capture";
      const icon = e.kind === "up" ? "↰ " : e.kind === "dir" ? "▸ " : "";
      const tr = h("tr", {
        class: `sauce-entry sauce-${e.kind}${isCap && e.path === selected ? " sauce-selected" : ""}`,
        "data-path": e.path, tabindex: "0",
        onclick: () => send(model, isCap ? "select" : "cd", { path: e.path }),
        onkeydown: (ev) => { if (ev.key === "Enter") tr.click(); },
      },
      h("td", {}, h("span", { text: icon + e.name + (isCap ? "" : "/") })),
      h("td", { class: "sauce-num", text: isCap ? fmtSize(e.size) : "" }),
      h("td", { class: "sauce-mark", text: isCap && e.analysed ? "✓ analysed" : "" }));
      return tr;
    });
    if (!rows.length) {
      rows.push(h("tr", {}, h("td", { colspan: "3", class: "sauce-muted",
        text: "No folders or captures (.pcap, .pcapng, .cap) here." })));
    }
    files.replaceChildren(...rows);
  };
  for (const t of ["entries", "folder", "selected", "root_label"]) model.on(`change:${t}`, drawFiles);
  drawFiles();

  const rules = h("input", { type: "text", class: "sauce-input", "data-testid": "sauce-rules",
    placeholder: "default: installed ET Open, else the starter rules" });
  rules.addEventListener("change", () => { model.set("rules", rules.value); model.save_changes(); });
  bindInput(model, rules, "rules");
  const rulesLabel = h("span", { class: "sauce-muted" });
  const homeNet = h("input", { type: "text", class: "sauce-input", "data-testid": "sauce-home-net" });
  homeNet.addEventListener("change", () => { model.set("home_net", homeNet.value); model.save_changes(); });
  bindInput(model, homeNet, "home_net");
  const homeErr = h("div", { class: "sauce-field-error" });

  const run = h("button", { class: "sauce-btn sauce-primary", "data-testid": "sauce-run",
    onclick: () => send(model, "run"), text: "Run" });
  const rerun = h("button", { class: "sauce-btn", "data-testid": "sauce-rerun",
    onclick: () => send(model, "rerun"), text: "Re-run Suricata" });
  const cancel = h("button", { class: "sauce-btn", "data-testid": "sauce-cancel",
    onclick: () => send(model, "cancel"), text: "Cancel" });
  const chosen = h("span", { class: "sauce-chosen", "data-testid": "sauce-selected" });
  const bar = h("div", { class: "sauce-bar" }, h("div", { class: "sauce-bar-fill" }));
  const progressText = h("span", { class: "sauce-muted", "data-testid": "sauce-progress" });
  const progress = h("div", { class: "sauce-progress" }, bar, progressText);
  const storedNote = h("div", { class: "sauce-note", "data-testid": "sauce-stored" });
  const status = h("div", { class: "sauce-status", "data-testid": "sauce-status" });
  const empty = h("div", { class: "sauce-empty", "data-testid": "sauce-empty" });

  let timer = null;
  const drawRun = () => {
    const running = model.get("running");
    const selected = model.get("selected_name");
    run.disabled = running || !model.get("selected");
    run.textContent = model.get("stored") ? "Open stored result" : "Run";
    rerun.hidden = !model.get("stored") || running;
    cancel.hidden = !running;
    chosen.textContent = selected ? `Capture: ${selected}` : "Choose a capture above to enable Run.";
    storedNote.textContent = model.get("stored_notice");
    storedNote.hidden = !model.get("stored_notice");
    rulesLabel.textContent = model.get("rules_label") ? `Using ${model.get("rules_label")}` : "";
    homeErr.textContent = model.get("home_net_error");
    homeNet.classList.toggle("sauce-invalid", !!model.get("home_net_error"));
    status.textContent = model.get("status");
    status.hidden = !model.get("status");
    empty.textContent = model.get("empty_state");
    empty.hidden = !model.get("empty_state");
    progress.hidden = !running;
    const tick = () => {
      const p = model.get("progress") || {};
      const fill = bar.firstChild;
      if (typeof p.fraction === "number") {
        fill.classList.remove("sauce-indeterminate");
        fill.style.width = `${Math.round(p.fraction * 100)}%`;
      } else {
        fill.classList.add("sauce-indeterminate");
        fill.style.width = "30%";
      }
      const elapsed = p.started ? (Date.now() - p.started) / 1000 : 0;
      let share = typeof p.fraction === "number" ? ` · ${Math.round(p.fraction * 100)}% of the capture read` : "";
      if (p.fraction === 1) share += " · reading Suricata's results";
      progressText.textContent = `${p.message || "Working"}${share} · ${fmtSeconds(elapsed)} elapsed`;
    };
    if (running && !timer) timer = setInterval(tick, 500);
    if (!running && timer) { clearInterval(timer); timer = null; }
    if (running) tick();
  };
  for (const t of ["running", "selected", "selected_name", "stored", "stored_notice", "progress",
    "rules_label", "home_net_error", "status", "empty_state"]) model.on(`change:${t}`, drawRun);
  drawRun();

  el.append(h("div", { class: "sauce sauce-controls" },
    h("div", { class: "sauce-head" }, h("span", { class: "sauce-title", text: "Sauce" }),
      h("span", { class: "sauce-muted", text: "packet-capture triage with Suricata" })),
    h("section", { class: "sauce-section" }, h("h4", { text: "1 · Capture" }), crumbs,
      h("div", { class: "sauce-scroll" }, table)),
    h("section", { class: "sauce-section" }, h("h4", { text: "2 · Run Suricata" }),
      h("div", { class: "sauce-settings" },
        h("label", { text: "Ruleset" }), h("div", {}, rules, rulesLabel),
        h("label", { text: "HOME_NET" }), h("div", {}, homeNet, homeErr)),
      h("div", { class: "sauce-row" }, run, rerun, cancel, chosen), storedNote, progress),
    errorBox(model), status, empty,
    listBox(model, "notices", "sauce-notices"), listBox(model, "warnings", "sauce-warnings")));
  return () => { if (timer) clearInterval(timer); };
}

// ---------------------------------------------------------------- ranges and timeline
const FIELDS = [
  ["exclude_src", "Exclude sources"], ["exclude_dst", "Exclude destinations"],
  ["include_src", "Only sources in"], ["include_dst", "Only destinations in"],
];

function timelineSvg(tl) {
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const all = tl.all || [], shown = tl.shown || [];
  const W = 600, H = 80, n = all.length || 1, bw = W / n;
  const max = Math.max(1, ...all);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
    class: "sauce-timeline-svg", role: "img", "aria-label": "Alerts over the capture's time range" });
  const t0 = tl.t0 * 1000;
  all.forEach((count, i) => {
    const from = new Date(t0 + i * tl.bin_seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
    const g = s("g", {});
    const title = s("title", {});
    title.textContent = `${from} UTC (+${tl.bin_seconds.toFixed(1)} s): ${shown[i]} shown of ${count} alerts`;
    g.append(title);
    g.append(s("rect", { x: i * bw, y: H - (count / max) * H, width: Math.max(1, bw - 1),
      height: (count / max) * H, class: "sauce-bar-all" }));
    g.append(s("rect", { x: i * bw, y: H - (shown[i] / max) * H, width: Math.max(1, bw - 1),
      height: (shown[i] / max) * H, class: "sauce-bar-shown" }));
    g.append(s("rect", { x: i * bw, y: 0, width: bw, height: H, fill: "transparent" }));
    svg.append(g);
  });
  return svg;
}

function renderRanges(model, el) {
  const inputs = {};
  const errors = {};
  const apply = () => {
    const args = {};
    for (const [f] of FIELDS) args[f] = inputs[f].value;
    send(model, "apply", args);
  };
  const grid = h("div", { class: "sauce-ranges" }, FIELDS.map(([f, label]) => {
    inputs[f] = h("input", { type: "text", class: "sauce-input", "data-testid": `sauce-${f}`,
      placeholder: "e.g. 10.42.0.0/16, 192.168.1.5", onkeydown: (ev) => { if (ev.key === "Enter") apply(); } });
    bindInput(model, inputs[f], f);
    errors[f] = h("div", { class: "sauce-field-error", "data-testid": `sauce-${f}-error` });
    return h("div", { class: "sauce-range" }, h("label", { text: label }), inputs[f], errors[f]);
  }));
  const applyBtn = h("button", { class: "sauce-btn sauce-primary", "data-testid": "sauce-apply",
    onclick: apply, text: "Apply ranges" });
  const clearBtn = h("button", { class: "sauce-btn", onclick: () => {
    for (const [f] of FIELDS) inputs[f].value = "";
    send(model, "clear");
  }, text: "Clear" });
  const summary = h("span", { class: "sauce-muted", "data-testid": "sauce-range-summary" });
  const tlBox = h("div", { class: "sauce-timeline", "data-testid": "sauce-timeline" });
  const section = h("section", { class: "sauce-section" },
    h("h4", { text: "3 · Network ranges" }), grid,
    h("div", { class: "sauce-row" }, applyBtn, clearBtn, summary),
    h("h4", { text: "Alerts over the capture's time range" }), tlBox);
  const draw = () => {
    const err = model.get("range_error") || {};
    for (const [f] of FIELDS) {
      errors[f].textContent = err.field === f ? `${err.message} The table was left as it was.` : "";
      inputs[f].classList.toggle("sauce-invalid", err.field === f);
    }
    summary.textContent = model.get("applying") ? "Applying…" : model.get("summary");
    applyBtn.disabled = model.get("applying");
    const tl = model.get("timeline") || {};
    tlBox.replaceChildren();
    if (tl.start && (tl.all || []).length) {
      const total = tl.all.reduce((a, b) => a + b, 0), kept = tl.shown.reduce((a, b) => a + b, 0);
      tlBox.append(timelineSvg(tl), h("div", { class: "sauce-axis" },
        h("span", { text: `${tl.start.slice(0, 19).replace("T", " ")} UTC` }),
        h("span", { class: "sauce-legend", text: `${kept.toLocaleString("en-US")} shown of ${total.toLocaleString("en-US")} alerts` }),
        h("span", { text: `${tl.end.slice(0, 19).replace("T", " ")} UTC` })));
    } else {
      tlBox.append(h("span", { class: "sauce-muted", text: "The timeline appears after a run." }));
    }
    section.hidden = !model.get("has_case");
  };
  for (const t of ["range_error", "summary", "applying", "timeline", "has_case"]) model.on(`change:${t}`, draw);
  draw();
  el.append(h("div", { class: "sauce sauce-ranges-panel" }, section, errorBox(model)));
}

// ---------------------------------------------------------------- IoCs and VirusTotal
function renderIocs(model, el) {
  const radio = (value, label) => {
    const input = h("input", { type: "radio", name: `sauce-src-${Math.random()}`, value,
      "data-testid": `sauce-source-${value}` });
    input.addEventListener("change", () => { model.set("source", value); model.save_changes(); });
    return [input, h("label", { class: "sauce-radio" }, input, ` ${label}`)];
  };
  const [rAlerts, lAlerts] = radio("alerts", "Alerts in view");
  const [rHosts, lHosts] = radio("hosts", "All hosts in the capture");
  const scope = h("span", { class: "sauce-muted", "data-testid": "sauce-ioc-scope" });
  const chip = h("div", { class: "sauce-chip", "data-testid": "sauce-ip-filter" });
  const vtBtn = h("button", { class: "sauce-btn sauce-primary", "data-testid": "sauce-vt",
    onclick: () => send(model, "enrich"), text: "VirusTotal" });
  const vtCancel = h("button", { class: "sauce-btn", onclick: () => send(model, "cancel"), text: "Cancel" });
  const vtProgress = h("span", { class: "sauce-muted", "data-testid": "sauce-vt-progress" });
  const vtStatus = h("div", { class: "sauce-note", "data-testid": "sauce-vt-status" });
  const head = h("thead");
  const body = h("tbody");
  const table = h("table", { class: "sauce-iocs", "data-testid": "sauce-iocs" }, head, body);
  const section = h("section", { class: "sauce-section" },
    h("h4", { text: "4 · IoCs (IP addresses)" }),
    h("div", { class: "sauce-row" }, lAlerts, lHosts, scope), chip,
    h("div", { class: "sauce-row" }, vtBtn, vtCancel, vtProgress), vtStatus,
    listBox(model, "vt_notices", "sauce-notices"),
    h("div", { class: "sauce-scroll sauce-scroll-tall" }, table));
  const drawStatus = () => {
    const source = model.get("source");
    rAlerts.checked = source === "alerts";
    rHosts.checked = source === "hosts";
    scope.textContent = model.get("scope");
    const ip = model.get("ip_filter");
    chip.replaceChildren();
    chip.hidden = !ip;
    if (ip) {
      chip.append(h("span", { text: `Alerts grid filtered to ${ip}. ` }),
        h("button", { class: "sauce-link-btn", onclick: () => send(model, "clear_ip"), text: "Show all alerts" }));
    }
    const running = model.get("vt_running");
    const n = model.get("global_count");
    vtBtn.disabled = running || n === 0;
    vtBtn.textContent = `VirusTotal: enrich ${n} global IP${n === 1 ? "" : "s"}`;
    vtCancel.hidden = !running;
    const p = model.get("vt_progress") || {};
    vtProgress.textContent = running
      ? `${p.done ?? 0} of ${p.total ?? "?"} looked up${p.eta ? ` · about ${fmtSeconds(p.eta)} left (rate limit)` : ""}${p.message ? ` · ${p.message}` : ""}`
      : "";
    vtStatus.textContent = model.get("vt_status");
    vtStatus.classList.toggle("sauce-offline", model.get("vt_mode") === "offline");
    section.hidden = !model.get("has_case");
  };
  // the table (thousands of rows for a big case) is drawn only when its rows change, and
  // once for all the changes of one message
  const drawTable = () => {
    const source = model.get("source");
    const columns = model.get("columns") || [];
    // the VirusTotal page link comes right after the address, so it is never scrolled away
    head.replaceChildren(h("tr", {}, columns.map(([key, label]) => key === "ip"
      ? [h("th", { text: label }), h("th", { text: "VirusTotal" })]
      : h("th", { text: label }))));
    const rows = model.get("rows") || [];
    body.replaceChildren(...rows.map((r) => h("tr", { "data-ip": r.ip },
      columns.map(([key]) => key === "ip"
        ? [h("td", {}, h("button", { class: "sauce-ip", title: "Filter the alerts grid to this address",
            "data-ip": r.ip, onclick: () => send(model, "filter_ip", { ip: r.ip }), text: r.ip })),
          h("td", {}, r.link
            ? h("a", { href: r.link, target: "_blank", rel: "noopener", class: "sauce-vt-link",
                title: `Open ${r.ip} on virustotal.com (new tab)`, text: "open ↗" })
            : h("span", { class: "sauce-muted", title: "Not a global address: never sent to VirusTotal",
                text: "internal" }))]
        : h("td", { class: typeof r[key] === "number" ? "sauce-num" : "", text: fmtCell(r[key]) })))));
    if (!rows.length) {
      body.append(h("tr", {}, h("td", { colspan: String(columns.length + 1), class: "sauce-muted",
        text: source === "alerts" ? "No addresses in the alerts in view." : "No hosts in the capture." })));
    }
  };
  let queued = false;
  let tableDirty = true;
  const draw = (table) => {
    tableDirty = tableDirty || table;
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      drawStatus();
      if (tableDirty) {
        tableDirty = false;
        drawTable();
      }
    });
  };
  for (const t of ["scope", "ip_filter", "vt_running", "vt_progress", "vt_status", "vt_mode",
    "global_count", "has_case"]) model.on(`change:${t}`, () => draw(false));
  for (const t of ["source", "columns", "rows"]) model.on(`change:${t}`, () => draw(true));
  draw(true);
  el.append(h("div", { class: "sauce sauce-iocs-panel" }, section, errorBox(model)));
}

const VIEWS = { controls: renderControls, ranges: renderRanges, iocs: renderIocs };

function render({ model, el }) {
  const view = VIEWS[model.get("_view")];
  if (!view) {
    el.textContent = `Unknown Sauce panel ${model.get("_view")}`;
    return undefined;
  }
  return view(model, el);
}

export default { render };
