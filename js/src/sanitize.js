// The HTML sanitiser for everything rendered from model output: an allow-list walk over an inert
// DOMParser document before any of it is attached to the page: no script or style elements, no
// event-handler attributes, no javascript:/vbscript: or non-image data: URLs. Nodes are imported
// directly from the inert document (never re-serialised into innerHTML), so nothing can change
// meaning between cleaning and insertion.

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
