// ModelPicker: a searchable, filterable list of the catalog; the selected model's card.
// Traits: value (model id, two-way), models [{id, type, aliases, endpoint, capabilities, labels,
// deprecated, live, description, context_length, license, url}], status ("loading" | "ready" |
// "offline" | "error"), error, type_filter, capability_filter, show_deprecated (two-way),
// base_url (where requests go).
import { h, keepKeys, onTraits } from "../dom.js";

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
const CAP_NAMES = { structured_output: "structured output" };

function select(options, cls, label) {
  const s = h("select", `nvnb-input ${cls}`);
  s.setAttribute("aria-label", label);
  for (const [value, text] of options) {
    const o = h("option", null, text);
    o.value = value;
    s.appendChild(o);
  }
  return s;
}

/** The words a model is found by: id, aliases, type (and its display name), capabilities, description. */
function haystack(m) {
  const caps = m.capabilities || [];
  return [
    m.id,
    ...(m.aliases || []),
    m.type,
    TYPE_NAMES[m.type] || "",
    ...caps,
    ...caps.map((c) => CAP_NAMES[c] || ""),
    m.description || "",
  ]
    .join(" \n")
    .toLowerCase();
}

/** Whether model `m` is shown for this search (every word must match somewhere). Deprecated
 * models are hidden unless asked for, except the `current` one. */
export function matches(m, query, type, cap, showDeprecated, current) {
  if (m.deprecated && !showDeprecated && m.id !== current) return false;
  if (type === "vision" ? !(m.type === "vlm" || m.type === "nv-vlm") : type && m.type !== type) {
    return false;
  }
  if (cap && !(m.capabilities || []).includes(cap)) return false;
  const words = (query || "").toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const text = haystack(m);
  return words.every((w) => text.includes(w));
}

