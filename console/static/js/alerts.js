// Active alerts and incidents, newest first, with filters by severity, rack and rule.
// Resolved ones stay a while, fading, then the server drops them.

import { age, el, fill, hostLink, num, severityBadge } from "./util.js";

// Rows drawn: the newest that match. Measured (benchmarks/console.py): 200 live rows cost
// the renderer several times what 60 do at 50 changes a second; "Show more" adds rows.
const PAGE_ROWS = 60;
const FADE_MS = 120000;

function fade(node, resolvedAt, now) {
  // fades towards 0.7 opacity: text stays readable (contrast) until the row goes
  const f = resolvedAt ? Math.min(1, (now - resolvedAt) / FADE_MS) : 0;
  node.style.opacity = resolvedAt ? String(0.92 - 0.22 * f) : "";
}

export class AlertsView {
  constructor(model, table, filters, summary, more) {
    this.model = model;
    this.limit = PAGE_ROWS;
    this.more = more;
    more.addEventListener("click", () => {
      this.limit += PAGE_ROWS;
      this.render();
    });
    this.tbody = table.querySelector("tbody");
    this.summary = summary;
    this.severity = filters.querySelector("#f-severity");
    this.group = filters.querySelector("#f-rack");
    this.rule = filters.querySelector("#f-rule");
    this.active = filters.querySelector("#f-active");
    for (const c of [this.severity, this.group, this.rule, this.active]) {
      c.addEventListener("change", () => this.render());
    }
    this.knownGroups = "";
    this.knownRules = "";
    this.rows = new Map(); // fingerprint -> {alert, tr}: rows reused while unchanged
  }

  options(select, values, key, allText) {
    const sig = values.join("\u0000");
    if (this[key] === sig) return;
    this[key] = sig;
    const current = select.value;
    fill(select, el("option", { value: "", text: allText }),
      ...values.map((v) => el("option", { value: v, text: v })));
    select.value = values.includes(current) ? current : "";
  }

  refreshFilters() {
    // the choices follow the hosts and rules seen (the options are only rebuilt on change)
    const groups = new Set();
    for (const h of this.model.hosts.values()) groups.add(h.group);
    const rules = new Set();
    for (const a of this.model.alerts.values()) rules.add(a.rule);
    const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });
    this.options(this.group, [...groups].sort(natural), "knownGroups", "all racks");
    this.options(this.rule, [...rules].sort(natural), "knownRules", "all rules");
  }

  selected() {
    const sev = this.severity.value, grp = this.group.value, rule = this.rule.value;
    const activeOnly = this.active.checked;
    const out = [];
    for (const a of this.model.alerts.values()) {
      if (sev && a.severity !== sev) continue;
      if (rule && a.rule !== rule) continue;
      if (activeOnly && a.status !== "firing") continue;
      if (grp && this.model.groupOf(a.host) !== grp) continue;
      out.push(a);
    }
    out.sort((a, b) => b.starts_ms - a.starts_ms || b.updated_ms - a.updated_ms);
    return out;
  }

  render() {
    this.refreshFilters();
    const now = Date.now();
    const list = this.selected();
    const keep = new Map();
    const rows = list.slice(0, this.limit).map((a) => {
      const cached = this.rows.get(a.fingerprint);
      if (cached && cached.alert === a) {
        keep.set(a.fingerprint, cached);
        return cached.tr;
      }
      const tr = el("tr", { class: a.status === "resolved" ? "resolved" : "firing", "data-fp": a.fingerprint },
        el("td", {}, severityBadge(a.severity)),
        el("td", { class: "nowrap" }, hostLink(a.host)),
        el("td", { class: "rule" }, a.rule, a.labels?.gpu !== undefined ? el("span", { class: "sub", text: ` GPU ${a.labels.gpu}` }) : null,
          a.summary ? el("div", { class: "sub summary", text: a.summary }) : null),
        el("td", { class: "num" }, num(a.value), a.threshold !== null ? el("span", { class: "sub", text: ` / ${num(a.threshold)}` }) : null),
        el("td", { class: "num age", "data-since": a.starts_ms }, age(now - a.starts_ms)),
        el("td", {}, a.status === "resolved" ? el("span", { class: "badge resolved", text: "resolved" }) : el("span", { class: "badge firing", text: "firing" })));
      fade(tr, this.model.resolvedAt.get(a.fingerprint), now);
      keep.set(a.fingerprint, { alert: a, tr });
      return tr;
    });
    this.rows = keep;
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "6", class: "empty", text: "No alert matches." })));
    if (rows.length !== this.tbody.children.length || rows.some((r, i) => this.tbody.children[i] !== r)) {
      fill(this.tbody, ...rows);
    }
    const firing = list.filter((a) => a.status === "firing").length;
    this.summary.textContent = `${firing} firing, ${list.length - firing} resolved recently` +
      (list.length > this.limit ? ` (newest ${this.limit} shown)` : "");
    this.more.hidden = list.length <= this.limit;
  }

  /** Ages and fading move on with time even without news. */
  tick() {
    const now = Date.now();
    for (const td of this.tbody.querySelectorAll("td.age")) td.textContent = age(now - Number(td.dataset.since));
    for (const tr of this.tbody.querySelectorAll("tr.resolved")) fade(tr, this.model.resolvedAt.get(tr.dataset.fp), now);
  }
}

