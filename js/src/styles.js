// Every stylesheet, added once per page (not once per widget: a ChatPanel is six widget models,
// and anywidget's `_css` would add a copy for each). A widget drawn inside a shadow root (marimo
// gives each anywidget its own) adopts one shared constructed sheet there instead, since a
// document's <style> does not reach into shadow roots.
import base from "./styles/nvnb.css";
import panel from "./styles/chat_panel.css";
import drop from "./styles/image_drop.css";
import picker from "./styles/model_picker.css";
import steer from "./styles/steer_sliders.css";
import stream from "./styles/stream_pane.css";
import code from "./styles/code.css";
import codeView from "./styles/code_view.css";
import arena from "./styles/arena.css";
import chatTools from "./styles/chat_tools.css";
import runStop from "./styles/run_stop.css";
import marimo from "./styles/marimo.css"; // last: inside marimo's shadow roots it maps the colours

const CSS = [
  base, panel, drop, picker, steer, stream, code, codeView, arena, chatTools, runStop, marimo,
].join("\n");
const ID = "nvnb-styles";
const SHEET = Symbol.for("nvnb.styles.sheet"); // one sheet per page, whichever bundle made it

function injectIntoDocument(doc) {
  const existing = doc.getElementById(ID);
  if (existing && existing.textContent === CSS) return existing;
  const style = existing || doc.createElement("style");
  style.id = ID;
  style.textContent = CSS; // a newer bundle in a live page replaces the old rules
  if (!existing) doc.head.appendChild(style);
  return style;
}

function sharedSheet() {
  let sheet = globalThis[SHEET];
  if (!sheet) {
    sheet = new CSSStyleSheet();
    globalThis[SHEET] = sheet;
  }
  if (sheet.nvnbText !== CSS) {
    sheet.replaceSync(CSS);
    sheet.nvnbText = CSS;
  }
  return sheet;
}

function injectIntoShadow(root) {
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet.prototype.replaceSync === "function") {
    const sheet = sharedSheet();
    if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    return sheet;
  }
  let style = root.getElementById(ID);
  if (!style) {
    style = document.createElement("style");
    style.id = ID;
    root.appendChild(style);
  }
  if (style.textContent !== CSS) style.textContent = CSS;
  return style;
}

/** Add the stylesheet where `el` is drawn: its shadow root, or the page. An element not yet in
 * the page gets it once it is (checked on the next frames). */
export function injectStyles(el) {
  const root = el && el.getRootNode ? el.getRootNode() : document;
  if (root instanceof ShadowRoot) return injectIntoShadow(root);
  if (root instanceof Document) return injectIntoDocument(root);
  injectIntoDocument(document);
  let tries = 0;
  const retry = () => {
    const now = el.getRootNode();
    if (now instanceof ShadowRoot) injectIntoShadow(now);
    else if (!(now instanceof Document) && ++tries < 60) requestAnimationFrame(retry);
  };
  requestAnimationFrame(retry);
  return undefined;
}
