// The ipyws live panel: one ES module for anywidget, no build step.
//
// Safety: everything that comes from a socket (messages, close reasons, URLs, handshake
// headers) enters the DOM as text: textContent, Text nodes and attribute values. This module
// never assigns HTML, so a message such as <img src=x onerror=...> is shown, never run.
//
// Traffic: at most 20 updates a second, each with the header values that changed and the
// newest few rows (`new_rows`, no data); the log's other rows stay in the kernel's transcript
// until a view shows them (see buildLog). The model keeps the newest rows it got in `rows`,
// so a saved notebook shows them.

const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
const LOG = 0; // the order of a view's parts in each animation frame: see render()
const HEADER = 1;
const GLYPH = { sent: "↑", received: "↓", event: "•" };
const SVG = "http://www.w3.org/2000/svg";

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Only our own vocabulary goes into class names; anything else is dropped.
function token(value) {
  return String(value).replace(/[^a-z0-9-]/gi, "");
}

// The rules below for what changes in the browser are ipyws/_format.py's (format_size,
// format_time, format_age), one copy each; everything else arrives formatted by the kernel.
function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  let value = n;
  for (const unit of ["KiB", "MiB"]) {
    value /= 1024;
    if (value < 1024) return `${value.toFixed(1)} ${unit}`;
  }
  return `${(value / 1024).toFixed(1)} GiB`;
}

const COUNT_FORMAT = new Intl.NumberFormat("en-US"); // one formatter: toLocaleString makes one per call

// Writing the same text again still dirties the page's layout: skip it.
function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

