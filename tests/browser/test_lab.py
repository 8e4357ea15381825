"""ChatPanel in a real JupyterLab: models, SteerLM labels, images, streaming, stop, safety, theme.

The tests share one page (module scope) and run in file order, as a person would use the panel.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from labtools import run_all, shot, start_kernel
from PIL import Image

PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"
SLOW = ".jp-Cell:nth-child(2) .jp-OutputArea"


@pytest.fixture(scope="module")
def page(browser: Any, lab: str) -> Any:
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    start_kernel(lab, "panel.ipynb")
    page.goto(f"{lab}/lab/tree/panel.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, until=f"{SLOW} [data-nvnb-widget='chat-composer']")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-composer']")
    yield page
    context.close()


def pick(page: Any, where: str, query: str, model_id: str) -> None:
    page.fill(f"{where} .nvnb-search", query)
    page.click(f"{where} .nvnb-picker-row[data-id='{model_id}']")
    page.wait_for_selector(f"{where} .nvnb-picker-row[data-id='{model_id}'][aria-selected='true']")


def ask(page: Any, where: str, prompt: str) -> int:
    """Type a prompt and send it with Ctrl+Enter; return the number of this answer in the pane."""
    starts = int(page.get_attribute(f"{where} .nvnb-stream", "data-starts") or 0)
    box = page.locator(f"{where} textarea.nvnb-prompt")
    box.fill(prompt)
    box.press("Control+Enter")
    return starts + 1


def wait_status(
    page: Any, where: str, status: str, answer: int | None = None, timeout: float = 30_000
) -> None:
    """Wait for the pane's status (of answer number ``answer``, when given)."""
    nth = f"[data-starts='{answer}']" if answer is not None else ""
    page.wait_for_selector(f"{where} .nvnb-stream[data-status='{status}']{nth}", timeout=timeout)


def answer_text(page: Any, where: str) -> str:
    return page.inner_text(f"{where} .nvnb-answer")


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def test_the_chat_panel_shows_every_part(page):
    for part in ("model-picker", "steer-sliders", "image-drop", "stream-pane", "chat-composer"):
        assert page.locator(f"{PANEL} [data-nvnb-widget='{part}']").count() == 1, part
    assert page.locator(f"{PANEL} .nvnb-picker-row").count() > 100
    assert page.locator(f"{PANEL} [data-nvnb-widget='steer-sliders'][data-enabled='false']").count()
    shot(page, "01-panel", page.locator(".jp-Cell").first)
    # Filters (in the second panel, so the first keeps its full list)
    rows = page.locator(f"{SLOW} .nvnb-picker-row")
    total = rows.count()
    page.select_option(f"{SLOW} select.nvnb-type-filter", "steerlm")
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel).length === 1", arg=f"{SLOW} .nvnb-picker-row"
    )
    page.select_option(f"{SLOW} select.nvnb-type-filter", "")
    page.select_option(f"{SLOW} select.nvnb-cap-filter", "tools")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length < n",
        arg=[f"{SLOW} .nvnb-picker-row", total],
    )
    assert 10 < rows.count() < total
    page.select_option(f"{SLOW} select.nvnb-cap-filter", "")


def test_a_steerlm_model_and_a_moved_slider_send_the_labels(page, servers):
    fast, _ = servers
    pick(page, PANEL, "steerlm", "nvidia/nemotron-steerlm-8b")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='steer-sliders'][data-enabled='true']")
    creativity = page.locator(f"{PANEL} input[name='creativity']")
    creativity.focus()
    creativity.press("End")  # the keyboard moves a range input to its maximum, 9
    verbosity = page.locator(f"{PANEL} input[name='verbosity']")
    verbosity.focus()
    verbosity.press("Home")
    page.wait_for_selector(f"{PANEL} .nvnb-steer-row[data-label='verbosity'] >> text='0'")
    fast.clear()
    n = ask(page, PANEL, "Tell me about GPUs")
    wait_status(page, PANEL, "done", n)
    (body,) = chat_bodies(fast)
    assert body["model"] == "nvidia/nemotron-steerlm-8b"
    assert body["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 9, "verbosity": 0},
    }
    assert "Tell me about GPUs" in answer_text(page, PANEL)
    shot(page, "02-steerlm-labels", page.locator(".jp-Cell").first)


