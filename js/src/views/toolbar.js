// The compact toolbar on top of a ChatPanel: the model (opens the model browser), Settings (opens
// the request settings and SteerLM labels), Code (the last request as code) and Export (the
// conversation as cells: chat_code.js, chat_export.js), New chat, and a line for notices.
// Popovers are the panel's own children (`.nvnb-pop-model`, `.nvnb-pop-settings`); which one is
// open is the panel's `data-open`, so opening one is instant and needs no kernel round trip.
// Traits: model, summary (the settings in use), where (requests go there), notice, busy.
// Messages to Python: {type: "clear"}.
import { button, h, onTraits, whenAttached } from "../dom.js";

export default function toolbar({ model, el }) {
  const root = h("div", "nvnb-w nvnb-toolbar");
  root.dataset.nvnbWidget = "chat-toolbar";
  const pick = button("nvnb-model-button", "", "Choose the model");
  pick.setAttribute("aria-haspopup", "dialog");
  const pickName = h("span", "nvnb-model-name");
  pick.append(pickName, h("span", "nvnb-caret", "▾"));
  const gear = button("nvnb-settings-button", "", "System prompt, temperature, top p, max tokens, seed, labels");
  gear.setAttribute("aria-haspopup", "dialog");
  const gearText = h("span", null, "Settings");
  const summary = h("span", "nvnb-settings-summary nvnb-muted");
  gear.append(gearText, summary, h("span", "nvnb-caret", "▾"));
  const spacer = h("span", "nvnb-spacer");
  const clear = button("nvnb-clear nvnb-quiet", "New chat", "Forget the conversation");
  const codeBtn = button("nvnb-code-button nvnb-quiet", "Code", "The last request as Python, %%nvchat and curl");
  const exp = button("nvnb-export nvnb-quiet", "Export", "The conversation as notebook cells, an .ipynb file or Markdown");
  for (const b of [codeBtn, exp]) b.setAttribute("aria-haspopup", "dialog");
  root.append(pick, gear, spacer, codeBtn, clear, exp);
  const notice = h("div", "nvnb-notice nvnb-muted");
  notice.setAttribute("role", "status");
  el.append(root, notice);

  let panel = null;
  whenAttached(el, ".nvnb-panel", (p) => {
    panel = p;
    paintOpen();
  });

  function paintOpen() {
    const open = panel ? panel.dataset.open || "" : "";
    pick.setAttribute("aria-expanded", String(open === "model"));
    gear.setAttribute("aria-expanded", String(open === "settings"));
    codeBtn.setAttribute("aria-expanded", String(open === "code"));
    exp.setAttribute("aria-expanded", String(open === "export"));
  }

  function toggle(which) {
    if (!panel) panel = el.closest(".nvnb-panel");
    if (!panel) return;
    // Popovers open under the toolbar, which wraps onto two rows in a narrow column.
    const top = el.getBoundingClientRect().bottom - panel.getBoundingClientRect().top + 4;
    panel.style.setProperty("--nvnb-pop-top", `${Math.round(top)}px`);
    if (panel.dataset.open === which) delete panel.dataset.open;
    else panel.dataset.open = which;
    paintOpen();
    if (panel.dataset.open === "model") {
      const search = panel.querySelector(".nvnb-pop-model .nvnb-search");
      if (search) requestAnimationFrame(() => search.focus());
    }
  }

  pick.addEventListener("click", () => toggle("model"));
  gear.addEventListener("click", () => toggle("settings"));
  clear.addEventListener("click", () => model.send({ type: "clear" }));
  codeBtn.addEventListener("click", () => toggle("code"));
  exp.addEventListener("click", () => toggle("export"));

  // Close a popover on Escape or on a click outside it (and outside the toolbar).
  const onDocClick = (event) => {
    if (!panel || !panel.dataset.open) return;
    const pop = panel.querySelector(`.nvnb-pop-${panel.dataset.open}`);
    if (root.contains(event.target) || (pop && pop.contains(event.target))) return;
    delete panel.dataset.open;
    paintOpen();
  };
  const onKey = (event) => {
    if (event.key !== "Escape" || !panel || !panel.dataset.open) return;
    if (!panel.contains(event.target)) return;
    event.stopPropagation();
    delete panel.dataset.open;
    paintOpen();
    (panel.querySelector(".nvnb-prompt") || pick).focus();
  };
  document.addEventListener("mousedown", onDocClick, true);
  document.addEventListener("keydown", onKey, true);
  const observer = new MutationObserver(paintOpen);
  whenAttached(el, ".nvnb-panel", (p) => observer.observe(p, { attributes: true, attributeFilter: ["data-open"] }));

  function paint() {
    pickName.textContent = model.get("model") || "choose a model";
    summary.textContent = model.get("summary") || "";
    summary.hidden = !summary.textContent;
    pick.title = `Model: ${model.get("model")}\nRequests go to ${model.get("where") || "the default endpoint"}`;
    const text = model.get("notice") || "";
    notice.textContent = text;
    notice.hidden = !text;
    notice.classList.toggle("nvnb-warn", text.startsWith("⚠"));
    clear.disabled = Boolean(model.get("busy"));
  }
  const off = onTraits(model, ["model", "summary", "where", "notice", "busy"], paint);
  paint();
  return () => {
    off();
    observer.disconnect();
    document.removeEventListener("mousedown", onDocClick, true);
    document.removeEventListener("keydown", onKey, true);
  };
}
