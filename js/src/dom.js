// Small DOM helpers shared by every view.

/** An element with a class and text. */
export function h(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

/** A `<button type="button">`. */
export function button(className, text, title) {
  const b = h("button", `nvnb-button ${className || ""}`.trim(), text);
  b.type = "button";
  if (title) b.title = title;
  return b;
}

/**
 * Keep key presses inside a widget: JupyterLab and Notebook 7 handle keys on the notebook
 * (arrows move the cell selection, "a"/"b"/"dd" in command mode, Shift+Enter runs the cell), and
 * they listen on the document, so a list or slider that handles keys must stop them bubbling.
 * Escape is let through unless `keepEscape`.
 */
export function keepKeys(el, { keepEscape = false } = {}) {
  // Lumino handles shortcuts in the capture phase in Notebook 7 (before this element sees the
  // key), so stopping propagation here comes too late. It skips elements marked like this, but
  // it tests a binding's selector on the key's target before looking for the mark: a binding on
  // `.jp-Notebook.jp-mod-commandMode :focus` matches a focused slider itself, above any marked
  // ancestor. So the mark goes on the root and on whatever receives focus inside it.
  const mark = (node) => {
    node.dataset.lmSuppressShortcuts = "true";
    node.dataset.pSuppressShortcuts = "true";
  };
  mark(el);
  el.addEventListener("focusin", (event) => {
    if (event.target instanceof HTMLElement) mark(event.target);
  });
  const stop = (event) => {
    if (event.key === "Escape" && !keepEscape) return;
    event.stopPropagation();
  };
  el.addEventListener("keydown", stop);
  el.addEventListener("keypress", stop);
  el.addEventListener("keyup", stop);
}

/**
 * Keep a scroll container scrolled to the bottom while it was at the bottom: when its content
 * grows (a streamed answer, a new turn) and when it is resized (the window, the column).
 * Installed once per container, however many views live in it.
 */
export function stickToBottom(scroller) {
  if (!scroller || scroller.__nvnbStick) return;
  let atBottom = true;
  const measure = () => {
    atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 32;
  };
  const settle = () => {
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    scroller.dataset.atBottom = String(atBottom);
  };
  scroller.addEventListener("scroll", () => {
    measure();
    scroller.dataset.atBottom = String(atBottom);
  });
  const resize = new ResizeObserver(settle);
  resize.observe(scroller);
  const mutate = new MutationObserver(() => {
    settle();
    for (const child of scroller.children) resize.observe(child);
  });
  mutate.observe(scroller, { childList: true, subtree: true, characterData: true });
  for (const child of scroller.children) resize.observe(child);
  scroller.__nvnbStick = { resize, mutate };
  settle();
}

/** Call `fn` with the element's closest `selector` once the view is attached to the page. */
export function whenAttached(el, selector, fn, tries = 50) {
  const found = el.closest(selector);
  if (found) return fn(found);
  if (tries <= 0) return undefined;
  requestAnimationFrame(() => whenAttached(el, selector, fn, tries - 1));
  return undefined;
}

/** Bind `paint` to trait changes; returns the cleanup anywidget calls when the view goes. */
export function onTraits(model, names, paint) {
  for (const n of names) model.on(`change:${n}`, paint);
  return () => {
    for (const n of names) model.off(`change:${n}`, paint);
  };
}
