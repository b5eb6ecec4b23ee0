// The page's copy of the live picture, kept by the server's events (/api/events):
// a snapshot on connect, then batches of changes; views subscribe to what changed.

import { worst } from "./util.js";

export class Model {
  constructor() {
    this.hosts = new Map(); // host -> {host, labels, group, group_by, gpus}
    this.alerts = new Map(); // fingerprint -> alert view
    this.incidents = new Map(); // incident_id -> incident view
    this.byHost = new Map(); // host -> Set of firing fingerprints
    this.resolvedAt = new Map(); // fingerprint or incident id -> when this page saw it resolve
    this.health = null;
    this.status = {};
    this.seq = -1;
    this.connected = false;
    this.listeners = new Set();
    // figures the benchmark and tests read
    this.stats = { snapshotMs: null, firstRenderMs: null, changes: 0, latencies: [], drawMs: [] };
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(what) {
    for (const fn of this.listeners) fn(what);
  }

  groupOf(host) {
    const h = this.hosts.get(host);
    return h ? h.group : "no rack";
  }

  /** The worst severity among a host's firing alerts (null: none). */
  worstOf(host) {
    const fps = this.byHost.get(host);
    if (!fps || fps.size === 0) return null;
    return worst([...fps].map((fp) => this.alerts.get(fp)?.severity));
  }

  /** Firing alerts of a host, most severe first. */
  activeOf(host) {
    const fps = this.byHost.get(host);
    if (!fps) return [];
    const rank = { critical: 0, warning: 1, info: 2 };
    return [...fps].map((fp) => this.alerts.get(fp)).filter(Boolean)
      .sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3));
  }

  /** GPU id -> worst severity of that GPU's firing alerts. */
  gpuWorst(host) {
    const out = {};
    for (const a of this.activeOf(host)) {
      const g = a.labels && a.labels.gpu;
      if (g !== undefined) out[g] = worst([out[g], a.severity]);
    }
    return out;
  }

  _index(alert, old) {
    if (old && old.host) this.byHost.get(old.host)?.delete(old.fingerprint);
    if (alert && alert.host && alert.status === "firing") {
      if (!this.byHost.has(alert.host)) this.byHost.set(alert.host, new Set());
      this.byHost.get(alert.host).add(alert.fingerprint);
    }
  }

  _putAlert(a, now, touched) {
    const old = this.alerts.get(a.fingerprint);
    this._index(a, old);
    this.alerts.set(a.fingerprint, a);
    if (a.status === "resolved") {
      if (!this.resolvedAt.has(a.fingerprint)) this.resolvedAt.set(a.fingerprint, now);
    } else this.resolvedAt.delete(a.fingerprint);
    if (a.host) touched.add(a.host);
    if (old && old.host && old.host !== a.host) touched.add(old.host);
  }

  _putIncident(i, now) {
    this.incidents.set(i.incident_id, i);
    if (i.status === "resolved") {
      if (!this.resolvedAt.has(i.incident_id)) this.resolvedAt.set(i.incident_id, now);
    } else this.resolvedAt.delete(i.incident_id);
  }

  snapshot(doc) {
    const now = Date.now();
    this.hosts = new Map(doc.hosts.map((h) => [h.host, h]));
    this.alerts = new Map();
    this.incidents = new Map();
    this.byHost = new Map();
    this.resolvedAt = new Map();
    const touched = new Set();
    for (const a of doc.alerts) this._putAlert(a, now, touched);
    for (const i of doc.incidents) this._putIncident(i, now);
    if (doc.health) this.health = doc.health;
    this.status = doc.status || {};
    this.seq = doc.seq;
    this.stats.snapshotMs = performance.now();
    this.emit({ snapshot: true, hosts: null, alerts: true, incidents: true, health: !!doc.health });
  }

  changes(doc) {
    const now = Date.now();
    const touched = new Set();
    let newHosts = false;
    for (const h of doc.hosts) {
      const old = this.hosts.get(h.host);
      if (!old || old.group !== h.group) newHosts = true;
      this.hosts.set(h.host, h);
      touched.add(h.host);
    }
    for (const a of doc.alerts) this._putAlert(a, now, touched);
    for (const i of doc.incidents) this._putIncident(i, now);
    for (const fp of doc.removed_alerts) {
      const old = this.alerts.get(fp);
      this._index(null, old);
      this.alerts.delete(fp);
      this.resolvedAt.delete(fp);
      if (old && old.host) touched.add(old.host);
    }
    for (const id of doc.removed_incidents) {
      this.incidents.delete(id);
      this.resolvedAt.delete(id);
    }
    this.seq = doc.seq;
    this.stats.changes += 1;
    this.emit({
      snapshot: false, hosts: touched, regroup: newHosts,
      alerts: doc.alerts.length > 0 || doc.removed_alerts.length > 0,
      incidents: doc.incidents.length > 0 || doc.removed_incidents.length > 0,
      newAlerts: doc.alerts,
    });
  }

  setHealth(doc) {
    this.health = doc;
    this.emit({ health: true });
  }
}

/** Follow /api/events; reconnects on its own (EventSource retries, the server says 2 s). */
export function connect(model, onState) {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => {
    model.connected = true;
    onState("live");
  });
  source.addEventListener("error", () => {
    model.connected = false;
    onState(source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting");
  });
  source.addEventListener("snapshot", (e) => model.snapshot(JSON.parse(e.data)));
  source.addEventListener("changes", (e) => model.changes(JSON.parse(e.data)));
  source.addEventListener("health", (e) => model.setHealth(JSON.parse(e.data)));
  return source;
}
