// Markdown → sanitised DOM, for everything rendered from model output.
//
// anywidget views get no access to JupyterLab's rendermime (and Notebook 7 is the same), so the
// Markdown is parsed by `marked` (GFM: code blocks, lists, tables) and the HTML it produces is
// cleaned by an allow-list walk over an inert DOMParser document before any of it is attached to
// the page: no script or style elements, no event-handler attributes, no javascript:/vbscript:
// or non-image data: URLs. Nodes are imported directly from the inert document (never
// re-serialised into innerHTML), so nothing can change meaning between cleaning and insertion.
import { Marked } from "marked";
import { enhanceCodeBlocks } from "./code.js";
import { sanitize } from "./sanitize.js";

const marked = new Marked({ gfm: true, breaks: false, async: false });

/** Markdown → sanitised DocumentFragment. */
export function renderMarkdown(text) {
  let html;
  try {
    html = marked.parse(text || "");
  } catch (_err) {
    const pre = document.createElement("pre");
    pre.textContent = text || "";
    const fragment = document.createDocumentFragment();
    fragment.appendChild(pre);
    return fragment;
  }
  return sanitize(html);
}

/** Replace the children of `el` with the rendered, sanitised Markdown (code blocks highlighted,
 * with Copy and Insert as cell, unless `code: false`). */
export function renderInto(el, text, { code = true } = {}) {
  el.replaceChildren(renderMarkdown(text));
  if (code) enhanceCodeBlocks(el);
}

/** Split "<think>…</think>" reasoning out of answer text (also while it is still open). */
export function splitThink(text) {
  const open = text.indexOf("<think>");
  if (open < 0 || text.slice(0, open).trim() !== "") return { reasoning: "", text };
  const close = text.indexOf("</think>", open);
  if (close < 0) return { reasoning: text.slice(open + 7), text: "" };
  return { reasoning: text.slice(open + 7, close), text: text.slice(close + 8).replace(/^\s+/, "") };
}
