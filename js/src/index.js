// nvnb's one front-end module. Every nvnb widget loads this bundle as its `_esm`; the trait
// `_view` says which view to draw. The Markdown renderer, sanitiser and highlighter live here
// once, shared by every view, and the stylesheet is injected once per page.
import { injectStyles } from "./styles.js";
import arena from "./views/arena.js";
import chatCode from "./views/chat_code.js";
import chatExport from "./views/chat_export.js";
import chatHistory from "./views/chat_history.js";
import composer from "./views/chat_composer.js";
import imageDrop from "./views/image_drop.js";
import modelPicker from "./views/model_picker.js";
import runStop from "./views/run_stop.js";
import settings from "./views/settings.js";
import steerSliders from "./views/steer_sliders.js";
import streamPane from "./views/stream_pane.js";
import toolbar from "./views/toolbar.js";

const VIEWS = {
  "model-arena": arena,
  "chat-code": chatCode,
  "chat-export": chatExport,
  "chat-history": chatHistory,
  "chat-composer": composer,
  "chat-settings": settings,
  "chat-toolbar": toolbar,
  "image-drop": imageDrop,
  "model-picker": modelPicker,
  "run-stop": runStop,
  "steer-sliders": steerSliders,
  "stream-pane": streamPane,
};

function render({ model, el }) {
  injectStyles(el);
  const name = model.get("_view");
  const view = VIEWS[name];
  if (!view) {
    el.textContent = `nvnb: unknown view ${JSON.stringify(name)} (front end and Python differ in version?)`;
    return undefined;
  }
  return view({ model, el });
}

export default { render };
