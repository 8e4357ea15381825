// Every stylesheet, injected once per page (not once per widget: a ChatPanel is six widget
// models, and anywidget's `_css` would add a copy for each).
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

const CSS = [base, panel, drop, picker, steer, stream, code, codeView, arena, chatTools].join("\n");
const ID = "nvnb-styles";

export function injectStyles(doc = document) {
  const existing = doc.getElementById(ID);
  if (existing && existing.textContent === CSS) return existing;
  const style = existing || doc.createElement("style");
  style.id = ID;
  style.textContent = CSS; // a newer bundle in a live page replaces the old rules
  if (!existing) doc.head.appendChild(style);
  return style;
}
