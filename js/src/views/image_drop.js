// ImageDrop: drag and drop, paste, or choose image files; thumbnails with size and dimensions.
// Each file travels to Python as a binary buffer in a custom message (never base64 in a trait):
//   model.send({type: "add", name, mime, size}, undefined, [arrayBuffer])
// Python validates it (Pillow), shrinks it for the request and updates the `images` trait:
// [{name, width, height, nbytes, original_width, original_height, original_nbytes, thumb}].
// Other traits: error (text shown in the widget), busy, note, compact (thumbnails only), and the
// size limits of images.js (send_limit, refuse_bytes, inline_bytes).

import { h as el_, keepKeys } from "../dom.js";
import { sendImages, sizeText as kib } from "../images.js";

export default function imageDrop({ model, el }) {
  const root = el_("div", "nvnb-w nvnb-drop");
  root.dataset.nvnbWidget = "image-drop";
  const zone = el_("div", "nvnb-drop-zone");
  zone.tabIndex = 0;
  zone.setAttribute("role", "button");
  zone.setAttribute("aria-label", "Add images: drop, paste or choose files");
  const text = el_("span", "nvnb-drop-text", "Drop images here, paste, or ");
  const choose = el_("button", "nvnb-button nvnb-choose", "choose files…");
  choose.type = "button";
  const input = el_("input", "nvnb-file");
  input.type = "file";
  input.accept = "image/*";
  input.multiple = true;
  input.hidden = true;
  zone.append(text, choose, input);
  const note = el_("div", "nvnb-muted nvnb-drop-note");
  const error = el_("div", "nvnb-error nvnb-drop-error");
  error.setAttribute("role", "alert");
  const thumbs = el_("div", "nvnb-thumbs");
  root.append(zone, note, error, thumbs);
  el.appendChild(root);

  function localError(message) {
    model.set("error", message);
    model.save_changes();
  }

  async function addFiles(files) {
    const problems = await sendImages(model, files, (text) => {
      note.textContent = text || model.get("note") || "";
      note.hidden = !note.textContent;
    });
    if (problems.length) localError(problems.join("; "));
  }

  function paint() {
    const images = model.get("images") || [];
    const err = model.get("error");
    error.hidden = !err;
    error.textContent = err || "";
    note.textContent = model.get("note") || "";
    note.hidden = !note.textContent;
    root.dataset.count = String(images.length);
    root.dataset.busy = String(model.get("busy"));
    zone.classList.toggle("nvnb-busy", Boolean(model.get("busy")));
    const compact = Boolean(model.get("compact"));
    root.dataset.compact = String(compact);
    zone.hidden = compact; // in a ChatPanel images are pasted or dropped on the prompt box
    // In a panel, "this model takes no images" matters only once images wait to be sent.
    if (compact && !images.length) note.hidden = true;
    root.hidden = compact && !images.length && !err;
    thumbs.replaceChildren();
    images.forEach((img, index) => {
      const card = el_("figure", "nvnb-thumb");
      card.dataset.name = img.name;
      const pic = el_("img");
      // Thumbnails are small JPEG data URIs made by Python; nothing else is accepted here.
      if (/^data:image\/(png|jpeg);base64,/.test(img.thumb || "")) pic.src = img.thumb;
      pic.alt = img.name;
      const cap = el_("figcaption");
      cap.appendChild(el_("span", "nvnb-thumb-name", img.name));
      const dims = `${img.width}×${img.height} · ${kib(img.nbytes)}`;
      const shrunk =
        img.original_width !== img.width || img.original_nbytes !== img.nbytes
          ? ` (from ${img.original_width}×${img.original_height}, ${kib(img.original_nbytes)})`
          : "";
      cap.appendChild(el_("span", "nvnb-thumb-dims nvnb-muted", dims + shrunk));
      const remove = el_("button", "nvnb-button nvnb-remove", "×");
      remove.type = "button";
      remove.title = `Remove ${img.name}`;
      remove.setAttribute("aria-label", `Remove ${img.name}`);
      remove.addEventListener("click", () => model.send({ type: "remove", index }));
      card.append(pic, cap, remove);
      thumbs.appendChild(card);
    });
  }

  choose.addEventListener("click", (event) => {
    event.stopPropagation();
    input.click();
  });
  zone.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    await addFiles(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.stopPropagation();
    zone.classList.add("nvnb-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("nvnb-over"));
  zone.addEventListener("drop", async (event) => {
    // Stop JupyterLab from treating the drop as a file upload into the file browser.
    event.preventDefault();
    event.stopPropagation();
    zone.classList.remove("nvnb-over");
    await addFiles(event.dataTransfer ? event.dataTransfer.files : []);
  });
  root.addEventListener("paste", async (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
    if (files.length) {
      event.preventDefault();
      event.stopPropagation();
      await addFiles(files);
    }
  });
  // Paste (Ctrl+V) must reach the paste handler, not Jupyter's command mode.
  keepKeys(zone);
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });

  const names = ["images", "error", "busy", "note", "compact"];
  for (const n of names) model.on(`change:${n}`, paint);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, paint);
  };
}

