// mcpbuild view runtime, inlined into each ui:// shell as one module script.
// It is the app side of the MCP Apps protocol (JSON-RPC 2.0 over postMessage
// to window.parent) and renders the declarative payload a tool result carries
// in _meta["mcpbuild/view"]. API data reaches the DOM only through
// createElement / textContent / setAttribute (never as markup), except the
// server-rendered template, which is parsed inert and sanitized first.

const PROTOCOL_VERSION = "2026-01-26";
const REQUEST_TIMEOUT_MS = 30_000;
const html = document.documentElement;
const host = window.parent;
const root = document.getElementById("view") || document.body.appendChild(document.createElement("main"));
root.setAttribute("data-testid", "view");
const config = readConfig();

let nextId = 1;
const pending = new Map(); // request id -> {resolve, reject, timer}
let hostTheme = null; // "dark" | "light" once the host says so
let locale; // BCP 47 tag from hostContext, validated
let timeZone; // IANA zone from hostContext, validated
let intl = null; // cached Intl formatters (reset when locale/timeZone change)
let toolInput = null; // arguments of the tool call that opened this view
let current = null; // the CallToolResult on screen
const history = []; // earlier results, for "Back"
let busy = false;
let generation = 0; // bumped by each host tool-result, so a late call answer cannot overwrite it
let statusEl = null; // the status line of the current render

// ---------- JSON-RPC over postMessage ----------

function post(message) {
  // The sandboxed iframe has an opaque origin and cannot know the host's, so
  // "*" is the only usable target (the official SDK does the same).
  host.postMessage(message, "*");
}

function request(method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`The host did not answer ${method} within ${REQUEST_TIMEOUT_MS / 1000} s.`));
    }, REQUEST_TIMEOUT_MS);
    pending.set(id, { resolve, reject, timer });
    post({ jsonrpc: "2.0", id, method, params });
  });
}

function notify(method, params) {
  post(params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params });
}

function onMessage(event) {
  if (event.source !== host) return; // only the host frame may talk to us
  const msg = event.data;
  if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
  const hasId = typeof msg.id === "number" || typeof msg.id === "string";
  if (typeof msg.method === "string") {
    if (hasId) onRequest(msg.id, msg.method, msg.params);
    else if (!("id" in msg)) onNotification(msg.method, msg.params);
    return;
  }
  const entry = hasId ? pending.get(msg.id) : undefined;
  if (!entry) return;
  pending.delete(msg.id);
  clearTimeout(entry.timer);
  if (msg.error) {
    const text = typeof msg.error.message === "string" && msg.error.message ? msg.error.message : "Request failed.";
    entry.reject(Object.assign(new Error(text), { code: msg.error.code }));
  } else {
    entry.resolve(msg.result);
  }
}

