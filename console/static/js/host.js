// A host page: a metric over a chosen range (raw and smoothed lines, the rules' threshold
// and clear lines, alert periods shaded), every series of it (one line per GPU), the
// host's recent fault log lines, and its alert and incident history.

import { age, clock, el, fill, getJSON, message, num, severityBadge } from "./util.js";

const RANGES = ["15m", "1h", "6h", "24h", "7d"];
const PALETTE = ["#7aa2f7", "#e0af68", "#9ece6a", "#f7768e", "#bb9af7", "#2ac3de", "#ff9e64",
  "#c0caf5", "#73daca", "#db4b4b", "#b4f9f8", "#9d7cd8", "#e6c384", "#7dcfff", "#41a6b5", "#ff007c"];
const SHADE = { critical: "rgba(255, 92, 87, 0.18)", warning: "rgba(245, 165, 36, 0.18)", info: "rgba(59, 130, 246, 0.16)" };

function parseHash(hash) {
  // #/host/NAME?metric=...&range=...
  const [path, query] = hash.slice(1).split("?");
  const name = decodeURIComponent(path.split("/")[2] || "");
  return { name, q: new URLSearchParams(query || "") };
}

function labelsMatch(periodLabels, seriesLabels) {
  for (const [k, v] of Object.entries(seriesLabels || {})) {
    if (periodLabels[k] !== undefined && periodLabels[k] !== v) return false;
  }
  return true;
}

function shadePlugin(periods) {
  return {
    hooks: {
      drawClear: [(u) => {
        const { ctx } = u;
        const { top, height, left, width } = u.bbox;
        ctx.save();
        for (const p of periods) {
          const x0 = Math.max(left, u.valToPos(p.start_ms / 1000, "x", true));
          const endS = (p.end_ms ?? u.scales.x.max * 1000) / 1000;
          const x1 = Math.min(left + width, u.valToPos(endS, "x", true));
          if (x1 <= x0) continue;
          ctx.fillStyle = SHADE[p.severity] || SHADE.info;
          ctx.fillRect(x0, top, x1 - x0, height);
        }
        ctx.restore();
      }],
    },
  };
}

function axisStyle() {
  const stroke = "#c9d1d9";
  const grid = { stroke: "rgba(201, 209, 217, 0.12)", width: 1 };
  return [{ stroke, grid, ticks: grid }, { stroke, grid, ticks: grid, size: 60, values: (u, vals) => vals.map(num) }];
}

export class HostView {
  constructor(model, root) {
    this.model = model;
    this.root = root;
    this.charts = [];
    this.token = 0;
    this.resize = () => this.fit();
    window.addEventListener("resize", this.resize);
  }

