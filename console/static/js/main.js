// The console page: one live model fed by server-sent events, four views, hash routes:
// #/ (fleet, incidents, alerts), #/host/NAME, #/logs, #/health.

import { AlertsView, IncidentsView } from "./alerts.js";
import { FleetView } from "./fleet.js";
import { HealthView } from "./health.js";
import { HostView } from "./host.js";
import { LogsView } from "./logs.js";
import { connect, Model } from "./model.js";

const $ = (sel) => document.querySelector(sel);

const model = new Model();
const fleet = new FleetView(model, $("#fleet"), $("#tooltip"), $("#fleet-counts"));
const alerts = new AlertsView(model, $("#alerts"), $("#alert-filters"), $("#alerts-summary"),
  $("#alerts-more"));
const incidents = new IncidentsView(model, $("#incidents"), $("#incidents-summary"));
const health = new HealthView(model, $("#healthstrip"), $("#health-panel"));
const host = new HostView(model, $("#view-host"));
const logs = new LogsView($("#view-logs"));

// What changed since the last frame; drawn once per animation frame.
let pending = null;
let latencyBatch = [];

function schedule(what) {
  if (!pending) {
    pending = { snapshot: false, hosts: new Set(), regroup: false, alerts: false, incidents: false, health: false };
    requestAnimationFrame(draw);
  }
  if (what.snapshot) pending.snapshot = true;
  if (what.hosts) for (const h of what.hosts) pending.hosts.add(h);
  pending.regroup ||= !!what.regroup;
  pending.alerts ||= !!what.alerts;
  pending.incidents ||= !!what.incidents;
  pending.health ||= !!what.health;
  if (what.newAlerts) for (const a of what.newAlerts) latencyBatch.push(a.updated_ms);
}

function draw() {
  const t0 = performance.now();
  const p = pending;
  pending = null;
  const overview = !$("#view-overview").hidden;
  if (p.snapshot) {
    fleet.render();
    alerts.render();
    incidents.render();
  } else {
    if (p.hosts.size || p.regroup) fleet.update(p.hosts, p.regroup);
    if (p.alerts && overview) alerts.render();
    if (p.incidents && overview) incidents.render();
  }
  if (p.health || p.snapshot) {
    if (model.health) health.record(model.health);
    health.renderStrip();
    if (!$("#view-health").hidden) health.renderPanel();
  }
  const stamps = latencyBatch;
  latencyBatch = [];
  const took = model.stats.drawMs;
  took.push(performance.now() - t0);
  if (took.length > 5000) took.splice(0, took.length - 5000);
  // after the browser painted this frame: first render and update latency figures
  requestAnimationFrame(() => setTimeout(() => {
    const now = Date.now();
    if (p.snapshot && model.stats.firstRenderMs === null) {
      model.stats.firstRenderMs = performance.now();
      document.body.dataset.rendered = "1";
    }
    const lat = model.stats.latencies;
    for (const t of stamps) lat.push(now - t);
    if (lat.length > 5000) lat.splice(0, lat.length - 5000);
  }, 0));
}

model.on(schedule);

function setLive(state) {
  const node = $("#live");
  node.textContent = state === "live" ? "live" : state;
  node.className = `live ${state}`;
}

function route() {
  const hash = location.hash || "#/";
  const view = hash.startsWith("#/host/") ? "host" : hash.startsWith("#/logs") ? "logs"
    : hash.startsWith("#/health") ? "health" : "overview";
  for (const v of ["overview", "host", "logs", "health"]) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll("nav.sections a")) {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = "rackwatch console";
  if (view === "host") host.show(hash);
  else host.destroyCharts();
  if (view === "logs") logs.load();
  if (view === "health") health.renderPanel();
  if (view === "overview") {
    alerts.render();
    incidents.render();
  }
  fleet.hideTip();
}

$("#zoom").addEventListener("click", (e) => {
  const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
  e.currentTarget.setAttribute("aria-pressed", String(on));
  fleet.setZoom(on);
});

window.addEventListener("hashchange", route);
setInterval(() => {
  if (!$("#view-overview").hidden) {
    alerts.tick();
    incidents.render();
  }
}, 1000);

fleet.render();
health.renderStrip();
route();
connect(model, setLive);

// for tests and the benchmark: the page's own figures
window.rackwatchConsole = { model, stats: model.stats };
