// StreamPane: an answer rendered as Markdown while it streams.
//
// Python sends the stream as custom messages, coalesced to at most ~30 per second:
//   {type: "start", model}                       a new answer begins
//   {type: "delta", offset, text, roffset, reasoning, stats}   text appended at `offset`
//   {type: "reset", text, reasoning}             the whole text so far (answers a "resync")
// and sets the traits `text`, `reasoning`, `status`, `stats`, `request_id`, `error` once at the
// end, so the final view is exactly the model's text and survives a re-render or a saved state.
// A delta whose offset does not match what this view holds (a view opened mid-stream) asks for
// a "resync" instead of showing a gap.
import { copyText } from "../code.js";
import { button, h, stickToBottom, whenAttached } from "../dom.js";
import { renderInto, splitThink } from "../markdown.js";
import { fillStats } from "../stats_line.js";


export default function streamPane({ model, el }) {
  const root = h("div", "nvnb-w nvnb-stream");
  root.dataset.nvnbWidget = "stream-pane";
  const head = h("div", "nvnb-stream-head");
  const title = h("span", "nvnb-stream-model");
  const status = h("span", "nvnb-stream-status");
  const spacer = h("span", "nvnb-spacer");
  const stop = button("nvnb-stop", "■ Stop", "Stop the answer (the text so far is kept)");
  const copy = button("nvnb-copy", "Copy", "Copy the answer's Markdown");
  const again = button("nvnb-regenerate", "↻ Regenerate", "Ask the same question again");
  head.append(title, status, spacer, stop, again, copy);

  const reasoningBox = h("details", "nvnb-reasoning");
  const summary = h("summary", null, "Reasoning");
  const reasoningBody = h("div", "nvnb-reasoning-body");
  reasoningBox.append(summary, reasoningBody);
  const answer = h("div", "nvnb-answer nvnb-md");
  const error = h("div", "nvnb-error");
  error.setAttribute("role", "alert");
  const stats = h("div", "nvnb-stream-stats");
  root.append(head, reasoningBox, answer, error, stats);
  el.appendChild(root);
  // Inside a ChatPanel the conversation scrolls as one; keep it at the bottom as text arrives.
  whenAttached(el, ".nvnb-convo", stickToBottom);

  let live = "";
  let liveReasoning = "";
  let liveStats = null;
  let deltas = 0;
  let stopping = false;
  let starts = 0;
  const TRAITS = ["text", "reasoning", "status", "error", "stats", "request_id", "model_name", "stoppable", "regenerable"];

  const streaming = () => model.get("status") === "streaming";

  function paint() {
    const st = model.get("status");
    root.dataset.status = st;
    const raw = streaming() ? live : model.get("text");
    const extra = streaming() ? liveReasoning : model.get("reasoning");
    const split = splitThink(raw);
    const reasoning = (extra || "") + split.reasoning;
    const atEnd = answer.scrollHeight - answer.scrollTop - answer.clientHeight < 24;
    renderInto(answer, split.text);
    if (atEnd) answer.scrollTop = answer.scrollHeight;
    reasoningBox.hidden = !reasoning;
    reasoningBody.textContent = reasoning;
    summary.textContent = streaming() && !split.text ? "Reasoning…" : "Reasoning";
    title.textContent = model.get("model_name") || "";
    const labels = { idle: "", streaming: "streaming…", done: "", stopped: "stopped", error: "error" };
    status.textContent = labels[st] ?? st;
    stop.hidden = !streaming() || !model.get("stoppable");
    stop.disabled = stopping;
    stop.textContent = stopping ? "Stopping…" : "■ Stop";
    copy.hidden = !raw;
    again.hidden = !model.get("regenerable") || !["done", "stopped"].includes(st);
    const err = model.get("error");
    error.hidden = !err;
    error.textContent = err || "";
    // A failed request with no text: the error (which carries the request id) says it all.
    const shown =
      st === "error" && !raw
        ? fillStats(stats, null, null)
        : streaming() && liveStats
          ? fillStats(stats, liveStats, liveStats.request_id, { countZeroTokens: true })
          : fillStats(stats, model.get("stats"), model.get("request_id"), { countZeroTokens: true });
    stats.hidden = !shown;
    root.dataset.length = String(raw.length);
    root.dataset.deltas = String(deltas);
    root.dataset.starts = String(starts);
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "start") {
      stopping = false;
      live = "";
      liveReasoning = "";
      liveStats = null;
      starts += 1;
    } else if (msg.type === "delta") {
      deltas += 1;
      if (msg.offset !== live.length || (msg.roffset ?? 0) !== liveReasoning.length) {
        model.send({ type: "resync" });
        return;
      }
      live += msg.text || "";
      liveReasoning += msg.reasoning || "";
      if (msg.stats) liveStats = msg.stats;
    } else if (msg.type === "reset") {
      live = msg.text || "";
      liveReasoning = msg.reasoning || "";
    } else {
      return;
    }
    paint();
  }

  const onChange = () => paint();
  stop.addEventListener("click", () => {
    stopping = true;
    model.send({ type: "stop" });
    paint();
  });
  again.addEventListener("click", () => model.send({ type: "regenerate" }));
  copy.addEventListener("click", async () => {
    const text = streaming() ? live : model.get("text");
    const ok = await copyText(text);
    copy.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => (copy.textContent = "Copy"), 1200);
  });
  model.on("msg:custom", onMessage);
  for (const name of TRAITS) model.on(`change:${name}`, onChange);

  paint();
  if (streaming()) model.send({ type: "resync" });

  return () => {
    model.off("msg:custom", onMessage);
    for (const name of TRAITS) model.off(`change:${name}`, onChange);
  };
}

