// The conversation of a ChatPanel: each turn rendered as sanitised Markdown.
// Trait `turns`: [{role: "user"|"assistant", text, model, stopped, images}].
import { renderInto } from "./markdown.js";

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nvnb-w nvnb-history";
  root.dataset.nvnbWidget = "chat-history";
  el.appendChild(root);

  function paint() {
    const turns = model.get("turns") || [];
    root.replaceChildren();
    root.hidden = turns.length === 0;
    for (const turn of turns) {
      const item = document.createElement("div");
      item.className = `nvnb-turn nvnb-turn-${turn.role === "user" ? "user" : "assistant"}`;
      const who = document.createElement("div");
      who.className = "nvnb-turn-who";
      who.textContent = turn.role === "user" ? "You" : turn.model || "Assistant";
      if (turn.images) {
        const badge = document.createElement("span");
        badge.className = "nvnb-badge";
        badge.textContent = `${turn.images} image${turn.images > 1 ? "s" : ""}`;
        who.appendChild(badge);
      }
      if (turn.stopped) {
        const badge = document.createElement("span");
        badge.className = "nvnb-badge";
        badge.textContent = "stopped";
        who.appendChild(badge);
      }
      const body = document.createElement("div");
      body.className = "nvnb-turn-body nvnb-md";
      if (turn.role === "user") {
        body.classList.add("nvnb-plain");
        body.textContent = turn.text;
      } else {
        renderInto(body, turn.text);
      }
      item.append(who, body);
      root.appendChild(item);
    }
    root.scrollTop = root.scrollHeight;
  }

  model.on("change:turns", paint);
  paint();
  return () => model.off("change:turns", paint);
}

export default { render };
