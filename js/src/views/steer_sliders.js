import { keepKeys } from "../dom.js";

// SteerLM labels: one 0–9 slider per label. A label not set is left to the model ("default").
// Traits: values {label: int} (two-way), enabled [labels the current model takes], model_name.
const LABELS = [
  ["creativity", "Creativity"],
  ["complexity", "Complexity"],
  ["verbosity", "Verbosity"],
  ["quality", "Quality"],
];

export default function steerSliders({ model, el }) {
  const root = document.createElement("div");
  root.className = "nvnb-w nvnb-steer";
  root.dataset.nvnbWidget = "steer-sliders";
  const head = document.createElement("div");
  head.className = "nvnb-steer-head";
  const title = document.createElement("span");
  title.className = "nvnb-steer-title";
  title.textContent = "SteerLM labels";
  const note = document.createElement("span");
  note.className = "nvnb-muted nvnb-steer-note";
  const reset = document.createElement("button");
  reset.type = "button";
  reset.className = "nvnb-button nvnb-reset";
  reset.textContent = "Reset";
  reset.title = "Leave every label to the model's default";
  head.append(title, note, reset);
  root.appendChild(head);

  const rows = {};
  for (const [name, label] of LABELS) {
    const row = document.createElement("label");
    row.className = "nvnb-steer-row";
    row.dataset.label = name;
    const text = document.createElement("span");
    text.className = "nvnb-steer-label";
    text.textContent = label;
    const input = document.createElement("input");
    input.type = "range";
    input.min = "0";
    input.max = "9";
    input.step = "1";
    input.name = name;
    input.setAttribute("aria-label", label);
    const value = document.createElement("span");
    value.className = "nvnb-steer-value";
    row.append(text, input, value);
    root.appendChild(row);
    rows[name] = { row, input, value };
    input.addEventListener("input", () => {
      value.textContent = input.value;
    });
    input.addEventListener("change", () => {
      const values = { ...(model.get("values") || {}) };
      values[name] = Number(input.value);
      model.set("values", values);
      model.save_changes();
    });
  }
  el.appendChild(root);
  // Arrow keys move the slider, not the notebook's cell selection (JupyterLab and Notebook 7).
  keepKeys(root);

  function paint() {
    const values = model.get("values") || {};
    const enabled = model.get("enabled") || [];
    const modelName = model.get("model_name") || "";
    root.dataset.enabled = String(enabled.length > 0);
    for (const [name] of LABELS) {
      const { row, input, value } = rows[name];
      const on = enabled.includes(name);
      input.disabled = !on;
      row.classList.toggle("nvnb-off", !on);
      row.hidden = name === "quality" && !on;
      const set = Object.prototype.hasOwnProperty.call(values, name);
      input.value = String(set ? values[name] : 5);
      row.classList.toggle("nvnb-unset", !set);
      value.textContent = set ? String(values[name]) : "default";
    }
    reset.disabled = enabled.length === 0 || Object.keys(values).length === 0;
    note.textContent = enabled.length
      ? ""
      : `${modelName || "this model"} takes no labels`;
  }

  reset.addEventListener("click", () => {
    model.set("values", {});
    model.save_changes();
  });
  for (const name of ["values", "enabled", "model_name"]) model.on(`change:${name}`, paint);
  paint();
  return () => {
    for (const name of ["values", "enabled", "model_name"]) model.off(`change:${name}`, paint);
  };
}

