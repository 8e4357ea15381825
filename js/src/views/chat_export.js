// The ChatPanel's Export popover: the conversation written into the notebook below the panel
// (Markdown cells for the questions and answers, a code cell per turn that asks again, the turn's
// provenance in each cell's metadata), or downloaded as an .ipynb file where the page lets no
// widget add cells, or saved as Markdown. Python builds the cells (nvnb.notebook_export).
// Trait: turns. Messages to Python: {type: "cells" | "download" | "markdown", nonce}; replies
// carry the nonce, so only the view that asked acts (a panel may be shown twice).
import { cellOf, jupyterApp } from "../code.js";
import { button, h, onTraits } from "../dom.js";

/** Insert `cells` below the cell holding `from` with JupyterLab's application object (when the
 * page exposes it): one change of the notebook's shared model (undo and collaboration see one
 * edit), and the Markdown cells rendered. How many went in. */
async function insertWithApp(from, cells) {
  const app = jupyterApp();
  const where = app && cellOf(app, from);
  const shared = where && where.notebook.model && where.notebook.model.sharedModel;
  if (!shared || typeof shared.insertCells !== "function") return 0;
  const at = where.index + 1;
  shared.insertCells(at, cells);
  await new Promise((resolve) => requestAnimationFrame(resolve));
  let inserted = 0;
  for (const [i, cell] of cells.entries()) {
    const widget = where.notebook.widgets[at + i];
    if (!widget || widget.model.sharedModel.getSource() !== cell.source) break;
    if (cell.cell_type === "markdown" && "rendered" in widget) widget.rendered = true;
    inserted += 1;
  }
  return inserted;
}

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** Without the application object (JupyterLab's default, Notebook 7): the notebook's shared model
 * through the widget manager of this notebook (@jupyter-widgets/jupyterlab-manager keeps the
 * document's context), the cells going below the cell whose output shows the widget `anchor`. */
function insertWithManager(model, anchor, cells) {
  const manager = model.widget_manager;
  const context = manager && manager.context;
  const shared = context && context.model && context.model.sharedModel;
  if (!anchor || !shared || typeof shared.insertCells !== "function" || !shared.cells) return 0;
  const index = shared.cells.findIndex((cell) => {
    if (cell.cell_type !== "code" || typeof cell.getOutputs !== "function") return false;
    return cell.getOutputs().some((out) => out.data && out.data[WIDGET_VIEW] && out.data[WIDGET_VIEW].model_id === anchor);
  });
  if (index < 0) return 0;
  shared.insertCells(index + 1, cells);
  let inserted = 0;
  for (const [i, cell] of cells.entries()) {
    const added = shared.cells[index + 1 + i];
    if (!added || added.getSource() !== cell.source) break;
    inserted += 1;
  }
  return inserted;
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-ipynb+json" }));
  const link = h("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export default function chatExport({ model, el }) {
  const root = h("div", "nvnb-w nvnb-chat-export");
  root.dataset.nvnbWidget = "chat-export";
  const title = h("div", "nvnb-export-title", "Export the conversation");
  const hint = h("div", "nvnb-export-hint nvnb-muted");
  const cells = button(
    "nvnb-primary nvnb-export-cells",
    "Insert as cells below",
    "Markdown cells for the questions and answers, and a code cell per turn that asks again",
  );
  const file = button("nvnb-export-ipynb", "Download .ipynb", "The same cells as a notebook file");
  const markdown = button("nvnb-export-markdown", "Save as Markdown", "A .md file in the kernel's folder, with the settings");
  const actions = h("div", "nvnb-export-actions");
  actions.append(cells, file, markdown);
  const status = h("div", "nvnb-export-status");
  status.setAttribute("role", "status");
  root.append(title, hint, actions, status);
  el.append(root);

  let pending = null;
  function say(text, warn = false) {
    status.textContent = text;
    status.classList.toggle("nvnb-warn", warn);
  }
  function ask(type) {
    pending = `${type}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    say("Working…");
    model.send({ type, nonce: pending });
  }
  cells.addEventListener("click", () => ask("cells"));
  file.addEventListener("click", () => ask("download"));
  markdown.addEventListener("click", () => ask("markdown"));

  async function onMessage(msg) {
    if (!msg || !msg.nonce || msg.nonce !== pending) return;
    pending = null;
    if (msg.type === "error") return say(`⚠ ${msg.text}`, true);
    if (msg.type === "saved") return say(msg.text);
    if (msg.type === "cells") {
      const n = (await insertWithApp(el, msg.cells)) || insertWithManager(model, msg.anchor, msg.cells);
      if (n === msg.cells.length) return say(`Inserted ${n} cells below the panel.`);
      if (n > 0) return say(`⚠ Inserted ${n} of ${msg.cells.length} cells: use Download .ipynb for all of them.`, true);
      download(msg.filename, msg.notebook);
      return say(`This page does not let widgets add cells: downloaded ${msg.filename} instead.`);
    }
    if (msg.type === "download") {
      download(msg.filename, msg.notebook);
      return say(`Downloaded ${msg.filename}.`);
    }
    return undefined;
  }
  model.on("msg:custom", onMessage);

  function paint() {
    const turns = model.get("turns") || 0;
    if (!pending) say(""); // what was said concerned the conversation before this change
    hint.textContent = turns
      ? `${turns} question${turns > 1 ? "s" : ""}: each becomes a Markdown cell, a code cell that asks it again, and its answer.`
      : "Nothing to export yet: ask a question first.";
    for (const b of [cells, file, markdown]) b.disabled = !turns;
  }
  const off = onTraits(model, ["turns"], paint);
  paint();
  return () => {
    off();
    model.off("msg:custom", onMessage);
  };
}
