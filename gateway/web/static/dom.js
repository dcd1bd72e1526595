// Building the page from data without ever parsing server text as HTML: strings become text nodes.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name in element && !(element instanceof SVGElement) && name !== "list") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h("p", {class: "x"}, "text", otherNode) — an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s("rect", {x: 0, ...}) — an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function formatScore(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

export function formatTime(iso) {
  // The viewer's local time, with a 4-digit year and the zone it is in (e.g. "03/12/2026, 14:05:09 GMT+1").
  if (!iso) return "–";
  const when = new Date(iso);
  return when.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", timeZoneName: "short" });
}

// Decimals a score of each metric is shown with: PSNR (dB) to the thousandth, so close teams stay apart on the
// board; fractions (accuracy, F1, AUC) to the ten-thousandth.
const METRIC_DIGITS = { psnr: 3, accuracy: 4, top: 4, macro_f1: 4, roc_auc: 4, latency: 2, throughput: 1 };
const METRIC_WORDS = { psnr: "PSNR", accuracy: "Accuracy", macro_f1: "Macro F1", roc_auc: "ROC-AUC",
  files_evaluated: "Files evaluated" };

function metricFamily(name) {
  const base = String(name || "").replace(/_(public|private)$/, "");
  return Object.keys(METRIC_DIGITS).find((family) => base === family || base.startsWith(family)) || "";
}

/** A metric's value as people read it: counts as integers, scores with the metric's own precision. */
export function formatMetric(name, value) {
  if (value === null || value === undefined) return "–";
  const family = metricFamily(name);
  if (!family && Number.isInteger(Number(value))) return String(Number(value));
  return Number(value).toFixed(METRIC_DIGITS[family] ?? 4);
}

/** A metric's name in words: "psnr_public" → "PSNR (public)", "top5_public" → "Top-5 (public)". */
export function metricLabel(name) {
  const [, base, split] = String(name).match(/^(.*?)(?:_(public|private))?$/);
  const top = base.match(/^top(\d+)$/);
  const words = METRIC_WORDS[base] || (top ? `Top-${top[1]}` : base.replace(/_/g, " ").replace(/^./, (c) =>
    c.toUpperCase()));
  return split ? `${words} (${split})` : words;
}

/** A table's caption, read by screen readers and kept off the screen. */
export function caption(text) {
  return h("caption", { class: "visually-hidden" }, text);
}

/** Wraps a wide table so that it scrolls inside its box, never the page. */
export function scrolling(table) {
  return h("div", { class: "table-scroll" }, table);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/** A submission's status in the words people read (the keys in the order a submission goes through them). */
export const STATUS_WORDS = {
  awaiting_upload: "uploading", received: "queued", scoring: "scoring", scored: "scored", failed: "failed",
  rejected: "rejected", expired: "expired", cancelled: "cancelled",
};

export function statusWord(status) {
  return STATUS_WORDS[status] || String(status).replaceAll("_", " ");
}

/** Each view names itself in the browser's tab and history. */
export function setTitle(text) {
  document.title = text ? `${text} · Podium` : "Podium";
}

/** An instant in UTC, to the minute (seconds when there are any): "2026-12-03 13:05 UTC". */
export function formatUtc(iso) {
  if (!iso) return "–";
  const text = new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
  return `${text.endsWith(":00") ? text.slice(0, -3) : text} UTC`;
}

/** The viewer's local time with UTC beside: "03/12/2026, 14:05:00 GMT+1 (2026-12-03 13:05 UTC)". */
export function formatTimeAndUtc(iso) {
  return iso ? `${formatTime(iso)} (${formatUtc(iso)})` : "–";
}

/** A length of time in words, to the second under an hour: "2 d 3 h", "3 h 12 min", "4 min 10 s". */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [days, hours, minutes] = [Math.floor(seconds / 86400), Math.floor(seconds / 3600) % 24,
    Math.floor(seconds / 60) % 60];
  if (days) return hours ? `${days} d ${hours} h` : `${days} d`;
  if (hours) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

// What of the gateway's rendered Markdown (`description_html`: no raw HTML passes it) is rebuilt on the page, and
// the one attribute kept: a link's address, when it is http(s) or mail. Anything else becomes its text.
const MARKDOWN_TAGS = new Set(["P", "EM", "STRONG", "CODE", "PRE", "UL", "OL", "LI", "A", "H1", "H2", "H3", "H4", "H5",
  "H6", "BLOCKQUOTE", "BR", "HR", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "DEL", "S"]);

/**
 * Nodes for HTML the gateway rendered from a host's Markdown: parsed inertly (DOMParser runs nothing) and rebuilt
 * element by element from a short list with no attribute but a safe link's href, so even a renderer's slip could
 * never run a script or load anything.
 */
export function markdownNodes(html) {
  const parsed = new DOMParser().parseFromString(html || "", "text/html").body;
  const rebuild = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    const children = [...node.childNodes].map(rebuild);
    if (!MARKDOWN_TAGS.has(node.tagName)) return children;
    const href = node.tagName === "A" ? node.getAttribute("href") || "" : "";
    const safe = /^(https?:|mailto:)/i.test(href);
    return h(node.tagName.toLowerCase(), safe ? { href, rel: "noopener noreferrer" } : {}, children);
  };
  return [...parsed.childNodes].map(rebuild);
}
