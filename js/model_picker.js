// ModelPicker: a searchable, filterable list of the catalog; the selected model's card.
// Traits: value (model id, two-way), models [{id, type, aliases, endpoint, capabilities, labels,
// deprecated, live}], status ("loading" | "ready" | "offline" | "error"), error (text),
// type_filter, capability_filter (two-way, so Python sees them too).
const TYPES = [
  ["", "all types"],
  ["chat", "chat"],
  ["code", "code"],
  ["vision", "vision"],
  ["steerlm", "SteerLM"],
  ["qa", "QA"],
];
const CAPS = [
  ["", "any capability"],
  ["tools", "tools"],
  ["structured_output", "structured output"],
  ["images", "images"],
];
const TYPE_NAMES = { vlm: "vision", "nv-vlm": "vision", steerlm: "SteerLM", qa: "QA" };

function el_(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function select(options, cls, label) {
  const s = el_("select", `nvnb-input ${cls}`);
  s.setAttribute("aria-label", label);
  for (const [value, text] of options) {
    const o = el_("option", null, text);
    o.value = value;
    s.appendChild(o);
  }
  return s;
}

export function matches(m, query, type, cap) {
  if (type === "vision" ? !(m.type === "vlm" || m.type === "nv-vlm") : type && m.type !== type) {
    return false;
  }
  if (cap && !(m.capabilities || []).includes(cap)) return false;
  if (!query) return true;
  const q = query.toLowerCase();
  return m.id.toLowerCase().includes(q) || (m.aliases || []).some((a) => a.toLowerCase().includes(q));
}

function render({ model, el }) {
  const root = el_("div", "nvnb-w nvnb-picker");
  root.dataset.nvnbWidget = "model-picker";
  const bar = el_("div", "nvnb-picker-bar");
  const search = el_("input", "nvnb-input nvnb-search");
  search.type = "search";
  search.placeholder = "Search models…";
  search.setAttribute("aria-label", "Search models");
  const types = select(TYPES, "nvnb-type-filter", "Model type");
  const caps = select(CAPS, "nvnb-cap-filter", "Capability");
  bar.append(search, types, caps);
  const status = el_("div", "nvnb-picker-status nvnb-muted");
  const list = el_("div", "nvnb-picker-list");
  list.setAttribute("role", "listbox");
  list.tabIndex = 0;
  const card = el_("div", "nvnb-card");
  root.append(bar, status, list, card);
  el.appendChild(root);

  function paintList() {
    const value = model.get("value");
    const models = model.get("models") || [];
    const shown = models.filter((m) =>
      matches(m, search.value.trim(), model.get("type_filter"), model.get("capability_filter")),
    );
    list.replaceChildren();
    for (const m of shown) {
      const row = el_("div", "nvnb-picker-row");
      row.setAttribute("role", "option");
      row.dataset.id = m.id;
      row.setAttribute("aria-selected", String(m.id === value));
      row.appendChild(el_("span", "nvnb-picker-id", m.id));
      row.appendChild(el_("span", "nvnb-badge", TYPE_NAMES[m.type] || m.type));
      if (m.deprecated) row.appendChild(el_("span", "nvnb-badge nvnb-deprecated", "deprecated"));
      row.addEventListener("click", () => {
        model.set("value", m.id);
        model.save_changes();
      });
      list.appendChild(row);
    }
    const count = `${shown.length} of ${models.length} models`;
    const st = model.get("status");
    const err = model.get("error");
    status.classList.toggle("nvnb-error", Boolean(err));
    status.textContent = err
      ? err
      : st === "loading"
        ? `${count} · loading the live list…`
        : st === "offline"
          ? `${count} · known catalog (live list not loaded)`
          : count;
    revealSelected();
  }

  // Bring the selected model into view inside the list (not the page), once laid out.
  let revealed = null;
  function revealSelected(tries = 20) {
    const value = model.get("value");
    if (revealed === value) return;
    requestAnimationFrame(() => {
      const row = list.querySelector('[aria-selected="true"]');
      if (!row) return;
      if (!list.clientHeight) {
        // Not laid out yet (the view is being attached): try again shortly.
        if (tries > 0) setTimeout(() => revealSelected(tries - 1), 100);
        return;
      }
      list.scrollTop = row.offsetTop - (list.clientHeight - row.offsetHeight) / 2;
      revealed = value;
    });
  }

  function paintCard() {
    const value = model.get("value");
    const m = (model.get("models") || []).find((x) => x.id === value);
    card.replaceChildren();
    const name = el_("div", "nvnb-card-title", value || "no model selected");
    card.appendChild(name);
    if (!m) {
      if (value) card.appendChild(el_("div", "nvnb-muted", "not in the catalog (sent as given)"));
      return;
    }
    const facts = [
      ["type", TYPE_NAMES[m.type] || m.type],
      ["endpoint", m.endpoint || "chat/completions"],
      ["aliases", (m.aliases || []).join(", ") || "—"],
      ["capabilities", (m.capabilities || []).join(", ").replace("structured_output", "structured output") || "—"],
    ];
    if ((m.labels || []).length) facts.push(["labels", m.labels.join(", ")]);
    if (m.deprecated) facts.push(["status", "deprecated"]);
    const dl = el_("dl", "nvnb-card-facts");
    for (const [k, v] of facts) {
      dl.appendChild(el_("dt", null, k));
      dl.appendChild(el_("dd", null, v));
    }
    card.appendChild(dl);
  }

  function paint() {
    types.value = model.get("type_filter") || "";
    caps.value = model.get("capability_filter") || "";
    paintList();
    paintCard();
  }

  search.addEventListener("input", () => {
    revealed = null;
    paintList();
  });
  search.addEventListener("keydown", (event) => event.stopPropagation());
  types.addEventListener("change", () => {
    model.set("type_filter", types.value);
    model.save_changes();
  });
  caps.addEventListener("change", () => {
    model.set("capability_filter", caps.value);
    model.save_changes();
  });
  const names = ["value", "models", "status", "error", "type_filter", "capability_filter"];
  for (const n of names) model.on(`change:${n}`, paint);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, paint);
  };
}

export default { render };
