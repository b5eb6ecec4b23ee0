// Logs: the top templates over a range, by count or by novelty (new or much more frequent
// than in the week before), each with a click-through to its lines.

import { age, clock, el, fill, getJSON, hostLink, message } from "./util.js";

export class LogsView {
  constructor(root) {
    this.root = root;
    this.token = 0;
    this.range = root.querySelector("#l-range");
    this.order = root.querySelector("#l-order");
    for (const c of [this.range, this.order]) c.addEventListener("change", () => this.load());
    root.querySelector("#logs-controls").addEventListener("submit", (e) => e.preventDefault());
  }

  async load() {
    const token = ++this.token;
    const box = this.root.querySelector("#log-templates");
    const lines = this.root.querySelector("#log-lines");
    fill(box, message("Loading…"));
    fill(lines);
    let data;
    try {
      data = await getJSON("/api/logs/templates", { range: this.range.value, order: this.order.value });
    } catch (e) {
      if (token === this.token) fill(box, message(`Could not load the templates: ${e.message}`, "error"));
      return;
    }
    if (token !== this.token) return;
    if (data.templates.length === 0) {
      fill(box, message("No log line in the range."));
      return;
    }
    const now = Date.now();
    const novelty = data.order === "novelty";
    const heads = ["Template", "Lines", "Hosts", "Fault class", novelty ? "Novelty" : "Last seen", ""];
    fill(box, el("table", { class: "data", id: "templates-table" },
      el("caption", { text: novelty ? "Templates by novelty against the preceding week" : "Templates by count" }),
      el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...data.templates.map((t) => el("tr", {},
        el("td", {}, el("code", { text: t.template })),
        el("td", { class: "num", text: String(t.lines) }),
        el("td", { class: "num", text: String(t.hosts) }),
        el("td", {}, t.fault_class ? el("span", { class: "chip", text: t.fault_class }) : "–"),
        el("td", { class: "num", text: novelty ? (t.before === 0 ? "new" : `${Math.round((t.novelty ?? 0) * 100)} %`) : `${age(now - t.last_ms)} ago` }),
        el("td", {}, el("button", { type: "button", class: "link", "data-template": t.template_id,
          "aria-label": `Show lines of template ${t.template.slice(0, 60)}`, text: "lines",
          onclick: () => this.lines(t) })))))));
  }

  async lines(t) {
    const box = this.root.querySelector("#log-lines");
    fill(box, message("Loading lines…"));
    let data;
    try {
      data = await getJSON("/api/logs/lines", { template_id: t.template_id, range: this.range.value });
    } catch (e) {
      fill(box, message(`Could not load the lines: ${e.message}`, "error"));
      return;
    }
    const heading = el("h3", { tabindex: "-1", text: `Lines of: ${t.template}` });
    fill(box, heading, el("table", { class: "data", id: "lines-table" },
      el("thead", {}, el("tr", {}, ...["Time", "Host", "Severity", "Line"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...data.lines.map((l) => el("tr", {},
        el("td", { class: "nowrap", text: clock(l.ts_ms) }),
        el("td", {}, hostLink(l.host)),
        el("td", { text: l.severity }),
        el("td", { class: "msg", title: l.message, text: l.message }))))));
    heading.focus();
  }
}