function formatCount(n) {
  return COUNT_FORMAT.format(Number(n || 0));
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

function formatTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function formatDuration(seconds) {
  if (seconds < 0 || !Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(seconds % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

function base64Bytes(b64) {
  const binary = atob(b64 || "");
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const chunk = bytes.subarray(offset, offset + 16);
    const hex = Array.from(chunk, (b) => pad(b.toString(16))).join(" ");
    const ascii = Array.from(chunk, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n") || "(empty)";
}

function prettyJson(text) {
  const trimmed = (text || "").trim();
  if (!trimmed || !"{[".includes(trimmed[0])) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

// -- model: the newest rows, kept for a saved notebook ------------------------------------

const SAVED_ROWS = 100; // rows the model keeps in `rows`, as the kernel's full state does

function initialize({ model }) {
  const merge = () => {
    const batch = model.get("new_rows") || [];
    if (!batch.length) return;
    const rows = model.get("rows") || [];
    const last = rows.length ? rows[rows.length - 1].id : -1;
    const cleared = model.get("cleared_through");
    const fresh = batch.filter((r) => r.id > last && r.id > cleared);
    if (!fresh.length) return;
    model.set("rows", rows.concat(fresh).slice(-SAVED_ROWS));
  };
  const clear = () => {
    const cleared = model.get("cleared_through");
    const rows = model.get("rows") || [];
    if (rows.length && rows[0].id <= cleared) {
      model.set("rows", rows.filter((r) => r.id > cleared));
    }
  };
  model.on("change:new_rows", merge);
  model.on("change:cleared_through", clear);
  clear();
  merge();
}

// -- header ------------------------------------------------------------------------------

function buildHeader(model, root, on, every, later) {
  const header = h("div", "ipyws-header");
  const top = h("div", "ipyws-top");
  const badge = h("span", "ipyws-badge");
  const rtt = h("span", "ipyws-rtt");
  rtt.title = "Round trip of the latest answered ping (keepalive or ws.ping())";
  const behind = h("span", "ipyws-backlog");
  behind.title = "Received messages whose handlers have not run yet (ws.backlog)";
  const url = h("span", "ipyws-url");
  const conn = h("span", "ipyws-conn");
  top.append(badge, rtt, behind, url, conn);
  // A socket made with reconnect=: the attempt and a live countdown to the next try.
  const retryLine = h("div", "ipyws-retry");
  const closeLine = h("div", "ipyws-closeinfo");
  const errorLine = h("div", "ipyws-error");

  const stats = h("div", "ipyws-stats");
  const fields = {};
  for (const [key, label] of [
    ["protocol", "protocol"],
    ["extensions", "extensions"],
    ["buffered", "bufferedAmount"],
    ["in", "in"],
    ["out", "out"],
    ["rate", "rate"],
    ["age", "age"],
  ]) {
    const cell = h("span", `ipyws-stat ipyws-stat-${key}`);
    const value = h("span", "ipyws-value");
    cell.append(h("span", "ipyws-label", label), value);
    stats.append(cell);
    fields[key] = value;
  }

  const chart = h("div", "ipyws-chart");
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "ipyws-spark");
  svg.setAttribute("viewBox", "0 0 120 30");
  svg.setAttribute("preserveAspectRatio", "none");
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("class", "ipyws-spark-area");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "ipyws-spark-line");
  svg.append(area, line);
  const chartLabel = h("span", "ipyws-chart-label");
  chart.append(svg, chartLabel);
  chart.title = "Messages per second (in + out) over the last minute";

  header.append(top, retryLine, closeLine, errorLine, stats, chart);
  root.append(header);

  const update = () => {
    const state = model.get("state") || STATES[model.get("ready_state") || 0];
    setText(badge, state);
    badge.className = `ipyws-badge ipyws-state-${token(state).toLowerCase()}`;
    badge.dataset.state = state;
    root.dataset.state = state;
    setText(url, model.get("url"));
    const n = model.get("connection") || 1;
    setText(conn, n > 1 ? `connection #${n}` : "");
    const ms = model.get("rtt");
    setText(rtt, ms === null || ms === undefined ? "" : `RTT ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`);
    rtt.hidden = !rtt.textContent;
    const waiting = model.get("backlog") || 0;
    const dropped = model.get("dropped") || 0;
    const parts = [];
    if (waiting) parts.push(`handler behind by ${formatCount(waiting)}`);
    if (model.get("backlog_paused")) parts.push("paused");
    if (dropped) parts.push(`${formatCount(dropped)} dropped`);
    behind.textContent = parts.join(" · ");
    behind.hidden = !behind.textContent;
    behind.dataset.paused = model.get("backlog_paused") ? "true" : "false";
    updateRetry();
    const reconnecting = state === "RECONNECTING" || (state === "CONNECTING" && model.get("reconnect_attempt") > 0);
    if ((state === "CLOSED" || reconnecting) && model.get("close_code") !== null) {
      closeLine.textContent = (reconnecting ? "last close: " : "") + model.get("close_line");
      closeLine.hidden = false;
    } else {
      setText(closeLine, "");
      closeLine.hidden = true;
    }
    const error = model.get("error");
    setText(errorLine, error ? `error: ${error}` : "");
    errorLine.hidden = !error;
    setText(fields.protocol, model.get("protocol") || "none");
    setText(fields.extensions, model.get("extensions") || "none");
    setText(fields.buffered, formatBytes(model.get("buffered_amount") || 0));
    setText(fields.in, `${formatCount(model.get("messages_in"))} · ${formatBytes(model.get("bytes_in") || 0)}`);
    setText(fields.out, `${formatCount(model.get("messages_out"))} · ${formatBytes(model.get("bytes_out") || 0)}`);
    setText(fields.rate, `${(model.get("rate") || 0).toFixed(1)} msg/s`);
    updateAge();
  };
  const updateRetry = () => {
    const state = model.get("state");
    const attempt = model.get("reconnect_attempt") || 0;
    const at = model.get("retry_at");
    if (state === "RECONNECTING" && at !== null && at !== undefined) {
      const left = Math.max(0, (at - Date.now()) / 1000);
      setText(retryLine, `attempt ${attempt} · next try in ${left.toFixed(1)} s`);
      retryLine.hidden = false;
    } else if (state === "CONNECTING" && attempt > 0) {
      setText(retryLine, `attempt ${attempt} · connecting…`);
      retryLine.hidden = false;
    } else {
      setText(retryLine, "");
      retryLine.hidden = true;
    }
  };
  const updateAge = () => {
    const created = model.get("created_at");
    const closed = model.get("closed_at");
    const end = closed === null || closed === undefined ? Date.now() : closed;
    setText(fields.age, created ? formatDuration((end - created) / 1000) : "");
  };
  const drawChart = () => {
    const history = (model.get("rate_history") || []).slice(-60);
    const values = new Array(60 - history.length).fill(0).concat(history);
    const max = Math.max(1, ...values);
    const points = values.map((v, i) => `${(i * 120) / 59},${(30 - (v / max) * 28).toFixed(1)}`);
    line.setAttribute("points", points.join(" "));
    area.setAttribute("points", `0,30 ${points.join(" ")} 120,30`);
    setText(chartLabel, `peak ${formatCount(Math.max(0, ...history))}/s · last 60 s`);
  };
  for (const key of [
    "state", "url", "connection", "close_code", "close_reason", "close_meaning", "close_line", "was_clean",
    "error", "protocol", "extensions", "buffered_amount", "messages_in", "messages_out",
    "bytes_in", "bytes_out", "rate", "created_at", "closed_at", "rtt", "reconnect_attempt",
    "retry_at", "backlog", "backlog_paused", "dropped",
  ]) {
    on(`change:${key}`, () => later(HEADER, update));
  }
  on("change:rate_history", () => later(HEADER, drawChart));
  every(1000, () => later(HEADER, updateAge));
  every(100, () => later(HEADER, updateRetry));
  update();
  drawChart();
}

// -- message log -------------------------------------------------------------------------
//
// A virtualized list: the log may hold 100,000 rows in the kernel's transcript, the DOM holds
// the few dozen that fit the scroller (plus a margin) inside one tall spacer. Rows are known
// by id, the transcript's `seq`, so the unfiltered log is the id range [first, total). Rows
// the view has not got (skipped by an update, scrolled to, after a filter) it asks the kernel
// for with a custom message; answers name the view and the request, so views of one model
// never take each other's answers.

const ROW_HEIGHT = 20; // px, the height .ipyws-rows .ipyws-row has in panel.css
const OVERSCAN = 8; // rows drawn above and below what is visible
const FETCH_LIMIT = 200; // rows the kernel sends per fetch at most
const FILTER_PAGE = 100; // matches asked for per page of an older part
const TAIL_PAGE = 30; // matches asked for among rows that just arrived
const CACHE_LIMIT = 3000; // rows a view keeps before it forgets the far ones
const MAX_ENTRIES = 5000; // rows and gaps a filtered view keeps
const RETRY_MS = 5000; // a request unanswered this long may be sent again
const FOLLOW_MS = 100; // the least time between two moves of a list that follows the feed
const ROW_DATA_LIMIT = 8192; // characters of a message the detail view asks for first

function buildLog(model, root, on, later) {
  const log = h("div", "ipyws-log");
  const toolbar = h("div", "ipyws-toolbar");
  const filter = h("input", "ipyws-filter");
  filter.type = "search";
  filter.placeholder = "Filter (text, or a regex)";
  filter.setAttribute("aria-label", "Filter messages");
  const regexLabel = h("label", "ipyws-regex");
  const regex = h("input");
  regex.type = "checkbox";
  regexLabel.append(regex, document.createTextNode(" regex"));
  const direction = h("select", "ipyws-direction");
  direction.setAttribute("aria-label", "Direction");
  for (const [value, label] of [["all", "All"], ["sent", "Sent"], ["received", "Received"], ["event", "Events"]]) {
    const option = h("option", null, label);
    option.value = value;
    direction.append(option);
  }
  const pause = h("button", "ipyws-pause", "Pause");
  pause.type = "button";
  const clear = h("button", "ipyws-clear", "Clear");
  clear.type = "button";
  const count = h("span", "ipyws-count");
  toolbar.append(filter, regexLabel, direction, pause, clear, count);

  const head = h("div", "ipyws-row ipyws-head");
  for (const label of ["", "time", "type", "size", "data"]) head.append(h("span", null, label));
  const list = h("div", "ipyws-rows");
  list.setAttribute("role", "list");
  const sizer = h("div", "ipyws-sizer");
  const win = h("div", "ipyws-window");
  sizer.append(win);
  list.append(sizer);
  const detail = h("div", "ipyws-detail");
  detail.hidden = true;
  log.append(toolbar, head, list, detail);
  root.append(log);

  const viewId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  let requests = 0;
  const cache = new Map(); // id -> row, from updates, fetches, pages and the saved rows
  let stick = true; // follow new rows (the list is scrolled to the bottom)
  let paused = null; // while paused: {pin, first, total} (pin null until the kernel answers)
  let cleared = model.get("cleared_through");
  let goneBelow = -1; // ids below this left the transcript (an answer said so)
  let fetching = null; // {req, at}
  let query = null; // while filtering: {text, regex, dir}
  let entries = []; // while filtering: matching rows and {gap, start, stop} not yet searched
  let searching = null; // {req, at, gap}
  let tailTo = 0; // while filtering: rows up to here are in `entries` (as rows or gaps)
  let selected = null;
  let full = null; // the selected row with its data, once the kernel sent it

  const pin = () => (paused && paused.pin !== null ? paused.pin : null);
  const bounds = () => {
    if (paused) return [Math.min(Math.max(paused.first, cleared + 1), paused.total), paused.total];
    const total = model.get("log_total") || 0;
    return [Math.min(Math.max(model.get("log_first") || 0, cleared + 1, goneBelow), total), total];
  };
  // While filtering, the rows that arrived since the last search are a gap at the end: it is
  // searched while the view follows the feed and never drawn.
  const tail = () => {
    const last = entries[entries.length - 1];
    return last && last.gap && last.stop >= tailTo ? last : null;
  };
  const size = () => {
    if (query) return entries.length - (tail() ? 1 : 0);
    const [first, total] = bounds();
    return total - first;
  };

  // Row nodes: made once, filled with a row, and reused for other rows once off screen.
  const makeRow = () => {
    const row = h("div");
    row.setAttribute("role", "listitem");
    row.append(
      h("span", "ipyws-c-dir"),
      h("span", "ipyws-c-time"),
      h("span", "ipyws-c-type"),
      h("span", "ipyws-c-size"),
      h("span", "ipyws-c-data"),
    );
    return row;
  };
  const fillRow = (row, r) => {
    row.className = `ipyws-row ipyws-dir-${token(r.dir)} ipyws-type-${token(r.type)}`;
    row.dataset.id = r.id;
    delete row.dataset.pending;
    row.dataset.dir = token(r.dir);
    row.dataset.type = token(r.type);
    row.title = `${r.dir} · ${r.type}`;
    const [glyph, time, type, size, data] = row.children;
    glyph.textContent = GLYPH[r.dir] || "";
    glyph.setAttribute("aria-label", r.dir);
    time.textContent = formatTime(r.time);
    type.textContent = r.type;
    size.textContent = r.dir === "event" ? "" : formatBytes(r.size || 0);
    data.textContent = r.preview;
  };
  // A row still loading keeps its id (data-pending), so a click on it selects that row.
  const fillPending = (row, text, id) => {
    if (id === undefined) delete row.dataset.pending;
    else row.dataset.pending = id;
    if (row.className === "ipyws-row ipyws-pending" && row.lastChild.textContent === text) return;
    row.className = "ipyws-row ipyws-pending";
    for (const key of ["id", "dir", "type"]) delete row.dataset[key];
    row.title = "";
    row.firstChild.removeAttribute("aria-label");
    for (const span of row.children) span.textContent = "";
    row.lastChild.textContent = text;
  };

  // -- asking the kernel ----------------------------------------------------------------

  const ask = (content) => {
    requests += 1;
    model.send({ ...content, view: viewId, req: requests, pin: pin() });
    return { req: requests, at: Date.now() };
  };
  const busy = (request) => request !== null && Date.now() - request.at < RETRY_MS;
  const fetchRows = (ids) => {
    if (!ids.length || busy(fetching) || (paused && paused.pin === null)) return;
    const start = Math.min(...ids);
    const stop = Math.min(Math.max(...ids) + 1, start + FETCH_LIMIT);
    fetching = ask({ action: "fetch", start, stop });
  };
  const searchGap = (gap, limit) => {
    if (busy(searching) || (paused && paused.pin === null)) return;
    searching = { ...ask({ action: "filter", ...query, start: gap.start, stop: gap.stop, limit }), gap };
  };
  const forget = (low, high) => {
    if (cache.size <= CACHE_LIMIT) return;
    for (const id of cache.keys()) if ((id < low - 500 || id >= high + 500) && id !== selected) cache.delete(id);
  };
  const remember = (rows) => {
    for (const r of rows) {
      const known = cache.get(r.id);
      cache.set(r.id, known && known.data !== undefined && r.data === undefined ? known : r);
    }
  };

  // -- drawing (at most once a frame) -----------------------------------------------------

  // A row drawn stays the same node while it is on screen: a click whose mouse went down on
  // it still lands on it, however many updates came in between.
  let drawn = new Map(); // key (a row's id, a pending id, a gap) -> node, now in the DOM
  let next = new Map();
  const spare = []; // nodes that left the screen, to fill with the next rows drawn
  const acquire = (key) => {
    const known = drawn.get(key);
    const node = known || spare.pop() || makeRow();
    next.set(key, node);
    return [node, !known];
  };
  const nodeOf = (r) => {
    const [node, fresh] = acquire(r.id);
    if (fresh) fillRow(node, r);
    node.classList.toggle("ipyws-selected", r.id === selected);
    return node;
  };
  const pendingNode = (key, text, id) => {
    const [node] = acquire(key);
    fillPending(node, text, id);
    return node;
  };
  const place = (nodes) => {
    const keep = new Set(nodes);
    for (const child of [...win.children]) {
      if (!keep.has(child)) {
        child.remove();
        if (spare.length < 2 * OVERSCAN + 40) spare.push(child);
      }
    }
    let cursor = win.firstChild;
    for (const node of nodes) {
      if (node === cursor) cursor = cursor.nextSibling;
      else win.insertBefore(node, cursor);
    }
    [drawn, next] = [next, drawn];
    next.clear();
  };
  let drawnTop = -1; // where draw() left the scroller: its own scroll events change nothing
  const draw = () => {
    lastDraw = performance.now();
    const n = size();
    sizer.style.height = `${n * ROW_HEIGHT}px`;
    // The list is a layout boundary (contain: strict), and draw() runs before anything else
    // writes to the page in this frame: setting scrollTop lays out the list alone.
    if (stick) list.scrollTop = n * ROW_HEIGHT;
    const top = list.scrollTop;
    drawnTop = top;
    const height = list.clientHeight || 220;
    const from = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const to = Math.min(n, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    win.style.transform = `translateY(${from * ROW_HEIGHT}px)`;
    const nodes = [];
    const missing = [];
    let gap = null;
    const [first] = bounds();
    // Following a feed, the rows above the screen are not worth a request each update.
    const wanted = stick && !paused ? [Math.floor(top / ROW_HEIGHT), Math.ceil((top + height) / ROW_HEIGHT)] : [from, to];
    for (let i = from; i < to; i++) {
      if (query) {
        const entry = entries[i];
        if (entry.gap) {
          nodes.push(pendingNode(entry, busy(searching) && searching.gap === entry ? "… searching" : "… more matches"));
          gap = entry; // the lowest one: the newest matches come first
        } else {
          nodes.push(nodeOf(entry));
        }
        continue;
      }
      const id = first + i;
      const r = cache.get(id);
      if (r) {
        nodes.push(nodeOf(r));
      } else {
        nodes.push(pendingNode(`p${id}`, "… loading", id));
        if (i >= wanted[0] && i < wanted[1]) missing.push(id);
      }
    }
    place(nodes);
    if (query) {
      if (gap) searchGap(gap, FILTER_PAGE);
      else if (stick && tail()) searchGap(tail(), TAIL_PAGE);
      const shown = entries.slice(from, to).filter((e) => !e.gap);
      if (shown.length) forget(shown[0].id, shown[shown.length - 1].id + 1);
    } else {
      fetchRows(missing);
      forget(first + from, first + to);
    }
    showCount(n);
  };
  const redraw = () => later(LOG, draw);
  // Following the feed, the list moves at most 10 times a second: the header keeps the update
  // rate, and rows nobody could read that fast do not cost the page a frame each.
  let lastDraw = 0;
  let followTimer = 0;
  const redrawSoon = () => {
    const wait = FOLLOW_MS - (performance.now() - lastDraw);
    if (!stick || paused || wait <= 0) redraw();
    else if (!followTimer) {
      followTimer = setTimeout(() => {
        followTimer = 0;
        redraw();
      }, wait);
    }
  };

  const showCount = (n) => {
    if (paused) {
      const newer = Math.max(0, (model.get("log_total") || 0) - paused.total);
      count.textContent = `paused · ${formatCount(newer)} new`;
    } else if (query) {
      const found = entries.filter((e) => !e.gap).length;
      const more = entries.some((e) => e.gap && e !== tail());
      count.textContent = `${formatCount(found)}${more ? "+" : ""} matches`;
    } else {
      count.textContent = `${formatCount(n)} rows`;
    }
  };

  // Rows that leave the log at the top (the transcript's ring turned, or a clear) must not
  // move what a reader scrolled to.
  const keepPlace = (removed) => {
    if (!stick && removed > 0) list.scrollTop = Math.max(0, list.scrollTop - removed * ROW_HEIGHT);
  };
  const trimEntries = (first) => {
    let removed = 0;
    while (entries.length && (entries[0].gap ? entries[0].stop <= first : entries[0].id < first)) {
      entries.shift();
      removed += 1;
    }
    if (entries.length && entries[0].gap) entries[0].start = Math.max(entries[0].start, first);
    if (entries.length > MAX_ENTRIES) {
      const extra = entries.length - MAX_ENTRIES;
      entries.splice(0, extra, { gap: true, start: first, stop: entries[extra].gap ? entries[extra].stop : entries[extra].id });
      removed += extra - 1;
    }
    return removed;
  };

  // -- what the kernel sends ---------------------------------------------------------------

  let lastFirst = bounds()[0];
  const onUpdate = () => {
    cleared = Math.max(cleared, model.get("cleared_through"));
    remember(model.get("new_rows") || []);
    const [first, total] = bounds();
    if (query) {
      const removed = trimEntries(first);
      if (!paused && total > tailTo) {
        const last = entries[entries.length - 1];
        if (last && last.gap && last.stop === tailTo && !(searching && searching.gap === last)) last.stop = total;
        else entries.push({ gap: true, start: Math.max(tailTo, first), stop: total });
        tailTo = total;
      }
      keepPlace(removed);
    } else {
      keepPlace(first - lastFirst);
    }
    lastFirst = first;
    redrawSoon();
  };
  on("change:log_total", onUpdate);
  on("change:log_first", onUpdate);
  on("change:new_rows", onUpdate);
  on("change:cleared_through", onUpdate);

  on("msg:custom", (msg) => {
    if (!msg || msg.view !== viewId) return;
    if (msg.kind === "fetch" && fetching && msg.req === fetching.req) {
      fetching = null;
      remember(msg.rows || []);
      goneBelow = Math.max(goneBelow, msg.first);
      onUpdate();
    } else if (msg.kind === "filter" && searching && msg.req === searching.req) {
      const gap = searching.gap;
      searching = null;
      if (msg.error) {
        filter.classList.add("ipyws-invalid");
        filter.title = msg.error;
        entries = [];
        redraw();
        return;
      }
      const at = entries.indexOf(gap);
      if (at < 0) return; // the filter changed meanwhile
      const found = msg.rows || [];
      remember(found);
      const replacement = msg.rest !== null && msg.rest > gap.start ? [{ gap: true, start: gap.start, stop: msg.rest }] : [];
      replacement.push(...found);
      entries.splice(at, 1, ...replacement);
      // Matches put in above what is on screen must not push it down.
      if (!stick && at * ROW_HEIGHT < list.scrollTop) list.scrollTop += (replacement.length - 1) * ROW_HEIGHT;
      redraw();
    } else if (msg.kind === "pin" && paused && paused.pin === null) {
      paused.pin = msg.pin;
      paused.first = Math.max(paused.first, msg.first);
      redraw();
    } else if (msg.kind === "full" && msg.id === selected) {
      full = msg;
      showDetail();
    }
  });

  // -- the detail of the selected row -------------------------------------------------------

  const showDetail = () => {
    const row = full && full.id === selected ? full : cache.get(selected);
    if (selected === null) {
      detail.hidden = true;
      return;
    }
    detail.hidden = false;
    const meta = h("div", "ipyws-detail-meta");
    const bits = row ? [row.dir, row.type, formatTime(row.time)] : [`row ${selected}`];
    if (row && row.dir !== "event") bits.push(formatBytes(row.size || 0));
    if (row) bits.push(`seq ${row.id}`);
    const close = h("button", "ipyws-detail-close", "×");
    close.type = "button";
    close.title = "Close the detail view";
    close.addEventListener("click", () => {
      selected = null;
      full = null;
      for (const node of list.querySelectorAll(".ipyws-selected")) node.classList.remove("ipyws-selected");
      detail.hidden = true;
    });
    meta.append(h("span", null, bits.join(" · ")), close);

    const body = h("pre", "ipyws-detail-body");
    let kind = "";
    if (row && row.error) {
      body.textContent = row.error;
    } else if (!row || row.data === undefined) {
      body.textContent = "… loading";
    } else if (row.type === "binary") {
      kind = "hex";
      body.textContent = hexDump(base64Bytes(row.data));
    } else if (row.encoding === "json") {
      kind = "event";
      body.textContent = row.data || row.preview;
    } else if (row.type === "text") {
      const pretty = prettyJson(row.data);
      kind = pretty === null ? "text" : "JSON";
      body.textContent = pretty === null ? row.data : pretty;
    } else {
      body.textContent = row.preview;
    }
    if (kind) meta.firstChild.textContent += ` · ${kind}`;
    detail.replaceChildren(meta);
    if (row && row.partial && !row.error) {
      const note = h("div", "ipyws-detail-note");
      const shown = row.type === "binary" ? base64Bytes(row.data).length : (row.data || "").length;
      note.append(
        document.createTextNode(
          shown ? `Showing the first ${formatBytes(shown)}. ` : "The data was not sent to the browser. ",
        ),
      );
      const more = h("button", "ipyws-load", "Load full message");
      more.type = "button";
      more.addEventListener("click", () => ask({ action: "full", id: row.id }));
      note.append(more);
      detail.append(note);
    }
    detail.append(body);
  };

  // -- what the reader does ------------------------------------------------------------------

  list.addEventListener("scroll", () => {
    if (list.scrollTop === drawnTop) return;
    stick = list.scrollHeight - list.scrollTop - list.clientHeight < ROW_HEIGHT / 2;
    redraw();
  });
  list.addEventListener("click", (event) => {
    const node = event.target.closest(".ipyws-row");
    const id = node ? (node.dataset.id ?? node.dataset.pending) : undefined;
    if (!node || !list.contains(node) || id === undefined) return;
    selected = Number(id);
    full = null;
    for (const other of list.querySelectorAll(".ipyws-selected")) other.classList.remove("ipyws-selected");
    node.classList.add("ipyws-selected");
    const known = cache.get(selected);
    if (!known || known.data === undefined) ask({ action: "full", id: selected, limit: ROW_DATA_LIMIT });
    showDetail();
  });

  let typing = 0;
  const refilter = () => {
    clearTimeout(typing);
    filter.classList.remove("ipyws-invalid");
    filter.title = "";
    searching = null;
    const [first, total] = bounds();
    if (!filter.value && direction.value === "all") {
      query = null;
      entries = [];
    } else {
      query = { text: filter.value, regex: regex.checked, dir: direction.value };
      entries = total > first ? [{ gap: true, start: first, stop: total }] : [];
      tailTo = total;
    }
    stick = true;
    redraw();
  };
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(refilter, 150); // one search per pause in typing, not per key
  });
  regex.addEventListener("change", refilter);
  direction.addEventListener("change", refilter);
  pause.addEventListener("click", () => {
    if (paused) {
      if (paused.pin !== null) model.send({ action: "unpin", view: viewId, pin: paused.pin });
      paused = null;
      onUpdate();
    } else {
      const [first, total] = bounds();
      paused = { pin: null, first, total };
      ask({ action: "pin" });
      redraw();
    }
    pause.textContent = paused ? "Resume" : "Pause";
    pause.classList.toggle("ipyws-active", paused !== null);
  });
  clear.addEventListener("click", () => {
    const through = bounds()[1] - 1;
    // Clear at once in this page (even while the kernel is busy), then tell the kernel.
    cleared = Math.max(cleared, through);
    if (query) trimEntries(through + 1);
    model.send({ action: "clear", through });
    redraw();
  });

  remember(model.get("rows") || []);
  onUpdate();
  draw();
}

// -- controls ----------------------------------------------------------------------------

function buildControls(model, root, on) {
  const controls = h("div", "ipyws-controls");
  const sendRow = h("div", "ipyws-sendrow");
  const input = h("textarea", "ipyws-send-input");
  input.rows = 2;
  input.placeholder = "Message to send as text (Ctrl+Enter sends)";
  input.setAttribute("aria-label", "Message to send");
  const hint = h("span", "ipyws-hint");
  const send = h("button", "ipyws-send", "Send");
  send.type = "button";
  sendRow.append(input, send);

  const closeRow = h("div", "ipyws-closerow");
  const code = h("input", "ipyws-close-code");
  code.type = "number";
  code.placeholder = "1000";
  code.min = "1000";
  code.max = "4999";
  code.setAttribute("aria-label", "Close code");
  const reason = h("input", "ipyws-close-reason");
  reason.type = "text";
  reason.placeholder = "reason";
  reason.maxLength = 123;
  reason.setAttribute("aria-label", "Close reason");
  const close = h("button", "ipyws-close", "Close");
  close.type = "button";
  const reconnect = h("button", "ipyws-reconnect", "Reconnect");
  reconnect.type = "button";
  reconnect.title = "Connect again now: the same socket, its handlers and log, a new connection";
  closeRow.append(hint, h("span", "ipyws-spacer"), h("span", "ipyws-label", "code"), code, reason, close, reconnect);
  const notice = h("div", "ipyws-notice");
  notice.hidden = true;
  controls.append(sendRow, closeRow, notice);
  root.append(controls);

  const showHint = () => {
    const text = input.value.trim();
    hint.classList.remove("ipyws-ok", "ipyws-bad");
    if (!text) {
      hint.textContent = "";
    } else if (!"{[\"".includes(text[0]) && !/^(-?\d|true$|false$|null$)/.test(text)) {
      hint.textContent = "text (not JSON)";
    } else {
      try {
        JSON.parse(text);
        hint.textContent = "✓ valid JSON";
        hint.classList.add("ipyws-ok");
      } catch (err) {
        hint.textContent = `✗ not valid JSON: ${err.message || err}`;
        hint.classList.add("ipyws-bad");
      }
    }
  };
  const doSend = () => {
    notice.hidden = true;
    model.send({ action: "send", text: input.value });
  };
  input.addEventListener("input", showHint);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      doSend();
    }
  });
  send.addEventListener("click", doSend);
  close.addEventListener("click", () => {
    notice.hidden = true;
    const value = code.value.trim();
    model.send({ action: "close", code: value === "" ? null : Number(value), reason: reason.value });
  });
  reconnect.addEventListener("click", () => {
    notice.hidden = true;
    model.send({ action: "reconnect" });
  });
  const update = () => {
    const state = model.get("state");
    send.disabled = state !== "OPEN";
    // A reconnecting socket can be closed during its wait: that stops the attempts.
    close.disabled = state === "CLOSED" || state === "CLOSING";
  };
  on("change:state", update);
  on("msg:custom", (msg) => {
    if (msg && msg.kind === "notice") {
      notice.textContent = msg.text;
      notice.hidden = false;
    }
  });
  update();
}

