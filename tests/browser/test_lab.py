"""ChatPanel in a real JupyterLab: models, settings, SteerLM labels, images, streaming, stop,
retry, regenerate, code blocks, safety, layout at 1400 and 800 px, light and dark theme.

The tests share one page (module scope) and run in file order, as a person would use the panel.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from labtools import SCREENSHOTS, chat_bodies, lab_url, run_all, set_theme, shot, start_kernel
from PIL import Image

PANEL = ".jp-Cell:nth-child(1) .jp-OutputArea"
SLOW = ".jp-Cell:nth-child(2) .jp-OutputArea"
FLAKY = ".jp-Cell:nth-child(3) .jp-OutputArea"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def page(browser: Any, lab: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    start_kernel(lab, "panel.ipynb")
    page.goto(lab_url(lab, "panel.ipynb"))
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, until=f"{FLAKY} [data-nvnb-widget='chat-composer']")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='chat-composer']")
    yield page
    context.close()


def open_pop(page: Any, where: str, which: str) -> None:
    button = "nvnb-model-button" if which == "model" else "nvnb-settings-button"
    if page.get_attribute(f"{where} .nvnb-panel", "data-open") != which:
        page.click(f"{where} .{button}")
    page.wait_for_selector(f"{where} .nvnb-pop-{which}", state="visible")


def close_pop(page: Any, where: str) -> None:
    """Close the open popover with its toolbar button (a toggle)."""
    which = page.get_attribute(f"{where} .nvnb-panel", "data-open")
    button = "nvnb-model-button" if which == "model" else "nvnb-settings-button"
    page.click(f"{where} .{button}")
    page.wait_for_selector(f"{where} .nvnb-panel:not([data-open])", state="attached")


def pick(page: Any, where: str, query: str, model_id: str) -> None:
    open_pop(page, where, "model")
    page.fill(f"{where} .nvnb-search", query)
    row = page.locator(f"{where} .nvnb-picker-row[data-id='{model_id}']")
    if not row.count():  # a deprecated model: list those too
        page.check(f"{where} .nvnb-show-deprecated input")
    page.click(f"{where} .nvnb-picker-row[data-id='{model_id}']")
    page.wait_for_selector(f"{where} .nvnb-model-name >> text='{model_id}'")
    page.wait_for_selector(f"{where} .nvnb-pop-model", state="hidden")  # picking closes it


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


def cell(page: Any, n: int) -> Any:
    return page.locator(".jp-Cell").nth(n)


def test_the_chat_panel_is_chat_first(page):
    for part in ("chat-toolbar", "model-picker", "chat-settings", "steer-sliders", "image-drop",
                 "stream-pane", "chat-composer", "chat-history"):  # fmt: skip
        assert page.locator(f"{PANEL} [data-nvnb-widget='{part}']").count() == 1, part
    # Popovers are closed: the toolbar, then the conversation, then the prompt box.
    assert not page.locator(f"{PANEL} .nvnb-pop-model").is_visible()
    assert not page.locator(f"{PANEL} .nvnb-pop-settings").is_visible()
    top = {
        name: page.locator(f"{PANEL} {sel}").bounding_box()["y"]
        for name, sel in (("toolbar", ".nvnb-toolbar"), ("composer", ".nvnb-composer"))
    }
    assert top["toolbar"] < top["composer"]
    # One stylesheet for the page, however many widgets.
    assert page.evaluate("() => document.querySelectorAll('#nvnb-styles').length") == 1
    shot(page, "01-panel", cell(page, 0))


def test_the_model_browser_searches_descriptions_and_capabilities_and_hides_deprecated(page):
    open_pop(page, SLOW, "model")
    rows = page.locator(f"{SLOW} .nvnb-picker-row")
    total = rows.count()
    assert total > 60
    assert page.locator(f"{SLOW} .nvnb-picker-row .nvnb-deprecated").count() == 0
    status = page.inner_text(f"{SLOW} .nvnb-picker-status")
    assert "deprecated hidden" in status, status
    page.check(f"{SLOW} .nvnb-show-deprecated input")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n",
        arg=[f"{SLOW} .nvnb-picker-row", total],
    )
    assert page.locator(f"{SLOW} .nvnb-picker-row .nvnb-deprecated").count() > 10
    page.select_option(f"{SLOW} select.nvnb-type-filter", "steerlm")  # its one model is deprecated
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel).length === 1", arg=f"{SLOW} .nvnb-picker-row"
    )
    page.select_option(f"{SLOW} select.nvnb-type-filter", "")
    page.uncheck(f"{SLOW} .nvnb-show-deprecated input")
    # "vision" finds the vision models by type, not only the ids that contain the word.
    page.fill(f"{SLOW} .nvnb-search", "vision")
    found = page.locator(f"{SLOW} .nvnb-picker-row .nvnb-picker-id").all_inner_texts()
    assert len(found) > sum("vision" in f for f in found) > 0, found
    # A capability by its display name, and several words at once.
    page.fill(f"{SLOW} .nvnb-search", "structured output llama")
    found = page.locator(f"{SLOW} .nvnb-picker-row .nvnb-picker-id").all_inner_texts()
    assert found and all("llama" in f for f in found), found
    page.fill(f"{SLOW} .nvnb-search", "")
    # The card says where requests actually go: the local server of this test.
    card = page.inner_text(f"{SLOW} .nvnb-card")
    assert os.environ.get("NVIDIA_BASE_URL", "") in card or "127.0.0.1" in card, card
    assert "integrate.api.nvidia.com" not in card
    # Public facts from the catalog (models.dev's profile of the model): name, context length.
    assert "Llama 3.1 8B Instruct" in card and "16,000 tokens" in card, card
    shot(page, "02-model-browser", cell(page, 1))
    close_pop(page, SLOW)


def test_arrow_keys_move_in_the_model_list_not_the_notebook(page):
    open_pop(page, SLOW, "model")
    before = page.evaluate(
        "() => Array.from(document.querySelectorAll('.jp-Cell')).findIndex("
        "(c) => c.classList.contains('jp-mod-active'))"
    )
    value = page.inner_text(f"{SLOW} .nvnb-model-name")
    page.focus(f"{SLOW} .nvnb-picker-list")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "([sel, v]) => document.querySelector(sel).textContent !== v",
        arg=[f"{SLOW} .nvnb-model-name", value],
    )
    after = page.evaluate(
        "() => Array.from(document.querySelectorAll('.jp-Cell')).findIndex("
        "(c) => c.classList.contains('jp-mod-active'))"
    )
    assert after == before  # the notebook's cell selection did not move
    page.keyboard.press("Escape")
    page.wait_for_selector(f"{SLOW} .nvnb-panel:not([data-open])", state="attached")
    pick(page, SLOW, "llama-3.1-8b", "meta/llama-3.1-8b-instruct")


def test_settings_and_steerlm_labels_reach_the_request(page, servers):
    fast, _ = servers
    pick(page, PANEL, "steerlm", "nvidia/nemotron-steerlm-8b")
    open_pop(page, PANEL, "settings")
    page.wait_for_selector(f"{PANEL} [data-nvnb-widget='steer-sliders'][data-enabled='true']")
    # Every control has a usable size (no 11 px slider, no cut label).
    for sel in ("input[name='temperature']", "input[name='top_p']", "input[name='creativity']"):
        box = page.locator(f"{PANEL} {sel}").bounding_box()
        assert box["width"] >= 100 and box["height"] >= 12, (sel, box)
    cut = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).filter(
             (e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)""",
        f"{PANEL} .nvnb-settings-label, {PANEL} .nvnb-steer-label",
    )
    assert cut == []
    creativity = page.locator(f"{PANEL} input[name='creativity']")
    creativity.focus()
    creativity.press("End")  # the keyboard moves a range input to its maximum, 9
    verbosity = page.locator(f"{PANEL} input[name='verbosity']")
    verbosity.focus()
    verbosity.press("Home")
    page.wait_for_selector(f"{PANEL} .nvnb-steer-row[data-label='verbosity'] >> text='0'")
    temperature = page.locator(f"{PANEL} input[name='temperature']")
    temperature.focus()
    for _ in range(4):
        temperature.press("ArrowRight")  # 0.5 → 0.7 by the keyboard (the notebook ignores it)
    temperature.dispatch_event("change")
    page.fill(f"{PANEL} input[name='seed']", "1234")
    page.locator(f"{PANEL} input[name='seed']").dispatch_event("change")
    page.wait_for_selector(f"{PANEL} .nvnb-settings-summary >> text=/seed 1234/")
    shot(page, "03-settings", cell(page, 0))
    close_pop(page, PANEL)
    fast.clear()
    n = ask(page, PANEL, "Tell me about GPUs")
    wait_status(page, PANEL, "done", n)
    (body,) = chat_bodies(fast)
    assert body["model"] == "nvidia/nemotron-steerlm-8b"
    assert body["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 9, "verbosity": 0},
    }
    assert body["temperature"] == pytest.approx(0.7) and body["seed"] == 1234
    assert "Tell me about GPUs" in answer_text(page, PANEL)


