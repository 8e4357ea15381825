// Code blocks in answers: syntax highlighting (highlight.js, a few common languages), a Copy
// button, and "Insert as cell" through the page's JupyterLab application when it is reachable.
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import cpp from "highlight.js/lib/languages/cpp";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { button, h } from "./dom.js";
import { sanitize } from "./sanitize.js";

for (const [name, lang] of Object.entries({
  bash, cpp, javascript, json, python, sql, typescript, xml, yaml,
})) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(["sh", "shell", "console", "zsh"], { languageName: "bash" });
hljs.registerAliases(["py", "ipython", "python3"], { languageName: "python" });
hljs.registerAliases(["js"], { languageName: "javascript" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["html"], { languageName: "xml" });
hljs.registerAliases(["c", "c++", "cuda"], { languageName: "cpp" });
hljs.registerAliases(["yml"], { languageName: "yaml" });

/** The language named by a `language-xxx` class, when highlight.js knows it. */
export function languageOf(code) {
  const cls = Array.from(code.classList).find((c) => c.startsWith("language-"));
  const name = cls ? cls.slice(9).toLowerCase() : "";
  return name && hljs.getLanguage(name) ? name : "";
}

/**
 * Highlight `code` in place. highlight.js escapes the text and adds only `<span class="hljs-…">`;
 * its HTML still goes through the sanitiser, and is used only if it shows exactly the same text.
 */
export function highlight(code) {
  const lang = languageOf(code);
  if (!lang || code.dataset.highlighted) return;
  const text = code.textContent;
  const html = hljs.highlight(text, { language: lang, ignoreIllegals: true }).value;
  const fragment = sanitize(html);
  if (fragment.textContent !== text) return;
  code.replaceChildren(fragment);
  code.classList.add("hljs");
  code.dataset.highlighted = "yes";
}

/** Copy text to the clipboard, with a fallback for contexts without the async clipboard API. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_err) {
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (_e) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** JupyterLab's (or Notebook 7's) application object, when the page exposes it. */
export function jupyterApp() {
  const app = globalThis.jupyterapp || globalThis.jupyterlab;
  return app && app.commands && app.shell ? app : null;
}

/** The notebook panel and the index of the cell that holds `el`, if any. */
export function cellOf(app, el) {
  const node = el.closest(".jp-Cell");
  const panel = app.shell.currentWidget;
  const notebook = panel && panel.content;
  if (!node || !notebook || !notebook.widgets) return null;
  const index = notebook.widgets.findIndex((w) => w.node === node);
  return index < 0 ? null : { panel, notebook, index };
}

/** Whether "Insert as cell" can work on this page. */
export function canInsertCell() {
  return jupyterApp() !== null;
}

/**
 * Insert `text` as a new code cell below the cell holding `el`, with JupyterLab's own commands
 * (`notebook:insert-cell-below`) and the cell's shared model: undo, collaboration and the
 * notebook's dirty state all work as for a cell typed by hand.
 */
export async function insertCell(el, text) {
  const app = jupyterApp();
  if (!app) return false;
  const where = cellOf(app, el);
  if (!where) return false;
  where.notebook.activeCellIndex = where.index;
  await app.commands.execute("notebook:insert-cell-below");
  const cell = where.notebook.activeCell;
  if (!cell || where.notebook.activeCellIndex !== where.index + 1) return false;
  cell.model.sharedModel.setSource(text);
  return true;
}

function flash(btn, text) {
  const old = btn.textContent;
  btn.textContent = text;
  setTimeout(() => (btn.textContent = old), 1200);
}

/** Highlight every code block under `root` and give it Copy / Insert as cell buttons. */
export function enhanceCodeBlocks(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    if (!code || pre.parentElement.classList.contains("nvnb-code")) continue;
    const text = code.textContent.replace(/\n$/, "");
    highlight(code);
    const box = h("div", "nvnb-code");
    const bar = h("div", "nvnb-code-bar");
    const lang = h("span", "nvnb-code-lang", languageOf(code) || "");
    const copy = button("nvnb-code-copy", "Copy", "Copy this code");
    copy.addEventListener("click", async () => flash(copy, (await copyText(text)) ? "Copied" : "Copy failed"));
    bar.append(lang, h("span", "nvnb-spacer"), copy);
    if (canInsertCell()) {
      const insert = button("nvnb-code-insert", "Insert as cell", "Insert this code as a new cell below");
      insert.addEventListener("click", async () =>
        flash(insert, (await insertCell(root, text)) ? "Inserted" : "Not in a notebook"),
      );
      bar.appendChild(insert);
    }
    pre.replaceWith(box);
    box.append(bar, pre);
  }
}
