// Pipeline health from the processes' own metrics: events in and out, consumer lag per
// partition, dead letters by reason, the sink's insert rate; a strip on every page and
// a full panel with the rates' recent history.

import { el, fill, num, rate } from "./util.js";

const HISTORY = 150; // points kept for the rates chart (5 minutes at 2 s)

export class HealthView {
  constructor(model, strip, panel) {
    this.model = model;
    this.strip = strip;
    this.panel = panel;
    this.history = { t: [], events_in: [], samples_in: [], alerts_out: [], sink_rows: [] };
    this.chart = null;
  }

  record(h) {
    const hist = this.history;
    hist.t.push(Date.now() / 1000);
    for (const k of ["events_in", "samples_in", "alerts_out", "sink_rows"]) hist[k].push(h.rates[k] ?? null);
    if (hist.t.length > HISTORY) for (const k of Object.keys(hist)) hist[k].shift();
  }

  renderStrip() {
    const h = this.model.health;
    if (!h) {
      fill(this.strip, el("span", { text: "Pipeline health: waiting for the first scrape…" }));
      return;
    }
    const r = h.rates;
    const up = h.endpoints.filter((e) => e.up).length;
    const dead = h.dead_letters.reduce((n, d) => n + d.count, 0);
    const item = (k, v, id) => el("span", { class: "stat", id }, el("span", { class: "k", text: k }), " ", el("strong", { text: v }));
    fill(this.strip,
      item("in", rate(r.events_in), "hs-in"),
      item("samples", rate(r.samples_in), "hs-samples"),
      item("alerts out", rate(r.alerts_out), "hs-alerts"),
      item("sink rows", rate(r.sink_rows), "hs-sink"),
      item("lag", num(h.lag_total), "hs-lag"),
      item("dead letters", num(dead), "hs-dead"),
      el("a", { href: "#/health", class: up === h.endpoints.length ? "ok" : "warn",
        text: `${up}/${h.endpoints.length} endpoints up` }));
  }

  renderPanel() {
    const h = this.model.health;
    if (!h) {
      fill(this.panel, el("p", { class: "note", text: "Waiting for the first scrape…" }));
      return;
    }
    const r = h.rates;
    const rates = [["Events in (worker input messages)", r.events_in], ["Samples in", r.samples_in],
      ["Log records in", r.log_records_in], ["Alert changes out", r.alerts_out],
      ["Sink messages consumed", r.sink_messages], ["Sink rows inserted", r.sink_rows],
      ["Sink inserts", r.sink_inserts]];
    const table = (caption, heads, rows, empty) => rows.length
      ? el("table", { class: "data" }, el("caption", { text: caption }),
        el("thead", {}, el("tr", {}, ...heads.map((x) => el("th", { scope: "col", text: x })))),
        el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((c) => el("td", { text: c }))))))
      : el("p", { class: "note", text: empty });
    fill(this.panel,
      el("div", { class: "chart", id: "chart-rates" }),
      table("Rates (per second, over the last scrape interval)", ["Rate", "Value"],
        rates.map(([k, v]) => [k, rate(v)]), ""),
      table("Consumer lag per partition", ["Topic", "Partition", "Lag (messages)", "Endpoint"],
        h.lag.map((x) => [x.topic, String(x.partition), String(x.lag), x.endpoint]),
        "No lag reported (no worker endpoint answered, or it owns no partition yet)."),
      table("Dead letters by reason", ["Source", "Reason", "Count", "Rate"],
        h.dead_letters.map((d) => [d.source, d.reason, String(d.count), rate(d.per_s)]),
        "No dead letter."),
      table("Endpoints scraped", ["URL", "Kind", "Up", "Ready", "Note"],
        h.endpoints.map((e) => [e.url, e.kind || "–", e.up ? "yes" : "no",
          e.ready === null ? "–" : e.ready ? "yes" : "no", e.error || e.ready_reason || ""]),
        "No endpoint configured (rackwatch console --scrape URL)."));
    this.drawRates();
  }

  drawRates() {
    const node = this.panel.querySelector("#chart-rates");
    if (!node || typeof window.uPlot !== "function" || this.history.t.length < 2) {
      if (node) fill(node, el("p", { class: "note", text: "The rates chart starts after two scrapes." }));
      return;
    }
    if (this.chart) this.chart.destroy();
    const hist = this.history;
    const stroke = "#c9d1d9";
    const grid = { stroke: "rgba(201, 209, 217, 0.12)", width: 1 };
    this.chart = new window.uPlot({
      width: node.clientWidth || 800, height: 200,
      series: [{}, { label: "events in/s", stroke: "#7aa2f7", width: 2 },
        { label: "samples in/s", stroke: "#bb9af7", width: 1, scale: "samples" },
        { label: "alert changes/s", stroke: "#ff5c57", width: 2 },
        { label: "sink rows/s", stroke: "#9ece6a", width: 1, scale: "samples" }],
      axes: [{ stroke, grid, ticks: grid }, { stroke, grid, ticks: grid, values: (u, v) => v.map(num) },
        { scale: "samples", side: 1, stroke, grid: { show: false }, values: (u, v) => v.map(num) }],
    }, [hist.t, hist.events_in, hist.samples_in, hist.alerts_out, hist.sink_rows], node);
  }
}
