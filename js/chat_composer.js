// The prompt box of a ChatPanel: Send (Ctrl/Cmd+Enter), Clear, Export.
// Messages to Python: {type: "send", text}, {type: "clear"}, {type: "export"}.
// From Python: {type: "download", filename, text} (the exported Markdown).

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "nvnb-w nvnb-composer";
  root.dataset.nvnbWidget = "chat-composer";
  const area = document.createElement("textarea");
  area.className = "nvnb-input nvnb-prompt";
  area.placeholder = "Ask something… (Ctrl+Enter sends)";
  area.setAttribute("aria-label", "Prompt");
  const row = document.createElement("div");
  row.className = "nvnb-composer-row";
  const send = document.createElement("button");
  send.type = "button";
  send.className = "nvnb-button nvnb-primary nvnb-send";
  send.textContent = "Send";
  const hint = document.createElement("span");
  hint.className = "nvnb-muted nvnb-composer-hint";
  const spacer = document.createElement("span");
  spacer.className = "nvnb-spacer";
  const clear = document.createElement("button");
  clear.type = "button";
  clear.className = "nvnb-button nvnb-clear";
  clear.textContent = "Clear";
  clear.title = "Forget the conversation";
  const exp = document.createElement("button");
  exp.type = "button";
  exp.className = "nvnb-button nvnb-export";
  exp.textContent = "Export";
  exp.title = "Download the conversation as Markdown";
  row.append(send, hint, spacer, clear, exp);
  root.append(area, row);
  el.appendChild(root);

  function paint() {
    const busy = model.get("busy");
    send.disabled = busy;
    hint.textContent = busy ? "answering…" : model.get("hint") || "";
    root.dataset.busy = String(busy);
  }

  function submit() {
    const text = area.value;
    if (!text.trim() || model.get("busy")) return;
    model.send({ type: "send", text });
    area.value = "";
  }

  // Keep Jupyter's own shortcuts (Shift+Enter runs the cell, "a"/"b" in command mode, ...) away
  // from the prompt box while it has the focus.
  area.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  send.addEventListener("click", submit);
  clear.addEventListener("click", () => model.send({ type: "clear" }));
  exp.addEventListener("click", () => model.send({ type: "export" }));

  function onMessage(msg) {
    if (msg && msg.type === "download") {
      const blob = new Blob([msg.text], { type: "text/markdown" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = msg.filename || "conversation.md";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    }
  }
  model.on("msg:custom", onMessage);
  model.on("change:busy", paint);
  model.on("change:hint", paint);
  paint();
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:busy", paint);
    model.off("change:hint", paint);
  };
}

export default { render };
