// The ipyws live panel: one ES module for anywidget, no build step.
//
// Safety: everything that comes from a socket (messages, close reasons, URLs, handshake
// headers) enters the DOM as text: textContent, Text nodes and attribute values. This module
// never assigns HTML, so a message such as <img src=x onerror=...> is shown, never run.
//
// Traffic: the kernel sends only the rows added since its last update (`new_rows`), at most
// 20 times a second. The model keeps the newest `log_size` of them in `rows`, once for all
// views, so a second view or a re-render starts from the same log and a saved notebook keeps it.

const STATES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
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

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function formatCount(n) {
  return Number(n || 0).toLocaleString("en-US");
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

// -- model: one merged log per model, however many views --------------------------------

function initialize({ model }) {
  const merge = () => {
    const batch = model.get("new_rows") || [];
    if (!batch.length) return;
    const rows = model.get("rows") || [];
    const last = rows.length ? rows[rows.length - 1].id : -1;
    const cleared = model.get("cleared_through");
    const fresh = batch.filter((r) => r.id > last && r.id > cleared);
    if (!fresh.length) return;
    const size = model.get("log_size") || 500;
    model.set("rows", rows.concat(fresh).slice(-size));
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

function buildHeader(model, root, on, every) {
  const header = h("div", "ipyws-header");
  const top = h("div", "ipyws-top");
  const badge = h("span", "ipyws-badge");
  const rtt = h("span", "ipyws-rtt");
  rtt.title = "Round trip of the latest answered ping (keepalive or ws.ping())";
  const url = h("span", "ipyws-url");
  const conn = h("span", "ipyws-conn");
  top.append(badge, rtt, url, conn);
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
    badge.textContent = state;
    badge.className = `ipyws-badge ipyws-state-${token(state).toLowerCase()}`;
    badge.dataset.state = state;
    root.dataset.state = state;
    url.textContent = model.get("url");
    const n = model.get("connection") || 1;
    conn.textContent = n > 1 ? `connection #${n}` : "";
    const ms = model.get("rtt");
    rtt.textContent = ms === null || ms === undefined ? "" : `RTT ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
    rtt.hidden = !rtt.textContent;
    updateRetry();
    const reconnecting = state === "RECONNECTING" || (state === "CONNECTING" && model.get("reconnect_attempt") > 0);
    if ((state === "CLOSED" || reconnecting) && model.get("close_code") !== null) {
      const reason = model.get("close_reason");
      closeLine.textContent =
        (reconnecting ? "last close: " : "") +
        `${model.get("close_code")} ${model.get("close_meaning")}` +
        (reason ? ` · reason "${reason}"` : " · no reason") +
        ` · wasClean: ${model.get("was_clean")}`;
      closeLine.hidden = false;
    } else {
      closeLine.textContent = "";
      closeLine.hidden = true;
    }
    const error = model.get("error");
    errorLine.textContent = error ? `error: ${error}` : "";
    errorLine.hidden = !error;
    fields.protocol.textContent = model.get("protocol") || "none";
    fields.extensions.textContent = model.get("extensions") || "none";
    fields.buffered.textContent = formatBytes(model.get("buffered_amount") || 0);
    fields.in.textContent = `${formatCount(model.get("messages_in"))} · ${formatBytes(model.get("bytes_in") || 0)}`;
    fields.out.textContent = `${formatCount(model.get("messages_out"))} · ${formatBytes(model.get("bytes_out") || 0)}`;
    fields.rate.textContent = `${(model.get("rate") || 0).toFixed(1)} msg/s`;
    updateAge();
  };
  const updateRetry = () => {
    const state = model.get("state");
    const attempt = model.get("reconnect_attempt") || 0;
    const at = model.get("retry_at");
    if (state === "RECONNECTING" && at !== null && at !== undefined) {
      const left = Math.max(0, (at - Date.now()) / 1000);
      retryLine.textContent = `attempt ${attempt} · next try in ${left.toFixed(1)} s`;
      retryLine.hidden = false;
    } else if (state === "CONNECTING" && attempt > 0) {
      retryLine.textContent = `attempt ${attempt} · connecting…`;
      retryLine.hidden = false;
    } else {
      retryLine.textContent = "";
      retryLine.hidden = true;
    }
  };
  const updateAge = () => {
    const created = model.get("created_at");
    const closed = model.get("closed_at");
    const end = closed === null || closed === undefined ? Date.now() : closed;
    fields.age.textContent = created ? formatDuration((end - created) / 1000) : "";
  };
  const drawChart = () => {
    const history = (model.get("rate_history") || []).slice(-60);
    const values = new Array(60 - history.length).fill(0).concat(history);
    const max = Math.max(1, ...values);
    const points = values.map((v, i) => `${(i * 120) / 59},${(30 - (v / max) * 28).toFixed(1)}`);
    line.setAttribute("points", points.join(" "));
    area.setAttribute("points", `0,30 ${points.join(" ")} 120,30`);
    chartLabel.textContent = `peak ${formatCount(Math.max(0, ...history))}/s · last 60 s`;
  };
  for (const key of [
    "state", "url", "connection", "close_code", "close_reason", "close_meaning", "was_clean",
    "error", "protocol", "extensions", "buffered_amount", "messages_in", "messages_out",
    "bytes_in", "bytes_out", "rate", "created_at", "closed_at", "rtt", "reconnect_attempt",
    "retry_at",
  ]) {
    on(`change:${key}`, update);
  }
  on("change:rate_history", drawChart);
  every(1000, updateAge);
  every(100, updateRetry);
  update();
  drawChart();
}

// -- message log -------------------------------------------------------------------------

function buildLog(model, root, on) {
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
  const detail = h("div", "ipyws-detail");
  detail.hidden = true;
  log.append(toolbar, head, list, detail);
  root.append(log);

  let paused = false;
  let lastId = -1;
  let selected = null;
  let full = null; // the whole message of the selected row, once loaded

  const matcher = () => {
    const dir = direction.value;
    const text = filter.value;
    let test = null;
    filter.classList.remove("ipyws-invalid");
    filter.title = "";
    if (text) {
      if (regex.checked) {
        try {
          const re = new RegExp(text, "i");
          test = (s) => re.test(s);
        } catch (err) {
          filter.classList.add("ipyws-invalid");
          filter.title = String(err.message || err);
        }
      } else {
        const needle = text.toLowerCase();
        test = (s) => s.toLowerCase().includes(needle);
      }
    }
    return (r) =>
      (dir === "all" || r.dir === dir) &&
      (!test || test(r.preview || "") || (r.encoding !== "base64" && test(r.data || "")));
  };
  let accept = matcher();

  const rowNode = (r) => {
    const row = h("div", `ipyws-row ipyws-dir-${token(r.dir)} ipyws-type-${token(r.type)}`);
    row.setAttribute("role", "listitem");
    row.dataset.id = r.id;
    row.dataset.dir = token(r.dir);
    row.dataset.type = token(r.type);
    row.title = `${r.dir} · ${r.type}`;
    if (r.id === selected) row.classList.add("ipyws-selected");
    const glyph = h("span", "ipyws-c-dir", GLYPH[r.dir] || "");
    glyph.setAttribute("aria-label", r.dir);
    const size = r.dir === "event" ? "" : formatBytes(r.size || 0);
    row.append(
      glyph,
      h("span", "ipyws-c-time", formatTime(r.time)),
      h("span", "ipyws-c-type", r.type),
      h("span", "ipyws-c-size", size),
      h("span", "ipyws-c-data", r.preview),
    );
    return row;
  };

  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 8;
  const stick = (wasAtBottom) => {
    if (wasAtBottom) list.scrollTop = list.scrollHeight;
  };
  const showCount = (rows) => {
    const shown = list.childElementCount;
    const newer = paused ? rows.filter((r) => r.id > lastId).length : 0;
    count.textContent = paused
      ? `paused · ${formatCount(newer)} new`
      : `${formatCount(shown)} of ${formatCount(rows.length)} rows`;
  };

  const renderAll = () => {
    const rows = model.get("rows") || [];
    const bottom = atBottom();
    const fragment = document.createDocumentFragment();
    for (const r of rows) if (accept(r)) fragment.append(rowNode(r));
    list.replaceChildren(fragment);
    lastId = rows.length ? rows[rows.length - 1].id : lastId;
    stick(bottom || list.scrollTop === 0);
    showCount(rows);
  };

  const renderNew = () => {
    const rows = model.get("rows") || [];
    if (paused) {
      showCount(rows);
      return;
    }
    const bottom = atBottom();
    const first = rows.length ? rows[0].id : Infinity;
    // Rows that left the ring (or were cleared) leave the view, oldest first.
    while (list.firstElementChild && Number(list.firstElementChild.dataset.id) < first) {
      list.firstElementChild.remove();
    }
    const fragment = document.createDocumentFragment();
    for (const r of rows) if (r.id > lastId && accept(r)) fragment.append(rowNode(r));
    list.append(fragment);
    if (rows.length) lastId = Math.max(lastId, rows[rows.length - 1].id);
    stick(bottom);
    showCount(rows);
  };

  const showDetail = () => {
    const rows = model.get("rows") || [];
    const row = full && full.id === selected ? full : rows.find((r) => r.id === selected);
    if (!row) {
      detail.hidden = true;
      return;
    }
    detail.hidden = false;
    const meta = h("div", "ipyws-detail-meta");
    const bits = [row.dir, row.type, formatTime(row.time)];
    if (row.dir !== "event") bits.push(formatBytes(row.size || 0));
    if (row.seq >= 0) bits.push(`seq ${row.seq}`);
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
    if (row.error) {
      body.textContent = row.error;
    } else if (row.type === "binary") {
      const bytes = base64Bytes(row.data);
      kind = "hex";
      body.textContent = hexDump(bytes);
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
    if (row.partial && !row.error) {
      const note = h("div", "ipyws-detail-note");
      const shown = row.type === "binary" ? base64Bytes(row.data).length : (row.data || "").length;
      note.append(
        document.createTextNode(
          shown ? `Showing the first ${formatBytes(shown)}. ` : "The data was not sent to the browser. ",
        ),
      );
      const more = h("button", "ipyws-load", "Load full message");
      more.type = "button";
      more.addEventListener("click", () => model.send({ action: "full", id: row.id }));
      note.append(more);
      detail.append(note);
    }
    detail.append(body);
  };

  list.addEventListener("click", (event) => {
    const node = event.target.closest(".ipyws-row");
    if (!node || !list.contains(node)) return;
    selected = Number(node.dataset.id);
    full = null;
    for (const other of list.querySelectorAll(".ipyws-selected")) other.classList.remove("ipyws-selected");
    node.classList.add("ipyws-selected");
    showDetail();
  });
  const refilter = () => {
    accept = matcher();
    renderAll();
  };
  filter.addEventListener("input", refilter);
  regex.addEventListener("change", refilter);
  direction.addEventListener("change", refilter);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.classList.toggle("ipyws-active", paused);
    if (!paused) renderAll();
    else showCount(model.get("rows") || []);
  });
  clear.addEventListener("click", () => {
    const rows = model.get("rows") || [];
    const through = rows.length ? rows[rows.length - 1].id : -1;
    // Clear at once in this page (even while the kernel is busy), then tell the kernel.
    model.set("rows", []);
    model.send({ action: "clear", through });
  });
  on("change:rows", () => {
    const rows = model.get("rows") || [];
    if (!rows.length || (list.firstElementChild && Number(list.firstElementChild.dataset.id) > rows[rows.length - 1].id)) {
      renderAll();
    } else {
      renderNew();
    }
  });
  on("msg:custom", (msg) => {
    if (msg && msg.kind === "full" && msg.id === selected) {
      full = msg;
      showDetail();
    }
  });
  renderAll();
  list.scrollTop = list.scrollHeight;
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
  if (parts.has("header")) buildHeader(model, root, on, every);
  if (parts.has("log")) buildLog(model, root, on);
  if (parts.has("controls")) buildControls(model, root, on);
  el.append(root);
  return () => {
    for (const cleanup of cleanups) cleanup();
  };
}

export default { initialize, render };
