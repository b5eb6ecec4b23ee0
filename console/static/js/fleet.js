// The fleet at a glance: one row per rack (or other topology group), one cell per host,
// coloured by the host's worst firing alert. Arrow keys move between cells (one tab stop
// for the whole grid), Enter opens the host; hover or focus shows its alerts and GPUs;
// "Show GPUs" draws each host's GPUs inside its cell.

import { el, fill } from "./util.js";

const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });

function groupOrder(a, b) {
  // racks first, then groups by another label, "no rack" last
  const ka = a.by === "rack" ? 0 : a.by ? 1 : 2;
  const kb = b.by === "rack" ? 0 : b.by ? 1 : 2;
  return ka - kb || natural(a.name, b.name);
}

export class FleetView {
  constructor(model, root, tooltip, counts) {
    this.model = model;
    this.root = root;
    this.tooltip = tooltip;
    this.counts = counts;
    this.cells = new Map(); // host -> cell element
    this.zoom = false;
    this.active = null; // host of the cell holding the tab stop
    root.addEventListener("keydown", (e) => this.onKey(e));
    root.addEventListener("mouseover", (e) => {
      const cell = e.target.closest(".cell");
      if (cell) this.showTip(cell);
    });
    root.addEventListener("mouseleave", () => this.hideTip());
    root.addEventListener("focusin", (e) => {
      const cell = e.target.closest(".cell");
      if (cell) {
        this.setActive(cell.dataset.host, false);
        this.showTip(cell);
      }
    });
    root.addEventListener("focusout", () => this.hideTip());
    root.addEventListener("click", (e) => {
      const cell = e.target.closest(".cell");
      if (cell) location.hash = `#/host/${encodeURIComponent(cell.dataset.host)}`;
    });
  }

  setZoom(on) {
    this.zoom = on;
    this.root.classList.toggle("zoom", on);
    for (const [host, cell] of this.cells) this.paint(host, cell);
  }

  groups() {
    const groups = new Map();
    for (const h of this.model.hosts.values()) {
      const key = h.group;
      if (!groups.has(key)) groups.set(key, { name: key, by: h.group_by, hosts: [] });
      groups.get(key).hosts.push(h.host);
    }
    const list = [...groups.values()].sort(groupOrder);
    for (const g of list) g.hosts.sort(natural);
    return list;
  }

  render() {
    const rows = [];
    this.cells = new Map();
    const groups = this.groups();
    for (const g of groups) {
      const label = g.by === "rack" ? `rack ${g.name}` : g.name;
      const row = el("div", { role: "row", class: "frow", "data-group": g.name },
        el("div", { role: "rowheader", class: "fhead", title: label },
          el("span", { class: "gname", text: g.name }),
          el("span", { class: "gcount", text: String(g.hosts.length) })));
      for (const host of g.hosts) {
        const cell = el("div", { role: "gridcell", class: "cell", tabindex: "-1", "data-host": host });
        this.paint(host, cell);
        this.cells.set(host, cell);
        row.append(cell);
      }
      rows.push(row);
    }
    if (rows.length === 0) {
      rows.push(el("div", { role: "row", class: "frow" },
        el("div", { role: "gridcell", class: "empty", text: "No hosts yet: waiting for the first metrics to be stored." })));
    }
    fill(this.root, ...rows);
    this.root.setAttribute("aria-rowcount", String(groups.length));
    if (!this.active || !this.cells.has(this.active)) this.active = groups[0]?.hosts[0] || null;
    if (this.active) this.cells.get(this.active).tabIndex = 0;
    this.renderCounts();
  }

  /** Repaint the cells of `hosts` (a Set), or everything when the grouping changed. */
  update(hosts, regroup) {
    if (regroup) return this.render();
    for (const host of hosts) {
      const cell = this.cells.get(host);
      if (!cell) return this.render();
      this.paint(host, cell);
    }
    this.renderCounts();
  }

  paint(host, cell) {
    const sev = this.model.worstOf(host);
    const cls = `cell sev-${sev || "ok"}`;
    if (cell.className !== cls) cell.className = cls;
    const n = this.model.byHost.get(host)?.size || 0;
    const label = sev ? `${host}: ${sev}, ${n} firing alert${n === 1 ? "" : "s"}` : `${host}: no firing alert`;
    if (cell.getAttribute("aria-label") !== label) cell.setAttribute("aria-label", label);
    if (this.zoom) {
      const h = this.model.hosts.get(host);
      const gw = this.model.gpuWorst(host);
      const gpus = h ? h.gpus : [];
      cell.replaceChildren(
        el("span", { class: "cname", text: host, "aria-hidden": "true" }),
        el("span", { class: "gpus", "aria-hidden": "true" },
          ...gpus.map((g) => el("span", { class: `gpu sev-${gw[g] || "ok"}`, title: `GPU ${g}` }))));
    } else if (cell.firstChild) cell.replaceChildren();
  }

