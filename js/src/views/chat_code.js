// The ChatPanel's Code popover: the request of the session's last answer (before any, the request
// the current settings would make) as Python, %%nvchat, curl, its exact JSON body and the
// response headers, drawn by code_view.js as in the Arena (Copy, Insert as cell). The key is
// never in it. Opening the popover (the toolbar's Code) asks Python for the current view.
// Trait: view ({python, nvchat, curl, body, headers, notes, model, sent} or {error}).
// Messages to Python: {type: "open"}, {type: "close"}.
import { h, onTraits, whenAttached } from "../dom.js";
import { renderCodeView } from "./code_view.js";

export default function chatCode({ model, el }) {
  const root = h("div", "nvnb-w nvnb-chat-code");
  root.dataset.nvnbWidget = "chat-code";
  const code = h("div", "nvnb-code nvnb-chat-codeview");
  root.append(code);
  el.append(root);

  let panel = null;
  let open = false;
  const close = () => {
    if (panel && panel.dataset.open === "code") delete panel.dataset.open;
  };

  function paint() {
    const view = model.get("view") || {};
    if (view.error) {
      code.replaceChildren(h("div", "nvnb-code-error nvnb-warn", `⚠ ${view.error}`));
    } else if (!view.python) {
      code.replaceChildren(h("div", "nvnb-muted", "Reading the last request…"));
    } else {
      const title = view.sent ? `Last request · ${view.model}` : `${view.model} · current settings, nothing sent yet`;
      renderCodeView(code, view, { title, fallback: "panel.insert_code", onClose: close });
    }
  }

  function onOpen() {
    const now = Boolean(panel) && panel.dataset.open === "code";
    if (now === open) return;
    open = now;
    model.send({ type: open ? "open" : "close" });
  }
  const observer = new MutationObserver(onOpen);
  whenAttached(el, ".nvnb-panel", (p) => {
    panel = p;
    observer.observe(p, { attributes: true, attributeFilter: ["data-open"] });
    onOpen();
  });
  const off = onTraits(model, ["view"], paint);
  paint();
  return () => {
    off();
    observer.disconnect();
  };
}