export class IncidentsView {
  constructor(model, list, summary) {
    this.model = model;
    this.list = list;
    this.summary = summary;
  }

  suspectHost(i) {
    if (i.scope === "host" && this.model.hosts.has(i.scope_value)) return i.scope_value;
    const word = (i.suspect || "").split(/\s+/).find((w) => this.model.hosts.has(w));
    return word || null;
  }

  render() {
    const now = Date.now();
    const items = [...this.model.incidents.values()]
      .sort((a, b) => b.opened_ms - a.opened_ms || b.updated_ms - a.updated_ms);
    const cards = items.slice(0, 50).map((i) => {
      const host = this.suspectHost(i);
      const prob = i.fault_probability === null ? "–" : `${Math.round(i.fault_probability * 100)} %`;
      const li = el("li", { class: `incident ${i.status === "resolved" ? "resolved" : "open"}`, "data-id": i.incident_id },
        el("div", { class: "inc-head" }, severityBadge(i.severity),
          el("span", { class: "inc-scope", text: `${i.scope} ${i.scope_value}` }),
          el("span", { class: "inc-age", text: `${i.status}, opened ${age(now - i.opened_ms)} ago` })),
        el("div", { class: "inc-suspect" }, el("span", { class: "k", text: "Suspect: " }),
          host ? el("a", { href: `#/host/${encodeURIComponent(host)}`, text: i.suspect }) : el("span", { text: i.suspect })),
        el("p", { class: "inc-hint", text: i.root_cause_hint }),
        i.suspects && i.suspects.length > 1
          ? el("div", { class: "inc-others" }, el("span", { class: "k", text: "Other candidates: " }),
            i.suspects.slice(1, 4).map((c) => `${c.host}${typeof c.score === "number" ? ` (${c.score.toFixed(2)})` : ""}`).join(", "))
          : null,
        el("div", { class: "inc-meta" },
          el("span", { text: `fault probability ${prob}` }),
          el("span", { text: `${i.hosts.length} host${i.hosts.length === 1 ? "" : "s"}` }),
          el("span", { text: `${i.alerts.length} alert${i.alerts.length === 1 ? "" : "s"}` }),
          i.fault_classes.length ? el("span", { text: i.fault_classes.join(", ") }) : null));
      fade(li, this.model.resolvedAt.get(i.incident_id), now);
      return li;
    });
    if (cards.length === 0) cards.push(el("li", { class: "empty", text: "No open incident." }));
    fill(this.list, ...cards);
    const open = items.filter((i) => i.status !== "resolved").length;
    this.summary.textContent = `${open} open`;
  }
}
