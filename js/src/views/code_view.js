// The Code view: a request as Python, %%nvchat, curl, its JSON body and the response headers,
// with Copy and "Insert as cell". Shared by the Arena and the ChatPanel: the widget puts a
// `view` ({python, nvchat, curl, body, headers, notes}) in a trait and calls renderCodeView.
//
// "Insert as cell" uses the app's own commands when the page exposes it (../code.js); otherwise it does what a person would with the keyboard
// (B for a new cell below, Enter to edit it, then types the text), checks the new cell holds
// it, and if not copies the text and says how to paste it.
import { copyText, insertCell } from "../code.js";
import { button, h } from "../dom.js";

const TABS = [
  ["python", "Python"],
  ["nvchat", "%%nvchat"],
  ["curl", "curl"],
  ["body", "Request body"],
  ["headers", "Response"],
];

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(test, ms = 2000) {
  for (let waited = 0; waited < ms; waited += 50) {
    if (test()) return true;
    await pause(50);
  }
  return test();
}

function key(target, code, keyName, keyCode) {
  const init = { key: keyName, code, keyCode, which: keyCode, bubbles: true, cancelable: true, composed: true };
  target.dispatchEvent(new KeyboardEvent("keydown", init));
  target.dispatchEvent(new KeyboardEvent("keyup", init));
}

/** Without the app object, do what a person would: with this output's cell selected in command
 * mode (clicking the button selected it), press B (new cell below), Enter (edit it), and type the
 * text into the new cell's editor. Checked afterwards: false if no new cell holds the text. */
async function insertByKeys(from, text) {
  const cell = from.closest(".jp-Cell");
  const notebook = from.closest(".jp-Notebook");
  if (!cell || !notebook || !notebook.classList.contains("jp-mod-commandMode")) return false;
  const count = notebook.querySelectorAll(".jp-Cell").length;
  from.focus();
  key(from, "KeyB", "b", 66);
  if (!(await until(() => notebook.querySelectorAll(".jp-Cell").length === count + 1))) return false;
  const added = cell.nextElementSibling;
  if (!added || !added.classList.contains("jp-Cell")) return false;
  key(document.activeElement || notebook, "Enter", "Enter", 13);
  if (!(await until(() => added.querySelector(".cm-content")))) return false;
  const editor = added.querySelector(".cm-content");
  await until(() => document.activeElement === editor, 1000);
  if (document.activeElement !== editor) editor.focus();
  document.execCommand("insertText", false, text);
  await pause(50);
  const first = text.split("\n")[0];
  return (added.querySelector(".cm-content").textContent || "").includes(first.slice(0, 40));
}

// marimo draws each widget in a shadow root of <marimo-anywidget> and gives widgets no way to add
// cells, so there the view offers Copy only.
const inMarimo = (el) => el.getRootNode().host?.tagName === "MARIMO-ANYWIDGET";

export function renderCodeView(code, view, { title: heading, fallback, onClose }) {
  const state = code._nvnbCodeView || (code._nvnbCodeView = { tab: "python" });
  code.replaceChildren();
  const bar = h("div", "nvnb-code-bar");
  const title = h("span", "nvnb-code-title", heading);
  bar.appendChild(title);
  const tabs = h("div", "nvnb-code-tabs");
  tabs.setAttribute("role", "tablist");
  for (const [key, label] of TABS) {
    const tab = button("nvnb-code-tab", label);
    tab.setAttribute("role", "tab");
    tab.dataset.tab = key;
    tab.setAttribute("aria-selected", String(key === state.tab));
    tab.addEventListener("click", () => {
      state.tab = key;
      renderCodeView(code, view, { title: heading, fallback, onClose });
    });
    tabs.appendChild(tab);
  }
  const spacer = h("span", "nvnb-spacer");
  const copy = button("nvnb-code-copy", "Copy", "Copy this form");
  const insert = button("nvnb-code-insert", "Insert as cell", "Put this form into a new cell below");
  const close = button("nvnb-code-close", "×", "Close the Code view");
  bar.append(tabs, spacer, copy, insert, close);
  const text = view[state.tab] || "";
  const pre = h("pre", "nvnb-code-source");
  pre.dataset.tab = state.tab;
  pre.textContent = text;
  const notes = h("ul", "nvnb-code-notes nvnb-muted");
  for (const note of view.notes || []) notes.appendChild(h("li", null, note));
  notes.hidden = !(view.notes || []).length || state.tab !== "nvchat";
  const status = h("div", "nvnb-code-status nvnb-muted");
  status.setAttribute("role", "status");
  code.append(bar, pre, notes, status);
  insert.hidden = state.tab === "headers" || inMarimo(code);
  copy.addEventListener("click", async () => {
    const ok = await copyText(text);
    status.textContent = ok ? "Copied." : "Copy failed: select the text and copy it.";
  });
  insert.addEventListener("click", async () => {
    const source = state.tab === "curl" ? `%%bash\n${text}` : state.tab === "body" ? `body = ${text}` : text;
    if ((await insertCell(insert, source)) || (await insertByKeys(insert, source))) {
      status.textContent = "Inserted as a new cell below.";
      return;
    }
    const ok = await copyText(source);
    status.textContent = ok
      ? "Copied: this page does not let widgets add cells, so paste it into a new cell (Esc B, then Ctrl+V)."
      : `This page does not let widgets add cells: run ${fallback}("${state.tab}") in a cell.`;
  });
  close.addEventListener("click", () => onClose && onClose());
}
