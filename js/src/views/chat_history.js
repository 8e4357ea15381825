// The conversation of a ChatPanel: each turn rendered as sanitised Markdown.
// Trait `turns`: [{role: "user"|"assistant", text, model, stopped, images, thumbs}] where
// `thumbs` are small JPEG data URIs of the images sent with a user turn.
// Messages to Python: {type: "edit", index, text} (replace user turn `index` and everything after it, and resend).
import { button, h, keepKeys, stickToBottom, whenAttached } from "../dom.js";
import { renderInto } from "../markdown.js";

const THUMB = /^data:image\/(png|jpeg);base64,[A-Za-z0-9+/=]+$/;

export default function chatHistory({ model, el }) {
  const root = h("div", "nvnb-w nvnb-history");
  root.dataset.nvnbWidget = "chat-history";
  el.appendChild(root);
  whenAttached(el, ".nvnb-convo", stickToBottom);
  let editing = -1;

  function userTurn(turn, index, busy) {
    const body = h("div", "nvnb-turn-body nvnb-plain");
    if (index !== editing) {
      body.textContent = turn.text;
      return [body, busy ? null : button("nvnb-turn-edit nvnb-quiet", "Edit", "Edit this question and ask again")];
    }
    const area = h("textarea", "nvnb-input nvnb-edit-box");
    area.value = turn.text;
    area.setAttribute("aria-label", "Edit the question");
    keepKeys(area);
    const resend = button("nvnb-primary nvnb-resend", "Resend", "Ask the edited question (later turns are replaced)");
    const cancel = button("nvnb-cancel", "Cancel");
    const send = () => {
      if (!area.value.trim()) return;
      editing = -1;
      model.send({ type: "edit", index, text: area.value });
      paint();
    };
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send();
      } else if (event.key === "Escape") {
        editing = -1;
        paint();
      }
    });
    resend.addEventListener("click", send);
    cancel.addEventListener("click", () => {
      editing = -1;
      paint();
    });
    const row = h("div", "nvnb-edit-row");
    row.append(resend, cancel);
    body.classList.remove("nvnb-plain");
    body.append(area, row);
    requestAnimationFrame(() => area.focus());
    return [body, null];
  }

  function paint() {
    const turns = model.get("turns") || [];
    const busy = model.get("busy");
    root.replaceChildren();
    root.hidden = turns.length === 0;
    turns.forEach((turn, index) => {
      const user = turn.role === "user";
      const item = h("div", `nvnb-turn nvnb-turn-${user ? "user" : "assistant"}`);
      item.dataset.index = String(index);
      const who = h("div", "nvnb-turn-who");
      who.appendChild(h("span", "nvnb-turn-name", user ? "You" : turn.model || "Assistant"));
      if (turn.stopped) who.appendChild(h("span", "nvnb-badge", "stopped"));
      let action = null;
      let body;
      if (user) {
        [body, action] = userTurn(turn, index, busy);
        if (action) action.addEventListener("click", () => {
          editing = index;
          paint();
        });
      } else {
        body = h("div", "nvnb-turn-body nvnb-md");
        renderInto(body, turn.text);
      }
      if (action) {
        who.appendChild(h("span", "nvnb-spacer"));
        who.appendChild(action);
      }
      item.append(who);
      const thumbs = (turn.thumbs || []).filter((t) => THUMB.test(t));
      if (user && (turn.images || thumbs.length)) {
        const strip = h("div", "nvnb-turn-images");
        thumbs.forEach((src, i) => {
          const img = h("img", "nvnb-turn-thumb");
          img.src = src;
          img.alt = `image ${i + 1} sent with this question`;
          strip.appendChild(img);
        });
        const n = turn.images || thumbs.length;
        strip.appendChild(h("span", "nvnb-badge", `${n} image${n > 1 ? "s" : ""}`));
        item.appendChild(strip);
      }
      item.appendChild(body);
      root.appendChild(item);
    });
  }

  const names = ["turns", "busy"];
  for (const n of names) model.on(`change:${n}`, paint);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, paint);
  };
}
