// The request settings of a ChatPanel: system prompt, temperature, top_p, max tokens, seed.
// Trait `values`: {system_prompt: str, temperature, top_p, max_tokens, seed} where null means
// "model default" (left out of requests). Two-way: Python binds it to the session.
import { h, keepKeys, onTraits } from "../dom.js";

const NUMBERS = [
  // name, label, kind, min, max, step, initial, help
  ["temperature", "Temperature", "range", 0, 2, 0.05, 0.5, "Randomness: 0 is nearly deterministic"],
  ["top_p", "Top p", "range", 0, 1, 0.01, 0.9, "Nucleus sampling: keep the most likely tokens up to this probability"],
  ["max_tokens", "Max tokens", "number", 1, 131072, 1, 1024, "Longest answer, in tokens"],
  ["seed", "Seed", "number", 0, 2 ** 31 - 1, 1, 42, "Same seed, same settings: the same answer (where the model supports it)"],
];

export default function settings({ model, el }) {
  const root = h("div", "nvnb-w nvnb-settings");
  root.dataset.nvnbWidget = "chat-settings";
  const sysLabel = h("label", "nvnb-settings-system");
  sysLabel.appendChild(h("span", "nvnb-settings-label", "System prompt"));
  const system = h("textarea", "nvnb-input nvnb-system");
  system.rows = 3;
  system.placeholder = "Optional: how the assistant should behave";
  system.setAttribute("aria-label", "System prompt");
  sysLabel.appendChild(system);
  root.appendChild(sysLabel);

  const rows = {};
  for (const [name, label, kind, min, max, step, initial, help] of NUMBERS) {
    const row = h("div", "nvnb-settings-row");
    row.dataset.setting = name;
    row.title = help;
    const text = h("span", "nvnb-settings-label", label);
    const input = h("input", `nvnb-input nvnb-setting-${kind}`);
    input.type = kind;
    Object.assign(input, { min: String(min), max: String(max), step: String(step) });
    input.name = name;
    input.setAttribute("aria-label", label);
    input.value = String(initial);
    const value = h("span", "nvnb-settings-value");
    const defLabel = h("label", "nvnb-check");
    const def = h("input");
    def.type = "checkbox";
    def.setAttribute("aria-label", `${label}: model default`);
    defLabel.append(def, document.createTextNode(" default"));
    row.append(text, input, value, defLabel);
    root.appendChild(row);
    rows[name] = { input, value, def, kind, initial };
    const push = () => {
      const values = { ...(model.get("values") || {}) };
      const n = Number(input.value);
      values[name] = def.checked || !Number.isFinite(n) ? null : n;
      model.set("values", values);
      model.save_changes();
    };
    input.addEventListener("input", () => {
      if (kind === "range") value.textContent = input.value;
      if (def.checked) def.checked = false;
    });
    input.addEventListener("change", push);
    def.addEventListener("change", push);
  }
  system.addEventListener("change", () => {
    model.set("values", { ...(model.get("values") || {}), system_prompt: system.value });
    model.save_changes();
  });
  el.appendChild(root);
  keepKeys(root, { keepEscape: true });

  function paint() {
    const values = model.get("values") || {};
    if (document.activeElement !== system) system.value = values.system_prompt || "";
    for (const [name, { input, value, def, kind, initial }] of Object.entries(rows)) {
      const v = values[name];
      const unset = v == null;
      def.checked = unset;
      if (document.activeElement !== input) input.value = String(unset ? initial : v);
      input.classList.toggle("nvnb-unset", unset);
      // The checkbox says "default"; the number beside a slider shows only a chosen value.
      value.textContent = !unset && kind === "range" ? String(v) : "";
    }
  }
  const off = onTraits(model, ["values"], paint);
  paint();
  return off;
}
