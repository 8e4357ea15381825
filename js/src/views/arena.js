// Arena: one prompt, 2–4 models answering side by side, with a Code view of each request.
//
// Python sends the stream as custom messages, coalesced (≤ 20 a second) for all columns at once:
//   {type: "start", round}                                  a new round begins
//   {type: "delta", round, parts: [{i, offset, text, roffset, reasoning}]}
//   {type: "reset", texts, reasonings}                      everything so far (answers a "resync")
//   {type: "notice", text}                                  a problem to show (a bad prompt)
// and sets each column's final text, stats and status once in the `columns` trait. A delta whose
// offset does not match what this view holds asks for a "resync" instead of showing a gap.
// Model output is rendered through the same sanitised Markdown path as StreamPane.
import { button, h } from "../dom.js";
import { renderInto, splitThink } from "../markdown.js";
import { fillStats } from "../stats_line.js";
import { renderCodeView } from "./code_view.js";


const STATUS = { idle: "", waiting: "waiting…", streaming: "streaming…", done: "done", stopped: "stopped", error: "failed" };
function render({ model, el }) {
  const root = h("div", "nvnb-w nvnb-arena");
  root.dataset.nvnbWidget = "arena";

  // The composer: one prompt for every model.
  const form = h("form", "nvnb-arena-ask");
  const input = h("textarea", "nvnb-input nvnb-arena-prompt");
  input.rows = 2;
  input.placeholder = "Ask every model the same question… (Ctrl+Enter sends)";
  input.setAttribute("aria-label", "Prompt for every model");
  const send = button("nvnb-primary nvnb-arena-send", "Send", "Send the prompt to every model");
  send.type = "submit";
  const stopAll = button("nvnb-stop nvnb-arena-stop", "■ Stop all", "Stop every answer (the text so far is kept)");
  const notice = h("div", "nvnb-arena-notice nvnb-muted");
  notice.setAttribute("role", "status");
  form.append(input, send, stopAll);

  const grid = h("div", "nvnb-arena-grid");
  const code = h("div", "nvnb-code nvnb-arena-codeview");
  code.hidden = true;
  root.append(form, notice, grid, code);
  el.appendChild(root);

  let live = [];
  let liveReasoning = [];
  let cols = [];

  function buildColumns() {
    const names = model.get("models") || [];
    grid.replaceChildren();
    grid.style.setProperty("--nvnb-arena-n", String(names.length));
    cols = names.map((name, i) => {
      const col = h("section", "nvnb-arena-col");
      col.dataset.index = String(i);
      const head = h("header", "nvnb-arena-head");
      const title = h("span", "nvnb-arena-model", name);
      title.title = name;
      const status = h("span", "nvnb-arena-status");
      const spacer = h("span", "nvnb-spacer");
      const best = button("nvnb-arena-best", "☆ Best", "Mark this answer as the best");
      const codeBtn = button("nvnb-arena-codebtn", "Code", "View this request as Python, %%nvchat and curl");
      head.append(title, status, spacer);
      const skipped = h("div", "nvnb-arena-skipped nvnb-muted");
      const reasoningBox = h("details", "nvnb-reasoning");
      const summary = h("summary", null, "Reasoning");
      const reasoningBody = h("div", "nvnb-reasoning-body");
      reasoningBox.append(summary, reasoningBody);
      const answer = h("div", "nvnb-answer nvnb-md nvnb-arena-answer");
      const error = h("div", "nvnb-error nvnb-arena-error");
      error.setAttribute("role", "alert");
      const stats = h("div", "nvnb-stream-stats nvnb-arena-stats");
      const foot = h("footer", "nvnb-arena-foot");
      foot.append(stats, best, codeBtn);
      col.append(head, skipped, error, reasoningBox, answer, foot);
      best.addEventListener("click", () => model.send({ type: "best", index: i }));
      codeBtn.addEventListener("click", () => model.send({ type: "code", index: i }));
      grid.appendChild(col);
      return { col, status, best, skipped, reasoningBox, summary, reasoningBody, answer, error, stats };
    });
    live = names.map(() => "");
    liveReasoning = names.map(() => "");
  }

  function paintColumn(i) {
    const c = cols[i];
    const column = (model.get("columns") || [])[i] || {};
    const st = column.status || "idle";
    const streaming = st === "streaming" || st === "waiting";
    c.col.dataset.status = st;
    const raw = streaming ? live[i] : column.text || "";
    const extra = streaming ? liveReasoning[i] : column.reasoning || "";
    const split = splitThink(raw);
    const reasoning = (extra || "") + split.reasoning;
    const stick = c.answer.scrollHeight - c.answer.scrollTop - c.answer.clientHeight < 24;
    renderInto(c.answer, split.text);
    if (stick) c.answer.scrollTop = c.answer.scrollHeight;
    c.reasoningBox.hidden = !reasoning;
    c.reasoningBody.textContent = reasoning;
    c.summary.textContent = streaming && !split.text ? "Reasoning…" : "Reasoning";
    c.status.textContent = STATUS[st] ?? st;
    c.error.hidden = !column.error;
    c.error.textContent = column.error || "";
    const skipped = column.skipped || [];
    c.skipped.hidden = !skipped.length;
    c.skipped.textContent = skipped.length ? `Not sent to this model: ${skipped.join(" and ")} (it does not take them)` : "";
    // A failed column's error already names its request id.
    const requestId = column.error && column.error.includes(column.request_id) ? "" : column.request_id;
    fillStats(c.stats, streaming ? null : column.stats, streaming ? null : requestId);
    c.answer.hidden = st === "error" && !split.text;
    const isBest = model.get("best") === i;
    c.col.classList.toggle("nvnb-arena-isbest", isBest);
    c.best.textContent = isBest ? "★ Best" : "☆ Best";
    c.best.setAttribute("aria-pressed", String(isBest));
    c.best.hidden = st !== "done" && st !== "stopped";
    c.col.dataset.length = String(raw.length);
  }

  function paint() {
    const busy = model.get("busy");
    root.dataset.busy = String(busy);
    stopAll.hidden = !busy;
    send.disabled = busy;
    cols.forEach((_c, i) => paintColumn(i));
    paintCode();
  }

  function paintCode() {
    const view = model.get("code_view") || {};
    code.hidden = !view.model;
    if (!view.model) return;
    renderCodeView(code, view, {
      title: `Code · ${view.model}`,
      fallback: "arena.insert_code",
      onClose: () => {
        model.set("code_view", {});
        model.save_changes();
      },
    });
  }


  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "start") {
      live = live.map(() => "");
      liveReasoning = liveReasoning.map(() => "");
      notice.textContent = "";
    } else if (msg.type === "delta") {
      for (const part of msg.parts || []) {
        const i = part.i;
        if (i >= live.length) continue;
        if (part.offset !== live[i].length || (part.roffset ?? 0) !== liveReasoning[i].length) {
          model.send({ type: "resync" });
          return;
        }
        live[i] += part.text || "";
        liveReasoning[i] += part.reasoning || "";
      }
    } else if (msg.type === "reset") {
      live = (msg.texts || []).slice();
      liveReasoning = (msg.reasonings || []).slice();
    } else if (msg.type === "notice") {
      notice.textContent = msg.text || "";
      return;
    } else {
      return;
    }
    cols.forEach((_c, i) => paintColumn(i));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = input.value.trim();
    if (!prompt) {
      notice.textContent = "Type a prompt first.";
      return;
    }
    model.send({ type: "ask", prompt });
  });
  input.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the text box
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stopAll.addEventListener("click", () => model.send({ type: "stop" }));

  const onModels = () => {
    buildColumns();
    paint();
  };
  const onChange = () => paint();
  const onPrompt = () => {
    if (!input.value) input.value = model.get("prompt") || "";
  };
  model.on("msg:custom", onMessage);
  model.on("change:models", onModels);
  for (const name of ["columns", "busy", "best", "code_view"]) model.on(`change:${name}`, onChange);
  model.on("change:prompt", onPrompt);

  buildColumns();
  onPrompt();
  paint();
  if (model.get("busy")) model.send({ type: "resync" });

  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:models", onModels);
    for (const name of ["columns", "busy", "best", "code_view"]) model.off(`change:${name}`, onChange);
    model.off("change:prompt", onPrompt);
  };
}

export default render;
