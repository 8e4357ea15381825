// The prompt box of a ChatPanel, pinned under the conversation: Send (Ctrl/Cmd+Enter), Stop while
// answering, attach / paste / drop images, Retry after a failed question.
// Traits: busy, hint, failed (the question that failed: put back in the box, with Retry),
// send_limit, refuse_bytes, inline_bytes (see images.js).
// Messages to Python: {type: "send", text}, {type: "stop"}, {type: "add", ...} + one buffer.
import { button, h, keepKeys, onTraits } from "../dom.js";
import { imageFiles, sendImages } from "../images.js";

export default function composer({ model, el }) {
  const root = h("div", "nvnb-w nvnb-composer");
  root.dataset.nvnbWidget = "chat-composer";
  const area = h("textarea", "nvnb-input nvnb-prompt");
  area.placeholder = "Ask something… (Ctrl+Enter sends; paste or drop images here)";
  area.setAttribute("aria-label", "Prompt");
  area.rows = 3;
  const row = h("div", "nvnb-composer-row");
  const send = button("nvnb-primary nvnb-send", "Send", "Send (Ctrl+Enter)");
  const stop = button("nvnb-stop", "■ Stop", "Stop the answer (the text so far is kept)");
  const retry = button("nvnb-retry", "↻ Retry", "Ask the failed question again");
  const attach = button("nvnb-attach nvnb-quiet", "+ Image", "Attach images (or paste / drop them on the prompt)");
  const file = h("input", "nvnb-file");
  file.type = "file";
  file.accept = "image/*";
  file.multiple = true;
  file.hidden = true;
  const hint = h("span", "nvnb-muted nvnb-composer-hint");
  const problem = h("div", "nvnb-error nvnb-composer-error");
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  row.append(send, stop, retry, attach, file, hint);
  root.append(problem, area, row);
  el.appendChild(root);

  function paint() {
    const busy = model.get("busy");
    const failed = model.get("failed") || "";
    send.disabled = busy;
    stop.hidden = !busy;
    retry.hidden = busy || !failed;
    hint.textContent = busy ? "answering…" : model.get("hint") || "";
    root.dataset.busy = String(busy);
    root.dataset.failed = String(Boolean(failed));
    if (failed && !area.value.trim()) area.value = failed; // the failed question is never lost
  }

  function submit(text = area.value) {
    if (!text.trim() || model.get("busy")) return;
    model.send({ type: "send", text });
    area.value = "";
    problem.hidden = true;
  }

  async function addImages(files) {
    const problems = await sendImages(model, files, (note) => {
      hint.textContent = note || model.get("hint") || "";
    });
    problem.hidden = !problems.length;
    problem.textContent = problems.join("; ");
  }

  keepKeys(area);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  area.addEventListener("paste", async (event) => {
    const files = imageFiles(event.clipboardData);
    if (!files.length) return; // ordinary text paste
    event.preventDefault();
    await addImages(files);
  });
  area.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files")) {
      event.preventDefault();
      event.stopPropagation();
      root.classList.add("nvnb-over");
    }
  });
  area.addEventListener("dragleave", () => root.classList.remove("nvnb-over"));
  area.addEventListener("drop", async (event) => {
    const files = imageFiles(event.dataTransfer);
    root.classList.remove("nvnb-over");
    if (!files.length) return;
    // Keep JupyterLab from treating the drop as a file upload into the file browser.
    event.preventDefault();
    event.stopPropagation();
    await addImages(files);
  });
  send.addEventListener("click", () => submit());
  stop.addEventListener("click", () => model.send({ type: "stop" }));
  retry.addEventListener("click", () => submit(area.value.trim() ? area.value : model.get("failed")));
  attach.addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    await addImages(file.files);
    file.value = "";
  });
  const off = onTraits(model, ["busy", "hint", "failed"], paint);
  paint();
  return off;
}