  renderCounts() {
    let crit = 0, warn = 0, info = 0;
    for (const host of this.model.byHost.keys()) {
      if (!this.model.hosts.has(host)) continue;
      const s = this.model.worstOf(host);
      if (s === "critical") crit++;
      else if (s === "warning") warn++;
      else if (s === "info") info++;
    }
    fill(this.counts,
      el("span", { text: `${this.model.hosts.size} hosts` }),
      el("span", { class: "count sev-text-critical", text: `${crit} critical` }),
      el("span", { class: "count sev-text-warning", text: `${warn} warning` }),
      el("span", { class: "count sev-text-info", text: `${info} info` }));
  }

  setActive(host, focus) {
    if (this.active && this.cells.has(this.active)) this.cells.get(this.active).tabIndex = -1;
    this.active = host;
    const cell = this.cells.get(host);
    if (!cell) return;
    cell.tabIndex = 0;
    if (focus) cell.focus();
  }

  onKey(e) {
    const cell = e.target.closest(".cell");
    if (!cell) return;
    const row = cell.parentElement;
    const cells = [...row.querySelectorAll(".cell")];
    const i = cells.indexOf(cell);
    let next = null;
    if (e.key === "ArrowRight") next = cells[i + 1];
    else if (e.key === "ArrowLeft") next = cells[i - 1];
    else if (e.key === "Home") next = cells[0];
    else if (e.key === "End") next = cells[cells.length - 1];
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const r = this.rowBelowOrAbove(row, e.key === "ArrowDown");
      if (r) {
        const rc = r.querySelectorAll(".cell");
        next = rc[Math.min(i, rc.length - 1)];
      }
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      location.hash = `#/host/${encodeURIComponent(cell.dataset.host)}`;
      return;
    } else return;
    e.preventDefault();
    if (next) this.setActive(next.dataset.host, true);
  }

  /** The rack row drawn just below (or above) `row` in the same column of racks. */
  rowBelowOrAbove(row, down) {
    const at = row.getBoundingClientRect();
    let best = null, bestDist = Infinity;
    for (const r of this.root.querySelectorAll(".frow")) {
      if (r === row || !r.querySelector(".cell")) continue;
      const b = r.getBoundingClientRect();
      if (Math.abs(b.left - at.left) > 4) continue;
      const dist = down ? b.top - at.top : at.top - b.top;
      if (dist > 0 && dist < bestDist) {
        best = r;
        bestDist = dist;
      }
    }
    return best;
  }

  showTip(cell) {
    const host = cell.dataset.host;
    const h = this.model.hosts.get(host);
    const active = this.model.activeOf(host);
    const gw = this.model.gpuWorst(host);
    const gpus = h ? h.gpus : [];
    fill(this.tooltip,
      el("strong", { text: host }),
      el("div", { class: "tip-sub", text: h ? (h.group_by === "rack" ? `rack ${h.group}` : h.group) : "" }),
      active.length
        ? el("ul", { class: "tip-alerts" }, ...active.slice(0, 6).map((a) =>
          el("li", {}, el("span", { class: `dot sev-${a.severity}` }), ` ${a.rule}`,
            a.labels?.gpu !== undefined ? ` (GPU ${a.labels.gpu})` : "")),
          active.length > 6 ? el("li", { text: `and ${active.length - 6} more` }) : null)
        : el("div", { class: "tip-ok", text: "no firing alert" }),
      gpus.length
        ? el("div", { class: "tip-gpus" }, ...gpus.map((g) =>
          el("span", { class: `gpu big sev-${gw[g] || "ok"}`, text: g })))
        : null);
    this.tooltip.hidden = false;
    const r = cell.getBoundingClientRect();
    const tw = this.tooltip.offsetWidth;
    const left = Math.min(window.innerWidth - tw - 8, r.left + window.scrollX);
    this.tooltip.style.left = `${Math.max(8, left)}px`;
    this.tooltip.style.top = `${r.bottom + window.scrollY + 6}px`;
  }

  hideTip() {
    this.tooltip.hidden = true;
  }
}