def _png(size: tuple[int, int], color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


DROP_JS = """([selector, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


PASTE_JS = """([selector, b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  document.querySelector(selector).dispatchEvent(new ClipboardEvent("paste", init));
}"""


def test_a_dropped_image_reaches_the_model_which_answers_about_it(page, servers):
    fast, _ = servers
    pick(page, PANEL, "llama-3.2-11b-vision", "meta/llama-3.2-11b-vision-instruct")
    # A file that is not an image, through the file chooser: a message in the widget.
    page.set_input_files(
        f"{PANEL} input.nvnb-file",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"}],
    )
    error = page.locator(f"{PANEL} .nvnb-drop-error")
    error.wait_for(state="visible")
    assert "notes.txt" in error.inner_text()
    # A pasted image shows up, and its remove button takes it away again.
    blue = base64.b64encode(_png((32, 32), "blue")).decode()
    page.evaluate(PASTE_JS, [f"{PANEL} .nvnb-drop-zone", blue, "pasted.png"])
    pasted = page.locator(f"{PANEL} .nvnb-thumb[data-name='pasted.png']")
    pasted.wait_for()
    pasted.locator(".nvnb-remove").click()
    pasted.wait_for(state="detached")
    # A real DataTransfer drop of a 64×48 red PNG.
    data = base64.b64encode(_png((64, 48), "red")).decode()
    page.evaluate(DROP_JS, [f"{PANEL} .nvnb-drop-zone", data, "red-square.png"])
    page.wait_for_selector(f"{PANEL} .nvnb-thumb[data-name='red-square.png']")
    assert "64×48" in page.inner_text(f"{PANEL} .nvnb-thumb")
    assert not error.is_visible()
    shot(page, "03-image-attached", page.locator(".jp-Cell").first)
    fast.clear()
    n = ask(page, PANEL, "What is in this image?")
    wait_status(page, PANEL, "done", n)
    text = answer_text(page, PANEL)
    assert "64×48" in text and "red" in text, text
    (body,) = chat_bodies(fast)
    parts = body["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in parts)
    assert page.locator(f"{PANEL} .nvnb-thumb").count() == 0  # sent with this question
    shot(page, "04-image-answer", page.locator(".jp-Cell").first)


def test_an_answer_grows_while_it_streams_and_stop_keeps_the_partial_text(page):
    n = ask(page, SLOW, "Tell me a very long story about GPUs")
    wait_status(page, SLOW, "streaming", n)
    pane = f"{SLOW} .nvnb-stream"
    lengths = []
    for _ in range(4):
        page.wait_for_timeout(400)
        lengths.append(int(page.get_attribute(pane, "data-length") or 0))
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0] > 0, lengths
    assert int(page.get_attribute(pane, "data-deltas") or 0) > 2
    shot(page, "05-streaming", page.locator(".jp-Cell").nth(1))
    page.click(f"{SLOW} .nvnb-stop")
    wait_status(page, SLOW, "stopped")
    kept = answer_text(page, SLOW)
    page.wait_for_timeout(800)
    assert answer_text(page, SLOW) == kept
    assert 0 < len(kept) < 8000
    assert kept.startswith("This is the local nvnb server")
    assert page.inner_text(f"{SLOW} .nvnb-stream-status") == "stopped"
    assert "tokens" in page.inner_text(f"{SLOW} .nvnb-stream-stats")
    page.click(f"{SLOW} .nvnb-copy")
    page.wait_for_selector(f"{SLOW} .nvnb-copy >> text=Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("This is the local nvnb server") and len(copied) >= len(kept) - 5
    shot(page, "06-stopped", page.locator(".jp-Cell").nth(1))


XSS = (
    'Render <img src=x onerror="window.__nvnbPwned=1"> and '
    "<script>window.__nvnbPwned=2</script> and [a link](javascript:window.__nvnbPwned=3) "
    'and <a href="javascript:window.__nvnbPwned=4" onclick="window.__nvnbPwned=5">b</a>'
)


def test_model_output_is_sanitised_nothing_runs(page):
    n = ask(page, PANEL, XSS)
    wait_status(page, PANEL, "done", n)
    assert "window.__nvnbPwned" in answer_text(page, PANEL)  # the text is shown, inert
    # Send again: the first answer moves into the history view, rendered there too.
    n = ask(page, PANEL, "Thanks")
    wait_status(page, PANEL, "done", n)
    page.wait_for_selector(f"{PANEL} .nvnb-history .nvnb-turn-assistant")
    for link in page.locator(f"{PANEL} .nvnb-md a").all():
        page.evaluate("(a) => a.click()", link.element_handle())
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__nvnbPwned") is None
    found = page.evaluate(
        """(sel) => {
      const root = document.querySelector(sel);
      const all = Array.from(root.querySelectorAll('.nvnb-md *'));
      return {
        scripts: root.querySelectorAll('.nvnb-md script').length,
        handlers: all.filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on')))
          .length,
        jsLinks: all.filter((e) => /javascript:/i.test(e.getAttribute('href') || '')).length,
        rendered: root.querySelectorAll('.nvnb-md').length,
      };
    }""",
        PANEL,
    )
    assert found["rendered"] >= 2
    assert (found["scripts"], found["handlers"], found["jsLinks"]) == (0, 0, 0), found


def test_the_widgets_follow_the_dark_theme(page):
    page.click('.lm-MenuBar-itemLabel >> text="Settings"')
    page.hover('.lm-Menu-itemLabel >> text="Theme"')
    page.click('.lm-Menu-itemLabel >> text="JupyterLab Dark"')
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    page.wait_for_timeout(500)
    luminance = page.evaluate(
        """(sel) => {
      const [r, g, b] = getComputedStyle(document.querySelector(sel)).backgroundColor
        .match(/\\d+/g).map(Number);
      return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    }""",
        f"{PANEL} .nvnb-stream",
    )
    assert luminance < 0.3
    page.locator(".jp-Cell").first.scroll_into_view_if_needed()
    shot(page, "07-dark-theme", page.locator(".jp-Cell").first)