  destroyCharts() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
  }

  fit() {
    for (const c of this.charts) {
      const w = c.root.parentElement.clientWidth;
      if (w > 0) c.setSize({ width: w, height: c.height });
    }
  }

  async show(hash) {
    const { name, q } = parseHash(hash);
    const token = ++this.token;
    this.destroyCharts();
    const range = RANGES.includes(q.get("range")) ? q.get("range") : "1h";
    this.root.querySelector("#host-title").textContent = name;
    document.title = `${name} · rackwatch`;
    const meta = this.root.querySelector("#host-meta");
    const status = this.root.querySelector("#host-status");
    // nothing of the previous host stays on screen while this one loads
    fill(meta);
    for (const id of ["#host-charts", "#host-logs", "#host-history"]) fill(this.root.querySelector(id));
    fill(status, message("Loading…"));
    let info;
    try {
      info = await getJSON(`/api/hosts/${encodeURIComponent(name)}`, { range });
    } catch (e) {
      if (token === this.token) fill(status, message(`Could not load ${name}: ${e.message}`, "error"));
      return;
    }
    if (token !== this.token) return;
    fill(status);
    this.renderMeta(meta, info);
    const metric = q.get("metric") || info.suggested_metric;
    this.renderControls(info, metric, range, q.get("series"));
    this.loadSeries(name, metric, range, q.get("series"), token);
    this.loadLogs(name, range, q.get("lines") || "faults", token);
    this.loadHistory(name, token);
  }

  renderMeta(meta, info) {
    const group = info.group;
    const labels = Object.entries(info.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    fill(meta,
      el("span", { text: group === "no rack" ? "no rack" : `group ${group}` }),
      labels ? el("span", { text: labels }) : null,
      info.gpus.length ? el("span", { text: `${info.gpus.length} GPUs` }) : null,
      ...info.alerts.filter((a) => a.status === "firing").map((a) =>
        el("span", { class: "chip" }, severityBadge(a.severity), ` ${a.rule}`, a.labels?.gpu !== undefined ? ` GPU ${a.labels.gpu}` : "")),
      !info.known ? el("span", { class: "error", text: "no data from this host in the range" }) : null);
  }

  renderControls(info, metric, range, series) {
    const form = this.root.querySelector("#host-controls");
    const mSel = form.querySelector("#h-metric");
    const rSel = form.querySelector("#h-range");
    const names = info.metrics.map((m) => m.name);
    if (metric && !names.includes(metric)) names.unshift(metric);
    fill(mSel, ...names.map((n) => el("option", { value: n, text: n })));
    mSel.value = metric || "";
    fill(rSel, ...RANGES.map((r) => el("option", { value: r, text: `last ${r}` })));
    rSel.value = range;
    const go = () => {
      const p = new URLSearchParams({ metric: mSel.value, range: rSel.value });
      const s = form.querySelector("#h-series").value;
      if (s) p.set("series", s);
      location.hash = `#/host/${encodeURIComponent(info.host)}?${p}`;
    };
    mSel.onchange = () => {
      form.querySelector("#h-series").value = "";
      go();
    };
    rSel.onchange = go;
    form.querySelector("#h-series").onchange = go;
    form.onsubmit = (e) => e.preventDefault();
    this.series = series;
  }

  async loadSeries(host, metric, range, wanted, token) {
    const box = this.root.querySelector("#host-charts");
    if (!metric) {
      fill(box, message("This host has no metrics in the range."));
      return;
    }
    fill(box, message(`Loading ${metric}…`));
    let data;
    try {
      data = await getJSON(`/api/hosts/${encodeURIComponent(host)}/series`, { metric, range });
    } catch (e) {
      if (token === this.token) fill(box, message(`Could not load ${metric}: ${e.message}`, "error"));
      return;
    }
    if (token !== this.token) return;
    const sSel = this.root.querySelector("#h-series");
    fill(sSel, ...data.series.map((s) => el("option", { value: s.key, text: s.key || "(one series)" })));
    sSel.disabled = data.series.length < 2;
    if (data.series.length === 0) {
      fill(box, message(`No ${metric} samples in the range.`));
      return;
    }
    // the series to show first: the asked one, else one a firing alert is about
    const about = (labels) => (s) => Object.keys(s.labels).some((k) => labels[k] !== undefined)
      && labelsMatch(labels, s.labels);
    const firing = this.model.activeOf(host).map((a) => a.labels || {});
    const periods = [...data.alert_periods].reverse().map((p) => p.labels);
    const chosen = data.series.find((s) => s.key === wanted)
      || firing.map((l) => data.series.find(about(l))).find(Boolean)
      || periods.map((l) => data.series.find(about(l))).find(Boolean)
      || data.series[0];
    sSel.value = chosen.key;
    if (typeof window.uPlot !== "function") {
      fill(box, message("The chart library is not installed (run `make setup`).", "error"));
      return;
    }
    const main = el("figure", { class: "chart", id: "chart-main", "data-metric": metric },
      el("figcaption", { text: `${metric}${chosen.key ? ` (${chosen.key})` : ""}: raw and ${data.smoothing} smoothed` }));
    const parts = [main];
    let all = null;
    if (data.series.length > 1) {
      all = el("figure", { class: "chart", id: "chart-series", "data-metric": metric },
        el("figcaption", { text: `${metric}, every series (${data.smoothing} smoothed)` }));
      parts.push(all);
    }
    const legend = el("p", { class: "note", id: "chart-lines" },
      data.lines.length
        ? data.lines.map((l) => `${l.rule}: fires ${l.op} ${num(l.threshold)}, clears at ${num(l.clear)} (${l.smoothing}).`).join(" ")
        : "No rule compares this metric with a threshold.",
      data.alert_periods.length ? ` Shaded: ${data.alert_periods.length} alert period${data.alert_periods.length === 1 ? "" : "s"}.` : "");
    parts.push(legend);
    fill(box, ...parts);
    this.drawMain(main, data, chosen);
    if (all) this.drawAll(all, data);
  }

  /** The x range: the asked range, or from the first point when data starts later. */
  xRange(data) {
    const first = Math.min(...data.series.map((s) => (s.ts.length ? s.ts[0] : data.to_ms)));
    const min = Math.max(data.from_ms, first - data.step_ms);
    return { time: true, min: min / 1000, max: data.to_ms / 1000 };
  }

  drawMain(node, data, s) {
    const xs = s.ts.map((t) => t / 1000);
    const series = [{}, { label: "raw", stroke: "#7aa2f7", width: 1 },
      { label: `${data.smoothing}`, stroke: "#e0af68", width: 2 }];
    const cols = [xs, s.raw, s.smoothed];
    for (const l of data.lines) {
      series.push({ label: `${l.rule} threshold`, stroke: "#ff5c57", width: 1.5, dash: [6, 4], points: { show: false } });
      cols.push(xs.map(() => l.threshold));
      if (l.clear !== l.threshold) {
        series.push({ label: `${l.rule} clear`, stroke: "#9ece6a", width: 1.5, dash: [2, 4], points: { show: false } });
        cols.push(xs.map(() => l.clear));
      }
    }
    const periods = data.alert_periods.filter((p) => labelsMatch(p.labels, s.labels));
    const opts = {
      width: node.clientWidth || 800, height: 280, series, axes: axisStyle(),
      scales: { x: this.xRange(data) },
      plugins: [shadePlugin(periods)], legend: { live: true },
    };
    this.charts.push(new window.uPlot(opts, cols, node));
    node.dataset.drawn = String(s.ts.length);
    node.dataset.lines = String(data.lines.length);
    node.dataset.periods = String(periods.length);
  }

  drawAll(node, data) {
    const xsSet = new Set();
    for (const s of data.series) for (const t of s.ts) xsSet.add(t);
    const xs = [...xsSet].sort((a, b) => a - b);
    const index = new Map(xs.map((t, i) => [t, i]));
    const series = [{}];
    const cols = [xs.map((t) => t / 1000)];
    data.series.forEach((s, i) => {
      const col = new Array(xs.length).fill(null);
      s.ts.forEach((t, j) => { col[index.get(t)] = s.smoothed[j]; });
      series.push({ label: s.key, stroke: PALETTE[i % PALETTE.length], width: 1.5 });
      cols.push(col);
    });
    for (const l of data.lines) {
      series.push({ label: `${l.rule} threshold`, stroke: "#ff5c57", width: 1, dash: [6, 4], points: { show: false } });
      cols.push(xs.map(() => l.threshold));
    }
    const opts = {
      width: node.clientWidth || 800, height: 240, series, axes: axisStyle(),
      scales: { x: this.xRange(data) },
      legend: { live: false },
    };
    this.charts.push(new window.uPlot(opts, cols, node));
    node.dataset.drawn = String(data.series.length);
  }

  async loadLogs(host, range, which, token) {
    const box = this.root.querySelector("#host-logs");
    const toggle = this.root.querySelector("#h-lines");
    toggle.value = which;
    toggle.onchange = () => this.loadLogs(host, range, toggle.value, this.token);
    let data;
    try {
      data = await getJSON(`/api/hosts/${encodeURIComponent(host)}/logs`, { range, lines: which });
    } catch (e) {
      if (token === this.token) fill(box, message(`Could not load the logs: ${e.message}`, "error"));
      return;
    }
    if (token !== this.token) return;
    if (data.lines.length === 0) {
      fill(box, message(which === "faults" ? "No fault log line in the range." : "No log line in the range."));
      return;
    }
    fill(box, el("table", { class: "data" },
      el("thead", {}, el("tr", {}, ...["Time", "Severity", "Fault class", "Template", "Line"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...data.lines.map((l) => el("tr", {},
        el("td", { class: "nowrap", text: clock(l.ts_ms) }),
        el("td", { text: l.severity }),
        el("td", {}, l.fault_class ? el("span", { class: "chip", text: l.fault_class }) : "–",
          l.fault_source ? el("span", { class: "sub", text: ` ${l.fault_source}` }) : null),
        el("td", {}, el("code", { text: l.template })),
        el("td", { class: "msg", title: l.message, text: l.message }))))));
  }

  async loadHistory(host, token) {
    const box = this.root.querySelector("#host-history");
    let data;
    try {
      data = await getJSON(`/api/hosts/${encodeURIComponent(host)}/history`, { range: "24h" });
    } catch (e) {
      if (token === this.token) fill(box, message(`Could not load the history: ${e.message}`, "error"));
      return;
    }
    if (token !== this.token) return;
    const now = Date.now();
    const alerts = data.alerts.length
      ? el("table", { class: "data" },
        el("caption", { text: "Alert state changes, last 24 h" }),
        el("thead", {}, el("tr", {}, ...["Changed", "Severity", "Rule", "Status", "Value", "Summary"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...data.alerts.map((a) => el("tr", {},
          el("td", { class: "nowrap", text: `${age(now - a.updated_ms)} ago` }),
          el("td", {}, severityBadge(a.severity)),
          el("td", { text: a.rule + (a.labels.gpu !== undefined ? ` GPU ${a.labels.gpu}` : "") }),
          el("td", { text: a.status }),
          el("td", { class: "num", text: num(a.value) }),
          el("td", { text: a.summary })))))
      : message("No alert on this host in the last 24 h.");
    const incidents = data.incidents.length
      ? el("ul", { class: "plain" }, ...data.incidents.map((i) => el("li", {},
        severityBadge(i.severity), ` ${i.status}: `, el("strong", { text: i.suspect }), ` — ${i.root_cause_hint}`,
        el("span", { class: "sub", text: ` (opened ${age(now - i.opened_ms)} ago${i.fault_probability !== null ? `, fault probability ${Math.round(i.fault_probability * 100)} %` : ""})` }))))
      : message("No incident involved this host in the last 24 h.");
    fill(box, alerts, el("h4", { text: "Incidents" }), incidents);
  }
}
