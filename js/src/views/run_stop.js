// RunStop: the Stop button beside nvnb.map's progress bar. A click sends {type: "stop"}
// (heard by the kernel while the cell runs); `running` false ends it, showing `summary`.
import { button, h } from "../dom.js";

export default function runStop({ model, el }) {
  const root = h("div", "nvnb-w nvnb-run-stop");
  root.dataset.nvnbWidget = "run-stop";
  const title = "Cancel the requests in flight; finished rows are kept";
  const stop = button("nvnb-stop", "■ Stop the run", title);
  const note = h("span", "nvnb-run-stop-note");
  root.append(stop, note);
  el.appendChild(root);
  let stopping = false;

  function draw() {
    const running = model.get("running");
    root.dataset.running = String(running);
    stop.hidden = !running;
    stop.disabled = stopping;
    stop.textContent = stopping ? "Stopping…" : "■ Stop the run";
    note.textContent = running ? (stopping ? "finished rows are kept" : "") : model.get("summary");
  }
  stop.addEventListener("click", () => {
    if (stopping) return;
    stopping = true;
    model.send({ type: "stop" });
    draw();
  });
  model.on("change:running", draw);
  model.on("change:summary", draw);
  draw();
  return () => {
    model.off("change:running", draw);
    model.off("change:summary", draw);
  };
}
