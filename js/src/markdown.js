// Markdown → sanitised DOM, for everything rendered from model output.
//
// anywidget views get no access to JupyterLab's rendermime (and Notebook 7 is the same), so the
// Markdown is parsed by `marked` (GFM: code blocks, lists, tables) and the HTML it produces is
// cleaned by an allow-list walk over an inert DOMParser document before any of it is attached to
// the page: no script or style elements, no event-handler attributes, no javascript:/vbscript:
// or non-image data: URLs. Nodes are imported directly from the inert document (never
// re-serialised into innerHTML), so nothing can change meaning between cleaning and insertion.
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: false, async: false });

// Elements kept as they are (with the attributes listed for them, plus the GLOBAL ones).
const ALLOWED = {
  a: ["href", "title"],
  abbr: ["title"],
  b: [], blockquote: [], br: [], code: [], del: [], details: ["open"], div: [], em: [],
  h1: [], h2: [], h3: [], h4: [], h5: [], h6: [], hr: [], i: [], kbd: [],
  img: ["src", "alt", "title", "width", "height"],
  input: ["type", "checked", "disabled"], // GFM task lists only (checked below)
  li: [], ol: ["start"], p: [], pre: [], q: [], s: [], samp: [], small: [], span: [],
  strong: [], sub: [], summary: [], sup: [],
  table: [], tbody: [], td: ["align", "colspan", "rowspan"], tfoot: [],
  th: ["align", "colspan", "rowspan"], thead: [], tr: [], u: [], ul: [],
};
const GLOBAL = ["class", "lang", "dir"];
// Elements removed together with their content; any other unknown element is unwrapped (its
// text stays visible, e.g. a model writing "<think>" or "<answer>").
const DROP = new Set([
  "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "template",
  "svg", "math", "form", "button", "textarea", "select", "option", "link", "meta", "base",
  "noscript", "audio", "video", "source", "track", "canvas", "portal", "head", "title",
]);
const SAFE_HREF = /^(https?:|mailto:|#)/i;
const SAFE_IMG = /^(https?:|data:image\/(png|jpe?g|gif|webp);)/i;

function cleanAttributes(el, tag) {
  const allowed = ALLOWED[tag];
  for (const attr of Array.from(el.attributes)) {
    const name = attr.name.toLowerCase();
    if (!(allowed.includes(name) || GLOBAL.includes(name))) {
      el.removeAttribute(attr.name);
      continue;
    }
    // Browsers ignore control characters and spaces inside a scheme ("java\nscript:").
    const value = attr.value.replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
    if (name === "href" && !SAFE_HREF.test(value)) el.removeAttribute(attr.name);
    if (name === "src" && !SAFE_IMG.test(value)) el.removeAttribute(attr.name);
  }
  if (tag === "a" && el.hasAttribute("href")) {
    el.setAttribute("target", "_blank");
    el.setAttribute("rel", "noopener noreferrer nofollow");
  }
  if (tag === "input") {
    if ((el.getAttribute("type") || "").toLowerCase() !== "checkbox") return false;
    el.setAttribute("disabled", "");
  }
  return true;
}

function cleanTree(parent) {
  for (const node of Array.from(parent.childNodes)) {
    if (node.nodeType === 3) continue; // text
    if (node.nodeType !== 1) {
      node.remove(); // comments, processing instructions, CDATA
      continue;
    }
    const tag = node.localName;
    if (DROP.has(tag)) {
      node.remove();
      continue;
    }
    cleanTree(node);
    if (!(tag in ALLOWED)) {
      node.replaceWith(...Array.from(node.childNodes));
      continue;
    }
    if (!cleanAttributes(node, tag)) node.remove();
  }
}

/** Parse `html` inertly, clean it, and return a DocumentFragment for this document. */
export function sanitize(html) {
  const doc = new DOMParser().parseFromString(`<!doctype html><body>${html}`, "text/html");
  cleanTree(doc.body);
  const fragment = document.createDocumentFragment();
  for (const node of Array.from(doc.body.childNodes)) {
    fragment.appendChild(document.importNode(node, true));
  }
  return fragment;
}

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

/** Replace the children of `el` with the rendered, sanitised Markdown. */
export function renderInto(el, text) {
  el.replaceChildren(renderMarkdown(text));
}

/** Split "<think>…</think>" reasoning out of answer text (also while it is still open). */
export function splitThink(text) {
  const open = text.indexOf("<think>");
  if (open < 0 || text.slice(0, open).trim() !== "") return { reasoning: "", text };
  const close = text.indexOf("</think>", open);
  if (close < 0) return { reasoning: text.slice(open + 7), text: "" };
  return { reasoning: text.slice(open + 7, close), text: text.slice(close + 8).replace(/^\s+/, "") };
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