def _png(size: tuple[int, int], color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _noise_png(side: int) -> bytes:
    """A PNG of random pixels: it does not compress, so ``side`` 2000 is about 12 MB."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buf, format="PNG")
    return buf.getvalue()


FILE_EVENT_JS = """([selector, b64, name, mime, kind]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: mime }));
  const target = document.querySelector(selector);
  if (kind === "paste") {
    const init = { clipboardData: data, bubbles: true, cancelable: true };
    target.dispatchEvent(new ClipboardEvent("paste", init));
    return;
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def put_file(page: Any, where: str, data: bytes, name: str, kind: str, mime: str = "image/png"):
    b64 = base64.b64encode(data).decode()
    page.evaluate(FILE_EVENT_JS, [f"{where} textarea.nvnb-prompt", b64, name, mime, kind])


def test_images_pasted_or_dropped_on_the_prompt_box_reach_the_model(page, servers):
    fast, _ = servers
    pick(page, PANEL, "llama-3.2-11b-vision", "meta/llama-3.2-11b-vision-instruct")
    # A file that is not an image, through the file chooser: a message, never nothing.
    page.set_input_files(
        f"{PANEL} .nvnb-composer input.nvnb-file",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"}],
    )
    error = page.locator(f"{PANEL} .nvnb-composer-error")
    error.wait_for(state="visible")
    assert "notes.txt" in error.inner_text()
    # A pasted image shows up, and its remove button takes it away again.
    put_file(page, PANEL, _png((32, 32), "blue"), "pasted.png", "paste")
    pasted = page.locator(f"{PANEL} .nvnb-thumb[data-name='pasted.png']")
    pasted.wait_for()
    pasted.locator(".nvnb-remove").click()
    pasted.wait_for(state="detached")
    # A real DataTransfer drop of a 64×48 red PNG on the prompt box.
    put_file(page, PANEL, _png((64, 48), "red"), "red-square.png", "drop")
    page.wait_for_selector(f"{PANEL} .nvnb-thumb[data-name='red-square.png']")
    assert "64×48" in page.inner_text(f"{PANEL} .nvnb-thumb")
    assert not error.is_visible()
    fast.clear()
    n = ask(page, PANEL, "What is in this image?")
    wait_status(page, PANEL, "done", n)
    text = answer_text(page, PANEL)
    assert "64×48" in text and "red" in text, text
    (body,) = chat_bodies(fast)
    parts = body["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in parts)
    assert page.locator(f"{PANEL} .nvnb-thumb").count() == 0  # sent with this question
    # The question in the history shows a thumbnail of the image it carried.
    n = ask(page, PANEL, "Thanks")
    wait_status(page, PANEL, "done", n)
    thumb = page.locator(f"{PANEL} .nvnb-turn-user .nvnb-turn-thumb").first
    thumb.wait_for()
    assert thumb.evaluate("(img) => img.naturalWidth") > 0
    shot(page, "04-image-answer", cell(page, 0))


def test_a_12_mb_image_is_shrunk_in_the_browser_not_lost(page, servers):
    fast, _ = servers
    big = _noise_png(2000)
    assert 10_000_000 < len(big) < 20_000_000
    put_file(page, PANEL, big, "huge.png", "paste")
    thumb = page.locator(f"{PANEL} .nvnb-thumb[data-name='huge.jpg']")
    thumb.wait_for(timeout=60_000)
    dims = thumb.inner_text()
    assert "from 2000×2000" in dims, dims
    fast.clear()
    n = ask(page, PANEL, "Describe it")
    wait_status(page, PANEL, "done", n)
    (body,) = chat_bodies(fast)
    (url,) = [p["image_url"]["url"] for p in body["messages"][-1]["content"] if "image_url" in p]
    assert url.startswith("data:image/jpeg;base64,")
    assert len(url.partition(",")[2]) <= 180_000  # the service's inline limit


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
    # The prompt box stays in the window while the long answer streams; the conversation
    # scrolls, and follows the end of the answer.
    panel = page.locator(f"{SLOW} .nvnb-panel").bounding_box()
    assert panel["height"] <= page.viewport_size["height"]
    convo = f"{SLOW} .nvnb-convo"
    assert page.get_attribute(convo, "data-at-bottom") == "true"
    shot(page, "05-streaming", cell(page, 1))
    page.click(f"{SLOW} .nvnb-stream .nvnb-stop")
    wait_status(page, SLOW, "stopped")
    kept = answer_text(page, SLOW)
    page.wait_for_timeout(800)
    assert answer_text(page, SLOW) == kept
    assert 0 < len(kept) < 8000
    assert kept.startswith("This is the local nvnb server")
    assert page.inner_text(f"{SLOW} .nvnb-stream-status") == "stopped"
    assert "tokens" in page.inner_text(f"{SLOW} .nvnb-stream-stats")
    page.click(f"{SLOW} .nvnb-stream .nvnb-copy")
    page.wait_for_selector(f"{SLOW} .nvnb-stream .nvnb-copy >> text=Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("This is the local nvnb server") and len(copied) >= len(kept) - 5


def test_a_failed_question_stays_in_the_prompt_box_with_retry(page):
    box = page.locator(f"{FLAKY} textarea.nvnb-prompt")
    box.fill("A question worth keeping")
    box.press("Control+Enter")
    wait_status(page, FLAKY, "error")
    page.wait_for_selector(f"{FLAKY} .nvnb-retry", state="visible")
    assert box.input_value() == "A question worth keeping"
    assert "500" in page.inner_text(f"{FLAKY} .nvnb-stream .nvnb-error")
    shot(page, "06-failed-retry", cell(page, 2))
    page.click(f"{FLAKY} .nvnb-retry")
    wait_status(page, FLAKY, "done")
    assert "A question worth keeping" in answer_text(page, FLAKY)
    assert box.input_value() == ""
    assert not page.locator(f"{FLAKY} .nvnb-retry").is_visible()


def test_regenerate_and_edit_and_resend(page, servers):
    fast, _ = servers
    n = ask(page, FLAKY, "Second question")
    wait_status(page, FLAKY, "done", n)
    turns = page.locator(f"{FLAKY} .nvnb-history .nvnb-turn")
    # The history holds question 1, its answer and question 2 (answer 2 is in the pane).
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel).length === 3", arg=f"{FLAKY} .nvnb-turn"
    )
    # Regenerate: the last question is asked again, its answer replaced. (No fast.clear():
    # it would also reset the fault counter of this panel's server.)
    before = len(chat_bodies(fast))
    page.click(f"{FLAKY} .nvnb-stream .nvnb-regenerate")
    page.wait_for_selector(f"{FLAKY} .nvnb-stream[data-starts='{n + 1}'][data-status='done']")
    (body,) = chat_bodies(fast)[before:]
    assert body["messages"][-1]["content"] == "Second question"
    assert len(body["messages"]) == 3
    # Edit the first question: the later turns are replaced.
    first = turns.first
    first.locator(".nvnb-turn-edit").click()
    edit = page.locator(f"{FLAKY} .nvnb-edit-box")
    edit.fill("An edited question")
    page.click(f"{FLAKY} .nvnb-resend")
    page.wait_for_selector(f"{FLAKY} .nvnb-turn-user >> text='An edited question'")
    wait_status(page, FLAKY, "done")
    assert "An edited question" in answer_text(page, FLAKY)
    assert [m["role"] for m in chat_bodies(fast)[-1]["messages"]] == ["user"]


def test_code_blocks_are_highlighted_with_copy_and_insert_as_cell(page):
    pick(page, PANEL, "coder", "qwen/qwen2.5-coder-32b-instruct")
    n = ask(page, PANEL, "Write a python function that adds two numbers")
    wait_status(page, PANEL, "done", n)
    block = page.locator(f"{PANEL} .nvnb-stream .nvnb-code").first
    block.wait_for()
    assert block.locator(".hljs-keyword").count() >= 1
    block.locator(".nvnb-code-copy").click()
    page.wait_for_selector(f"{PANEL} .nvnb-stream .nvnb-code-copy >> text=Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("# ") and "def " in copied, copied
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    block.locator(".nvnb-code-insert").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length === n + 1", arg=cells
    )
    new_cell = cell(page, 1)  # right below the panel's cell
    assert copied.splitlines()[1] in new_cell.locator(".jp-InputArea").inner_text()
    shot(page, "07-code-block", cell(page, 0))
    # Take the inserted cell out again (JupyterLab's own command), so cell positions hold.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:delete-cell')")
    page.wait_for_function(
        "(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length === n", arg=cells
    )


XSS = (
    'Render <img src=x onerror="window.__nvnbPwned=1"> and '
    "<script>window.__nvnbPwned=2</script> and [a link](javascript:window.__nvnbPwned=3) "
    'and <a href="javascript:window.__nvnbPwned=4" onclick="window.__nvnbPwned=5">b</a>'
)


def test_model_output_is_sanitised_nothing_runs(page):
    n = ask(page, PANEL, XSS)
    wait_status(page, PANEL, "done", n)
    assert "window.__nvnbPwned" in answer_text(page, PANEL)  # the text is shown, inert
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


CONTRAST_JS = """(sel) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const blend = (fg, bg) =>
    fg.length === 4 ? fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3])) : fg;
  return Array.from(document.querySelectorAll(sel))
    .filter((e) => e.offsetParent && e.textContent.trim())
    .map((e) => {
      const bg = background(e);
      const fg = blend(parse(getComputedStyle(e).color), bg);
      let opacity = 1;
      for (let p = e; p; p = p.parentElement) opacity *= Number(getComputedStyle(p).opacity);
      const seen = fg.map((v, i) => v * opacity + bg[i] * (1 - opacity));
      const [a, b] = [lum(seen), lum(bg)].sort((x, y) => y - x);
      return { text: e.textContent.trim().slice(0, 40), ratio: (a + 0.05) / (b + 0.05) };
    });
}"""

MUTED = (
    ".nvnb-button:disabled, .nvnb-muted, .nvnb-steer-row.nvnb-off .nvnb-steer-label, "
    ".nvnb-steer-value, .nvnb-settings-value, .nvnb-stream-stats, .nvnb-turn-who, .nvnb-card dt, "
    ".nvnb-picker-status, .nvnb-settings-summary"
)


@pytest.mark.parametrize(
    ("theme", "width"),
    [("JupyterLab Light", 800), ("JupyterLab Dark", 800), ("JupyterLab Dark", 1400)],
    ids=["light-800", "dark-800", "dark-1400"],
)
def test_the_panel_fits_and_reads_well(page, theme, width):
    if page.evaluate("() => document.body.dataset.jpThemeName") != theme:
        set_theme(page, theme)
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(400)
    pick(page, SLOW, "steerlm", "nvidia/nemotron-steerlm-8b")  # labels on: sliders enabled
    pick(page, PANEL, "llama-3.1-8b", "meta/llama-3.1-8b-instruct")  # labels off: disabled
    for where in (PANEL, SLOW):
        panel = page.locator(f"{where} .nvnb-panel").bounding_box()
        assert panel["height"] <= 900 and panel["width"] <= width, panel
        # After a resize the conversation is still scrolled to its end.
        assert page.get_attribute(f"{where} .nvnb-convo", "data-at-bottom") == "true"
        toolbar = page.locator(f"{where} .nvnb-toolbar").bounding_box()
        for sel in (".nvnb-model-button", ".nvnb-settings-button", ".nvnb-export"):
            box = page.locator(f"{where} {sel}").bounding_box()
            assert (
                box["height"] >= 24
                and box["x"] + box["width"] <= toolbar["x"] + toolbar["width"] + 1
            )
    open_pop(page, PANEL, "settings")
    ratios = page.evaluate(CONTRAST_JS, f"{PANEL} .nvnb-panel :is({MUTED})")
    assert ratios and min(r["ratio"] for r in ratios) >= 4.5, sorted(
        ratios, key=lambda r: r["ratio"]
    )[:3]
    shot(page, f"08-settings-{theme.split()[-1].lower()}-{width}", cell(page, 0))
    close_pop(page, PANEL)
    open_pop(page, PANEL, "model")
    search = page.locator(f"{PANEL} .nvnb-search").bounding_box()
    pop = page.locator(f"{PANEL} .nvnb-pop-model").bounding_box()
    assert search["width"] >= 150 and search["x"] + search["width"] <= pop["x"] + pop["width"]
    overlaps = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel + ' dt')).filter((dt) => {
             const a = dt.getBoundingClientRect();
             const b = dt.nextElementSibling.getBoundingClientRect();
             const meet = a.right > b.left + 1 && a.left < b.right - 1
               && a.bottom > b.top + 1 && a.top < b.bottom - 1;
             return dt.scrollWidth > dt.clientWidth + 1 || meet; })
             .map((dt) => dt.textContent)""",
        f"{PANEL} .nvnb-card",
    )
    shot(page, f"09-models-{theme.split()[-1].lower()}-{width}", cell(page, 0))
    assert overlaps == [], overlaps
    shot(page, f"09-models-{theme.split()[-1].lower()}-{width}", cell(page, 0))
    close_pop(page, PANEL)
    page.locator(".jp-Cell").nth(1).scroll_into_view_if_needed()
    shot(page, f"10-page-{theme.split()[-1].lower()}-{width}")


def test_the_readme_screenshot_is_written(page):
    """docs/panel.png, the README's first picture: the light theme at 1400 px."""
    set_theme(page, "JupyterLab Light")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.wait_for_timeout(500)
    page.click(f"{PANEL} .nvnb-clear")  # New chat
    page.wait_for_selector(f"{PANEL} .nvnb-history", state="hidden")
    pick(page, PANEL, "coder", "qwen/qwen2.5-coder-32b-instruct")
    n = ask(page, PANEL, "Write a Python function that counts the words in a text file")
    wait_status(page, PANEL, "done", n)
    page.locator(".jp-Cell").first.scroll_into_view_if_needed()
    path = shot(page, "11-readme", cell(page, 0))
    DOCS.mkdir(exist_ok=True)
    shutil.copyfile(path, DOCS / "panel.png")
    assert (DOCS / "panel.png").stat().st_size > 10_000
    assert SCREENSHOTS.exists()