// -- view --------------------------------------------------------------------------------

function render({ model, el }) {
  const root = h("div", "ipyws-panel");
  const parts = new Set(model.get("parts") || ["header", "log", "controls"]);
  const cleanups = [];
  const on = (event, callback) => {
    model.on(event, callback);
    cleanups.push(() => model.off(event, callback));
  };
  const every = (ms, callback) => {
    const timer = setInterval(callback, ms);
    cleanups.push(() => clearInterval(timer));
  };
  // All of a view's DOM writes happen once per animation frame, the log's first: a model
  // change only schedules them, so 20 updates a second with many changed traits cost 20
  // writes of each part, and the log's scroll position is read before the header dirties
  // the page's layout (a forced layout of the whole notebook each frame otherwise).
  const tasks = new Map(); // callback -> order
  let frame = 0;
  const flush = () => {
    frame = 0;
    const due = [...tasks].sort((a, b) => a[1] - b[1]);
    tasks.clear();
    for (const [callback] of due) callback();
  };
  const later = (order, callback) => {
    tasks.set(callback, order);
    if (!frame) frame = requestAnimationFrame(flush);
  };
  cleanups.push(() => cancelAnimationFrame(frame));
  if (parts.has("header")) buildHeader(model, root, on, every, later);
  if (parts.has("log")) buildLog(model, root, on, later);
  if (parts.has("controls")) buildControls(model, root, on);
  el.append(root);
  return () => {
    for (const cleanup of cleanups) cleanup();
  };
}

export default { initialize, render };