function onRequest(id, method) {
  if (method === "ping") return post({ jsonrpc: "2.0", id, result: {} });
  if (method === "ui/resource-teardown") {
    teardown();
    return post({ jsonrpc: "2.0", id, result: {} });
  }
  post({ jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${method}` } });
}

function onNotification(method, params) {
  switch (method) {
    case "ui/notifications/tool-input":
      toolInput = isObject(params) && isObject(params.arguments) ? params.arguments : null;
      break;
    case "ui/notifications/tool-result":
      if (isObject(params)) {
        generation++;
        history.length = 0; // a fresh result from the host starts a new trail
        render(params);
      }
      break;
    case "ui/notifications/tool-cancelled":
      if (!current) {
        const reason = isObject(params) && typeof params.reason === "string" ? `: ${params.reason}` : ".";
        showStatus(`The tool call was cancelled${reason}`, "error");
      }
      break;
    case "ui/notifications/host-context-changed":
      applyHostContext(params); // a partial update: only the changed fields
      break;
    default: // tool-input-partial and anything newer: nothing to do
  }
}

// ---------- host context: theme, style variables, locale ----------

const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

function applyTheme() {
  const theme = hostTheme || (darkQuery.matches ? "dark" : "light");
  html.dataset.theme = theme;
  html.style.colorScheme = theme;
}

function applyHostContext(ctx) {
  if (!isObject(ctx)) return;
  if (ctx.theme === "dark" || ctx.theme === "light") {
    hostTheme = ctx.theme;
    applyTheme();
  }
  const vars = isObject(ctx.styles) ? ctx.styles.variables : null;
  if (isObject(vars)) {
    for (const [key, value] of Object.entries(vars)) {
      if (!key.startsWith("--")) continue;
      if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) {
        html.style.setProperty(key, String(value));
      }
    }
  }
  // Invalid locale tags or zones would make every formatter throw: keep the browser's.
  const valid = (check) => { try { check(); return true; } catch { return false; } };
  let changed = false;
  if (typeof ctx.locale === "string" && ctx.locale !== locale && valid(() => Intl.getCanonicalLocales(ctx.locale))) {
    locale = ctx.locale;
    changed = true;
  }
  if (typeof ctx.timeZone === "string" && ctx.timeZone !== timeZone
      && valid(() => new Intl.DateTimeFormat(undefined, { timeZone: ctx.timeZone }))) {
    timeZone = ctx.timeZone;
    changed = true;
  }
  if (changed) {
    intl = null;
    if (current && !busy) render(current);
  }
}

// ---------- size reporting ----------

let resizeObserver = null;
let sizeQueued = false;
let lastWidth = 0;
let lastHeight = 0;

function queueSize() {
  if (!resizeObserver || sizeQueued) return;
  sizeQueued = true;
  requestAnimationFrame(() => {
    sizeQueued = false;
    // Measure the content, not the iframe: with height forced to
    // max-content the root reports what it needs even when the host has
    // made the frame taller or shorter (same trick as the official SDK).
    const saved = html.style.height;
    html.style.height = "max-content";
    const height = Math.ceil(html.getBoundingClientRect().height);
    html.style.height = saved;
    const width = Math.ceil(window.innerWidth);
    if (width === lastWidth && height === lastHeight) return;
    lastWidth = width;
    lastHeight = height;
    notify("ui/notifications/size-changed", { width, height });
  });
}

function teardown() {
  if (resizeObserver) resizeObserver.disconnect();
  resizeObserver = null;
  for (const entry of pending.values()) clearTimeout(entry.timer);
  pending.clear();
}

// ---------- small helpers ----------

function isObject(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

function isToolSpec(x) {
  return isObject(x) && typeof x.tool === "string" && x.tool !== "" && (x.arguments == null || isObject(x.arguments));
}

// el("td", {class: "num"}, child, "text") — strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value != null && value !== false) node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function toText(value) {
  if (value == null) return "";
  if (typeof value === "object") return JSON.stringify(value); // data came through JSON: no cycles
  return String(value);
}

const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const IMAGE_PROTOCOLS = new Set(["http:", "https:"]);

// The one gate every URL passes. new URL() applies the browser's own parsing
// (trims spaces/control chars, drops tabs and newlines, lower-cases the
// scheme), so "JaVaScRiPt:", " javascript:" and "java\tscript:" all come out
// as javascript: and are refused; entity tricks ("&#106;...") have no scheme
// at all and fail to parse without a base. Returns the normalized URL or null.
function safeUrl(value, protocols = LINK_PROTOCOLS) {
  if (typeof value !== "string") return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return protocols.has(url.protocol) ? url.href : null;
}

function contentText(result) {
  const content = isObject(result) && Array.isArray(result.content) ? result.content : [];
  return content
    .filter((c) => isObject(c) && c.type === "text" && typeof c.text === "string")
    .map((c) => c.text)
    .join("\n");
}

// ---------- value formats ----------

function formatters() {
  if (!intl) {
    intl = {
      number: new Intl.NumberFormat(locale, { maximumFractionDigits: 6 }),
      dateTime: new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }),
      // A bare date ("2024-05-01") parses as UTC midnight; show it in UTC so
      // it does not slip to the previous day west of Greenwich.
      date: new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }),
    };
  }
  return intl;
}

function parseDate(value) {
  if (typeof value === "number" && Number.isFinite(value)) {
    // Epoch seconds vs milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
    const date = new Date(Math.abs(value) < 1e11 ? value * 1000 : value);
    return Number.isNaN(date.getTime()) ? null : { date, hasTime: true };
  }
  if (typeof value === "string") {
    const text = value.trim();
    // Insist on an ISO-looking start: Date.parse alone accepts "1" or "May".
    if (!/^\d{4}-\d{2}-\d{2}(?:$|[T ]\d{2}:\d{2})/.test(text)) return null;
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? null : { date, hasTime: text.length > 10 };
  }
  return null;
}

function dateNode(value) {
  const parsed = parseDate(value);
  if (!parsed) return document.createTextNode(toText(value));
  const f = formatters();
  const text = (parsed.hasTime ? f.dateTime : f.date).format(parsed.date);
  return el("time", { datetime: parsed.date.toISOString(), title: toText(value) }, text);
}

function numberNode(value) {
  let n = value;
  // Numeric strings are formatted too, unless Number() would lose digits.
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    n = Number(value);
    if (Number.isInteger(n) && !Number.isSafeInteger(n)) n = value;
  }
  return document.createTextNode(typeof n === "number" && Number.isFinite(n) ? formatters().number.format(n) : toText(value));
}

// A stable colour per badge text (so "open" is always the same colour).
function badgeNode(value) {
  const text = toText(value);
  if (text === "") return document.createTextNode("");
  let hash = 0;
  for (const ch of text.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return el("span", { class: `badge badge-${hash % 8}` }, text);
}

function linkNode(url, content) {
  return el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, content);
}

function formatValue(value, format, href) {
  if (format === "link") {
    // The value is the URL unless an explicit href is given.
    const url = href != null ? safeUrl(href) : safeUrl(value);
    const label = toText(value);
    return url ? linkNode(url, label || url) : document.createTextNode(label);
  }
  let node;
  if (format === "number") node = numberNode(value);
  else if (format === "date") node = dateNode(value);
  else if (format === "badge") node = badgeNode(value);
  else node = document.createTextNode(toText(value));
  const url = safeUrl(href);
  return url ? linkNode(url, node) : node;
}

// ---------- buttons, status, tool calls ----------

function actionButton(label, onClick, testid, ariaLabel) {
  const button = el("button", { type: "button", class: "act", "data-testid": testid, "aria-label": ariaLabel }, label);
  button.disabled = busy;
  button.addEventListener("click", onClick);
  return button;
}

function openButton(spec, label) {
  return actionButton("Open", () => callTool(spec), "view-open", label ? `Open ${label}` : null);
}

function showStatus(text, kind) {
  if (!statusEl) return;
  statusEl.replaceChildren();
  if (!text) return;
  const error = kind === "error";
  statusEl.append(el("p", { class: kind || "muted", "data-testid": error ? "view-error" : null, role: error ? "alert" : null }, text));
}

function setBusy(on) {
  busy = on;
  html.dataset.state = on ? "loading" : "ready";
  for (const button of root.querySelectorAll("button.act")) button.disabled = on;
}

async function callTool(spec) {
  if (busy || !isToolSpec(spec)) return;
  const gen = generation;
  setBusy(true);
  showStatus("Loading…", "loading");
  try {
    const result = await request("tools/call", { name: spec.tool, arguments: spec.arguments || {} });
    if (gen !== generation) return; // the host has shown something newer meanwhile
    if (!isObject(result)) throw new Error("The host returned no tool result.");
    if (result.isError) throw new Error(contentText(result) || "The tool call failed.");
    if (current) history.push(current);
    busy = false; // so the new buttons are born enabled
    render(result);
  } catch (err) {
    // Keep the current view; just say what went wrong above it.
    if (gen !== generation) return;
    const noTools = err && err.code === -32601; // host without serverTools
    showStatus(noTools ? "This host does not let the view call tools." : err instanceof Error ? err.message : String(err), "error");
  } finally {
    setBusy(false);
  }
}

function goBack() {
  if (busy || !history.length) return;
  render(history.pop());
}

async function openLink(url) {
  try {
    const result = await request("ui/open-link", { url });
    if (isObject(result) && result.isError) showStatus("The host did not open the link.", "error");
  } catch (err) {
    showStatus(`Could not open the link: ${err instanceof Error ? err.message : err}`, "error");
  }
}

// One listener for every link, template links included: the sandbox has no
// allow-popups and must not navigate itself, so opening is the host's job.
root.addEventListener("click", (event) => {
  const anchor = event.target instanceof Element ? event.target.closest("a, area") : null;
  if (!anchor || !root.contains(anchor)) return;
  const raw = anchor.getAttribute("href") ?? anchor.getAttributeNS("http://www.w3.org/1999/xlink", "href");
  if (raw == null) return;
  event.preventDefault();
  const url = safeUrl(raw);
  if (url) openLink(url);
});

// ---------- renderers ----------

function renderTable(p) {
  const columns = Array.isArray(p.columns) ? p.columns.map((c) => (isObject(c) ? c : {})) : [];
  const rows = Array.isArray(p.rows) ? p.rows.filter(isObject) : [];
  const hasOpen = rows.some((r) => isToolSpec(r.open));
  const numClass = (c) => (c.format === "number" ? "num" : null);

  const head = el("tr");
  for (const c of columns) head.append(el("th", { scope: "col", class: numClass(c) }, toText(c.label)));
  if (hasOpen) head.append(el("th", { scope: "col", class: "act-col" }, el("span", { class: "sr-only" }, "Actions")));

  const body = el("tbody");
  for (const row of rows) {
    const cells = Array.isArray(row.cells) ? row.cells : [];
    const tr = el("tr", { "data-testid": "view-row" });
    columns.forEach((c, i) => {
      const cell = isObject(cells[i]) ? cells[i] : {};
      tr.append(el("td", { "data-testid": "view-cell", class: numClass(c) }, formatValue(cell.value, c.format, cell.href)));
    });
    if (hasOpen) {
      const label = isObject(cells[0]) ? toText(cells[0].value) : "";
      tr.append(el("td", { class: "act-col" }, isToolSpec(row.open) ? openButton(row.open, label) : null));
    }
    body.append(tr);
  }

  // tabindex: a scrollable region must be reachable from the keyboard.
  const wrap = el("div", { class: "table-wrap", tabindex: "0" }, el("table", { "data-testid": "view-table" }, el("thead", null, head), body));
  if (rows.length) return wrap;
  const box = document.createDocumentFragment();
  box.append(wrap, el("p", { class: "muted" }, "No rows."));
  return box;
}

function renderList(p) {
  const items = Array.isArray(p.items) ? p.items : [];
  const ul = el("ul", { class: "list", "data-testid": "view-list" });
  for (const raw of items) {
    const item = isObject(raw) ? raw : { title: raw };
    const title = toText(item.title);
    const url = safeUrl(item.href);
    const main = el("div", { class: "item-main" }, el("span", { class: "item-title" }, url ? linkNode(url, title) : title));
    if (item.badge != null && item.badge !== "") main.append(" ", badgeNode(item.badge));
    if (item.subtitle != null && item.subtitle !== "") main.append(el("div", { class: "item-sub" }, toText(item.subtitle)));
    const li = el("li", { "data-testid": "view-item" }, main);
    if (isToolSpec(item.open)) li.append(openButton(item.open, title));
    ul.append(li);
  }
  if (!items.length) ul.append(el("li", { class: "muted" }, "No items."));
  return ul;
}

function renderDetail(p) {
  const section = el("section", { class: "detail", "data-testid": "view-detail" });
  if (p.heading != null && p.heading !== "") section.append(el("h2", null, toText(p.heading)));
  const dl = el("dl");
  for (const f of Array.isArray(p.fields) ? p.fields.filter(isObject) : []) {
    const dd = el("dd", { class: f.format === "number" ? "num" : null }, formatValue(f.value, f.format, f.href));
    dl.append(el("div", { class: "field" }, el("dt", null, toText(f.label)), dd));
  }
  section.append(dl);
  return section;
}

function renderImage(p, result) {
  let src = null;
  if (p.src == null) {
    // The image travels as an ImageContent block of the result itself; this
    // is the only place a data: URL is allowed, and it is built here.
    const content = Array.isArray(result.content) ? result.content : [];
    const image = content.find((c) => isObject(c) && c.type === "image");
    if (image && typeof image.data === "string" && typeof image.mimeType === "string"
        && /^image\/[a-z0-9.+-]+$/i.test(image.mimeType) && /^[A-Za-z0-9+/=\s]+$/.test(image.data)) {
      src = `data:${image.mimeType};base64,${image.data.replace(/\s+/g, "")}`;
    }
  } else {
    src = safeUrl(p.src, IMAGE_PROTOCOLS);
  }
  const figure = el("figure", { class: "image", "data-testid": "view-image" });
  figure.append(src ? el("img", { src, alt: toText(p.alt) }) : el("p", { class: "muted" }, "No image."));
  if (p.caption != null && p.caption !== "") figure.append(el("figcaption", null, toText(p.caption)));
  return figure;
}

const DROP_ELEMENTS = new Set([
  "script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal", "link", "meta", "base",
  "form", "style", "template", "foreignobject",
  // SVG animation can rewrite an href to javascript: after sanitizing.
  "animate", "animatemotion", "animatetransform", "set", "discard",
]);
const URL_ATTRS = new Set(["href", "xlink:href", "src", "action", "formaction", "poster", "background", "cite", "longdesc"]);
// srcset/ping smuggle URL lists; data-testid is ours (keeps the test hooks honest).
const DROP_ATTRS = new Set(["srcdoc", "srcset", "imagesrcset", "ping", "data-testid"]);

function sanitize(fragment) {
  const doomed = [];
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_ELEMENT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (DROP_ELEMENTS.has(node.localName.toLowerCase())) {
      doomed.push(node);
      continue;
    }
    for (const attr of [...node.attributes]) {
      const name = attr.name.toLowerCase();
      const isUrl = URL_ATTRS.has(name) || name.endsWith(":href"); // xlink:href and any other prefix
      if (name.startsWith("on") || DROP_ATTRS.has(name) || (isUrl && !safeUrl(attr.value))) {
        node.removeAttributeNode(attr);
      }
    }
    if ((node.localName === "a" || node.localName === "area") && node.hasAttribute("href")) {
      node.setAttribute("rel", "noopener noreferrer");
      node.setAttribute("target", "_blank");
    }
  }
  for (const node of doomed) node.remove();
  return fragment;
}

function renderTemplate(p) {
  const box = el("div", { class: "template", "data-testid": "view-template" });
  if (typeof p.html !== "string") return box;
  // A <template> that is never attached parses into an inert document: no
  // script runs and nothing loads until the sanitized nodes are moved in.
  const template = document.createElement("template");
  template.innerHTML = p.html;
  box.append(sanitize(template.content));
  return box;
}

function renderText(result) {
  const isError = Boolean(result.isError);
  let text = contentText(result);
  if (!text && result.structuredContent !== undefined) text = JSON.stringify(result.structuredContent, null, 2);
  return el("pre", {
    class: isError ? "text error" : "text",
    "data-testid": isError ? "view-error" : "view-text",
    role: isError ? "alert" : null,
  }, text || (isError ? "The tool call failed." : "(no content)"));
}

const RENDERERS = { table: renderTable, list: renderList, detail: renderDetail, image: renderImage, template: renderTemplate };

function viewPayload(result) {
  if (result.isError || !isObject(result._meta)) return null;
  const payload = result._meta["mcpbuild/view"];
  return isObject(payload) && Object.hasOwn(RENDERERS, payload.type) ? payload : null;
}

function render(result) {
  current = result;
  const payload = viewPayload(result);
  const nodes = [];
  if (history.length) nodes.push(el("div", { class: "toolbar" }, actionButton("← Back", goBack, "view-back")));
  const title = payload && payload.title != null ? payload.title : config.title;
  if (title != null && title !== "") nodes.push(el("h1", { "data-testid": "view-title" }, toText(title)));
  statusEl = el("div", { class: "status", "aria-live": "polite" });
  nodes.push(statusEl);
  if (payload) {
    try {
      nodes.push(RENDERERS[payload.type](payload, result));
    } catch (err) {
      // A malformed payload must not leave a blank frame: show the text.
      nodes.push(el("p", { class: "error", "data-testid": "view-error" }, `Could not render this view: ${err && err.message}`));
      nodes.push(renderText(result));
    }
    const notes = Array.isArray(payload.notes) ? payload.notes.filter((n) => n != null && n !== "") : [];
    if (notes.length) nodes.push(el("div", { class: "notes", "data-testid": "view-notes" }, ...notes.map((n) => el("p", null, toText(n)))));
    if (isToolSpec(payload.next)) {
      const next = payload.next;
      nodes.push(el("div", { class: "actions" }, actionButton("Next page", () => callTool(next), "view-next")));
    }
  } else {
    nodes.push(renderText(result));
  }
  root.replaceChildren(...nodes);
  html.dataset.state = busy ? "loading" : "ready";
  queueSize();
}

// ---------- start ----------

function readConfig() {
  try {
    const data = JSON.parse(document.getElementById("mcpbuild-view")?.textContent || "{}");
    return isObject(data) ? data : {};
  } catch {
    return {};
  }
}

async function start() {
  applyTheme();
  darkQuery.addEventListener("change", applyTheme);
  html.dataset.state = "waiting";
  statusEl = el("div", { class: "status", "aria-live": "polite" });
  const title = config.title ? el("h1", { "data-testid": "view-title" }, toText(config.title)) : null;
  root.replaceChildren(...[title, statusEl].filter(Boolean));
  if (host === window) {
    showStatus("This view needs an MCP Apps host to show it.", "error");
    return;
  }
  showStatus("Waiting for the tool result…", "muted");
  window.addEventListener("message", onMessage);
  try {
    const result = await request("ui/initialize", {
      protocolVersion: PROTOCOL_VERSION,
      appInfo: { name: "mcpbuild-view", version: "1" },
      appCapabilities: {},
    });
    if (isObject(result)) applyHostContext(result.hostContext);
    notify("ui/notifications/initialized");
  } catch (err) {
    if (!current) showStatus(`Could not connect to the host: ${err instanceof Error ? err.message : err}`, "error");
    return;
  }
  resizeObserver = new ResizeObserver(queueSize);
  resizeObserver.observe(html);
  resizeObserver.observe(document.body);
  queueSize();
}

start();
