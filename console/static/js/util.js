// Small helpers shared by the views: element building, formatting, fetching.

export const SEVERITIES = ["critical", "warning", "info"];
export const RANK = { critical: 3, warning: 2, info: 1 };

/** Create an element: el("td", {class: "x", text: "y"}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function worst(severities) {
  let best = null;
  for (const s of severities) if ((RANK[s] || 0) > (RANK[best] || 0)) best = s;
  return best;
}

/** "3s", "4m 10s", "2h 5m", "3d 4h" from milliseconds. */
export function age(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A number as people read it: 0.8123 -> "0.812", 52428800 -> "52.4M". */
export function num(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e12) return (v / 1e12).toFixed(1) + "T";
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, "");
  if (a === 0) return "0";
  return v.toPrecision(3);
}

export function rate(v) {
  return v === null || v === undefined ? "–" : `${num(v)}/s`;
}

export function clock(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET a JSON API; rejects with the API's own error message. */
export async function getJSON(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const url = q.toString() ? `${path}?${q}` : path;
  const resp = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) throw new HttpError(resp.status, (body && body.error) || `HTTP ${resp.status}`);
  return body;
}

/** Replace the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

export function severityBadge(sev) {
  return el("span", { class: `badge sev-${sev || "none"}`, text: sev || "ok" });
}

export function hostLink(host) {
  if (!host) return el("span", { text: "–" });
  return el("a", { href: `#/host/${encodeURIComponent(host)}`, text: host });
}

export function message(text, cls = "note") {
  return el("p", { class: cls, text });
}