export default function modelPicker({ model, el }) {
  const root = h("div", "nvnb-w nvnb-picker");
  root.dataset.nvnbWidget = "model-picker";
  const bar = h("div", "nvnb-picker-bar");
  const search = h("input", "nvnb-input nvnb-search");
  search.type = "search";
  search.placeholder = "Search id, type, capability, description…";
  search.setAttribute("aria-label", "Search models");
  const types = select(TYPES, "nvnb-type-filter", "Model type");
  const caps = select(CAPS, "nvnb-cap-filter", "Capability");
  const depLabel = h("label", "nvnb-check nvnb-show-deprecated");
  const dep = h("input");
  dep.type = "checkbox";
  depLabel.append(dep, document.createTextNode(" deprecated"));
  depLabel.title = "Also list deprecated models";
  bar.append(search, types, caps, depLabel);
  const status = h("div", "nvnb-picker-status nvnb-muted");
  const list = h("div", "nvnb-picker-list");
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Models");
  list.tabIndex = 0;
  const card = h("div", "nvnb-card");
  root.append(bar, status, list, card);
  el.appendChild(root);
  keepKeys(root, { keepEscape: true });

  let shown = [];
  let cursor = -1; // keyboard position in `shown`

  function choose(id, close) {
    model.set("value", id);
    model.save_changes();
    if (close) {
      const panel = el.closest(".nvnb-panel");
      if (panel && panel.dataset.open === "model") delete panel.dataset.open;
    }
  }

  function paintList() {
    const value = model.get("value");
    const models = model.get("models") || [];
    const showDep = Boolean(model.get("show_deprecated"));
    shown = models.filter((m) =>
      matches(m, search.value.trim(), model.get("type_filter"), model.get("capability_filter"), showDep, value),
    );
    if (cursor >= shown.length) cursor = shown.length - 1;
    list.replaceChildren();
    shown.forEach((m, i) => {
      const row = h("div", "nvnb-picker-row");
      row.setAttribute("role", "option");
      row.dataset.id = m.id;
      row.setAttribute("aria-selected", String(m.id === value));
      if (i === cursor) row.classList.add("nvnb-cursor");
      row.appendChild(h("span", "nvnb-picker-id", m.id));
      row.appendChild(h("span", "nvnb-badge", TYPE_NAMES[m.type] || m.type));
      if (m.deprecated) row.appendChild(h("span", "nvnb-badge nvnb-deprecated", "deprecated"));
      row.addEventListener("click", () => {
        cursor = i;
        choose(m.id, true);
      });
      list.appendChild(row);
    });
    const hidden = showDep ? 0 : models.filter((m) => m.deprecated).length;
    const count = `${shown.length} of ${models.length} models${hidden ? ` (${hidden} deprecated hidden)` : ""}`;
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

  // Bring the selected (or keyboard) row into view inside the list (not the page), once laid out.
  let revealed = null;
  function revealSelected(tries = 20) {
    const key = `${model.get("value")}|${cursor}`;
    if (revealed === key) return;
    requestAnimationFrame(() => {
      const row = list.querySelector(".nvnb-cursor") || list.querySelector('[aria-selected="true"]');
      if (!row) return;
      if (!list.clientHeight) {
        if (tries > 0) setTimeout(() => revealSelected(tries - 1), 100);
        return;
      }
      const top = row.offsetTop;
      if (top < list.scrollTop || top + row.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = top - (list.clientHeight - row.offsetHeight) / 2;
      }
      revealed = key;
    });
  }

  function fact(dl, k, v) {
    if (v == null || v === "") return;
    dl.appendChild(h("dt", null, k));
    const dd = h("dd");
    if (v instanceof Node) dd.appendChild(v);
    else dd.textContent = v;
    dl.appendChild(dd);
  }

  function paintCard() {
    const value = model.get("value");
    const m = (model.get("models") || []).find((x) => x.id === value);
    card.replaceChildren();
    card.appendChild(h("div", "nvnb-card-title", value || "no model selected"));
    const dl = h("dl", "nvnb-card-facts");
    if (!m) {
      if (value) card.appendChild(h("div", "nvnb-muted", "not in the catalog (sent as given)"));
    } else {
      if (m.description) card.appendChild(h("div", "nvnb-card-desc", m.description));
      fact(dl, "type", TYPE_NAMES[m.type] || m.type);
      fact(dl, "capabilities", (m.capabilities || []).map((c) => CAP_NAMES[c] || c).join(", ") || "—");
      if (m.context_length) fact(dl, "context", `${Number(m.context_length).toLocaleString("en")} tokens`);
      if ((m.labels || []).length) fact(dl, "labels", m.labels.join(", "));
      if ((m.aliases || []).length) fact(dl, "aliases", m.aliases.join(", "));
      fact(dl, "licence", m.license);
      if (m.deprecated) fact(dl, "status", "deprecated");
      if (m.url && /^https:\/\//.test(m.url)) {
        const a = h("a", "nvnb-card-link", "model page ↗");
        a.href = m.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        fact(dl, "more", a);
      }
    }
    const base = model.get("base_url") || "";
    const endpoint = (m && m.endpoint) || "chat/completions";
    fact(dl, "requests to", base ? `${base.replace(/\/+$/, "")}/${endpoint}` : endpoint);
    card.appendChild(dl);
  }

  function paint() {
    types.value = model.get("type_filter") || "";
    caps.value = model.get("capability_filter") || "";
    dep.checked = Boolean(model.get("show_deprecated"));
    paintList();
    paintCard();
  }

  search.addEventListener("input", () => {
    revealed = null;
    cursor = -1;
    paintList();
  });
  function onKey(event) {
    if (!["ArrowDown", "ArrowUp", "Enter", "Home", "End"].includes(event.key)) return;
    if (event.target === search && (event.key === "Home" || event.key === "End")) return;
    if (!shown.length) return;
    event.preventDefault();
    if (cursor < 0) cursor = Math.max(0, shown.findIndex((m) => m.id === model.get("value")));
    else if (event.key === "ArrowDown") cursor = Math.min(shown.length - 1, cursor + 1);
    else if (event.key === "ArrowUp") cursor = Math.max(0, cursor - 1);
    else if (event.key === "Home") cursor = 0;
    else if (event.key === "End") cursor = shown.length - 1;
    if (event.key === "Enter") {
      choose(shown[cursor].id, true);
      return;
    }
    choose(shown[cursor].id, false);
  }
  search.addEventListener("keydown", onKey);
  list.addEventListener("keydown", onKey);
  types.addEventListener("change", () => {
    model.set("type_filter", types.value);
    model.save_changes();
  });
  caps.addEventListener("change", () => {
    model.set("capability_filter", caps.value);
    model.save_changes();
  });
  dep.addEventListener("change", () => {
    model.set("show_deprecated", dep.checked);
    model.save_changes();
  });
  const names = ["value", "models", "status", "error", "type_filter", "capability_filter", "show_deprecated", "base_url"];
  const off = onTraits(model, names, paint);
  paint();
  return off;
}
