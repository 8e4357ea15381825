"""Model output stays inert wherever a notebook goes, held against public XSS corpora.

The vectors (``tests/data/xss_vectors.json``: cure53's HTML5 Security Cheatsheet, OWASP's XSS
Filter Evasion Cheat Sheet, the link targets inside them, and issue 14's entity-encoded
targets) go through nvnb's real display path (``answer_output.final_display`` and
``Session.Answer``, formatted by IPython as a kernel would), then into three renderers:

- ``jupyter nbconvert --to html`` (mistune, which decodes link targets twice), the export
  opened in headless Chromium;
- JupyterLab, where outputs of the running session are trusted (raw HTML is rendered);
- the widgets' own Markdown renderer (the StreamPane view of ``nvnb/static/nvnb.js``).

Each page is watched for dialogs (``alert``/``confirm``/``prompt``, which the vectors call) and
for ``window.__xss``; every URL-bearing attribute is resolved by the browser itself, and none
may have a scheme other than http(s), mailto, file (relative links), ``unsafe:`` or raster
``data:image``. Ordinary Markdown (links, code, tables, emphasis, math) must still render.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.formatters import DisplayFormatter
from labtools import lab_url, run_all, shot, start_kernel

from nvnb.magics.answer_output import final_display
from nvnb.session import Answer

DATA = json.loads((Path(__file__).parents[1] / "data" / "xss_vectors.json").read_text())
FLAG = "window.__xss=1"
TARGETS = DATA["link_targets"] + DATA["issue_14"]


def _link_vectors() -> list[str]:
    out = []
    for target in TARGETS:
        out += [f"[click]({target})", f"![pic]({target})", f"[ref]\n\n[ref]: {target}"]
        out.append(f'[titled]({target} "t") and [spaced]( {target} )')
    return out


VECTORS = (
    DATA["h5sc"]
    + DATA["owasp"]
    + _link_vectors()
    + [
        f"<img src=x onerror={FLAG}>",
        f"[x](javascript&colon;{FLAG})",
        f"<svg onload={FLAG}>",
    ]
)
BENIGN = r"""# Results

Some *emphasis*, **strong** text and a [safe link](https://example.org/a?b=1&c=2).

| col | value |
|-----|-------|
| a   | 1     |

```python
if a < b and c > d:
    print("<tag>")
```

Inline `x < y` and math $a < b$ and $$\frac{1}{2} < 1$$, a mail [me](mailto:a@example.org).
"""
ALLOWED_SCHEMES = ("http:", "https:", "mailto:", "file:", "unsafe:", "about:")

# Every URL-bearing attribute, resolved by the browser; returns the ones that could run.
LIVE_URLS = r"""(root) => {
  const names = ["href", "src", "action", "formaction", "data", "background", "poster",
                 "xlink:href", "srcdoc", "lowsrc", "dynsrc", "codebase"];
  const bad = [];
  for (const el of document.querySelectorAll(`${root}, ${root} *`)) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) { bad.push(`${el.localName}[${name}]`); continue; }
      if (!names.includes(name)) continue;
      if (name === "srcdoc") { bad.push(`${el.localName}[srcdoc]`); continue; }
      let scheme;
      try { scheme = new URL(attr.value, document.baseURI).protocol; }
      catch (e) { continue; }  // not a URL at all: nothing to navigate to
      const value = attr.value.replace(/[\u0000-\u0020]/g, "").toLowerCase();
      if (scheme === "data:" && /^data:image\/(png|jpe?g|gif|webp)[;,]/.test(value)) continue;
      if (!ALLOWED.includes(scheme)) bad.push(`${el.localName}[${name}]=${attr.value}`);
    }
  }
  return bad;
}""".replace("ALLOWED", json.dumps(ALLOWED_SCHEMES))


def _outputs(text: str) -> list[Any]:
    """The display outputs a kernel stores for an answer: the %%nvchat one and Session's."""
    formatter = DisplayFormatter()
    outputs = []
    for shown in (final_display(text, "markdown"), Answer(text=text, model="m")):
        data, _ = formatter.format(shown)
        outputs.append(nbformat.v4.new_output("display_data", data=data))
    return outputs


def _watch(page: Any) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


ACTIVE = "script, iframe, frame, object, embed, form, svg, math, style, link, meta, base"


def _assert_inert(page: Any, dialogs: list[str], root: str) -> None:
    """No dialog, no flag, no live URL or handler, no active element under ``root``."""
    page.wait_for_timeout(1500)  # let onload/onerror handlers and timers fire, if any
    assert page.locator(root).count() > 0  # the checks below look at something
    assert dialogs == [], dialogs
    assert page.evaluate("window.__xss ?? null") is None
    assert page.evaluate(LIVE_URLS, root) == []
    active = page.evaluate(
        "([root, tags]) => Array.from(document.querySelectorAll(root))"
        ".flatMap(r => Array.from(r.querySelectorAll(tags)))"
        # MathJax's own typeset output (assistive MathML) is not model markup.
        ".filter(e => !e.closest('mjx-container')).map(e => e.outerHTML)",
        [root, ACTIVE],
    )
    assert active == []


def _offline(page: Any) -> None:
    """Only file: URLs load (the export's CDN scripts would not load on CI either)."""

    def route(r: Any) -> None:
        r.continue_() if r.request.url.startswith("file:") else r.abort()

    page.route("**/*", route)


OUTPUT = ".jp-OutputArea-output"
MARKDOWN = ".jp-RenderedMarkdown.jp-OutputArea-output"  # a Markdown output, export and Lab alike


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A notebook of nvnb answers holding every vector, exported with nbconvert's CLI."""
    root = tmp_path_factory.mktemp("export")
    cells = [nbformat.v4.new_markdown_cell("# nvnb answers holding public XSS vectors")]
    for i, vector in enumerate([BENIGN, *VECTORS]):
        cell = nbformat.v4.new_code_cell(f"%%nvchat\nvector {i}", execution_count=i + 1)
        cell.outputs = _outputs(vector)
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = root / "answers.ipynb"
    nbformat.write(notebook, path)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return root / "answers.html"


def test_the_corpus_is_large_and_from_public_sources() -> None:
    assert len(DATA["h5sc"]) > 100 and len(DATA["owasp"]) > 100 and len(TARGETS) > 40
    for source in ("h5sc", "owasp"):
        assert DATA["sources"][source]["licence"] and DATA["sources"][source]["commit"]


def test_nbconverts_html_export_runs_no_model_script(browser: Any, exported: Path) -> None:
    page = browser.new_page()
    dialogs = _watch(page)
    _offline(page)
    page.goto(exported.as_uri())
    _assert_inert(page, dialogs, OUTPUT)
    anchors = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.protocol)")
    assert "javascript:" not in anchors and anchors.count("unsafe:") >= len(TARGETS)
    page.close()


def test_nbconverts_export_still_renders_ordinary_markdown(browser: Any, exported: Path) -> None:
    page = browser.new_page()
    _offline(page)
    page.goto(exported.as_uri())
    first = page.locator(MARKDOWN).first
    html = first.inner_html()
    assert first.locator("h1").inner_text().strip().startswith("Results")
    assert first.locator("em").inner_text() == "emphasis"
    assert first.locator("strong").inner_text() == "strong"
    assert (
        first.locator("a:has-text('safe link')").get_attribute("href")
        == "https://example.org/a?b=1&c=2"
    )
    assert first.locator("table td").all_inner_texts() == ["a", "1"]
    assert 'print("<tag>")' in first.locator("pre").inner_text()
    assert first.locator("p code").inner_text() == "x < y"
    # Math stays TeX for MathJax (offline here), with < spelt \lt so no tag can open.
    text = first.text_content()
    assert "$a \\lt  b$" in text and "$$\\frac{1}{2} \\lt  1$$" in text, html
    assert first.locator("a[href='mailto:a@example.org']").count() == 1
    shot(page, "nbconvert-export-benign", first)
    page.close()


def test_jupyterlab_runs_no_model_script_in_trusted_outputs(
    browser: Any, lab: str, workdir: Path
) -> None:
    """The kernel displays every vector the way %%nvchat does: outputs of the running session
    are trusted, so JupyterLab renders their HTML unsanitised."""
    vectors = _vector_file(workdir)
    shown = [BENIGN, *VECTORS]
    # JupyterLab shows at most 50 outputs of a cell (maxNumberOutputs): 40 per cell.
    cells = [
        nbformat.v4.new_code_cell(
            "import json, pathlib\n"
            "from IPython.display import display\n"
            "from nvnb.magics.answer_output import final_display\n"
            f"vectors = json.loads(pathlib.Path({str(vectors)!r}).read_text())\n"
            f"for v in vectors[{start}:{start + 40}]:\n"
            "    display(final_display(v, 'markdown'))\n"
        )
        for start in range(0, len(shown), 40)
    ]
    cells.append(nbformat.v4.new_code_cell("print('all-' + 'shown')"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, workdir / "notebooks" / "xss_lab.ipynb")  # the Lab's root
    start_kernel(lab, "xss_lab.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs = _watch(page)
    page.goto(lab_url(lab, "xss_lab.ipynb"))
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    run_all(page, ".jp-OutputArea-output:has-text('all-shown')", timeout_s=300)
    # Notebook windowing keeps off-screen cells out of the DOM: visit every cell.
    rendered = 0
    for index in range(len(cells) - 1):
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        cell.scroll_into_view_if_needed()
        cell.locator(MARKDOWN).last.wait_for()
        rendered += cell.locator(MARKDOWN).count()
    assert rendered == len(shown)
    assert page.locator(MARKDOWN).count() == len(shown)  # all still in the DOM, checked at once
    _assert_inert(page, dialogs, MARKDOWN)
    page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
    first = page.locator(MARKDOWN).first
    assert first.locator("table td").count() == 2 and first.locator("em").count() == 1
    shot(page, "jupyterlab-xss-vectors")
    page.close()


def _vector_file(workdir: Path) -> Path:
    path = workdir / "xss_vectors_for_lab.json"
    path.write_text(json.dumps([BENIGN, *VECTORS]))
    return path


def test_the_widgets_renderer_runs_no_model_script(browser: Any) -> None:
    js = Path(__file__).resolve().parents[2] / "nvnb" / "static" / "nvnb.js"
    page = browser.new_page()
    dialogs = _watch(page)
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(content=f"window.__src = {json.dumps(js.read_text())};")
    page.evaluate(
        """async (texts) => {
          const url = URL.createObjectURL(new Blob([window.__src], {type: "text/javascript"}));
          const mod = await import(url);
          for (const text of texts) {
            const el = document.createElement("div");
            document.body.appendChild(el);
            const state = {_view: "stream-pane", text, status: "done", reasoning: "",
                           error: "", stats: {}, request_id: "", model_name: "m"};
            const model = {get: (k) => state[k], set() {}, save_changes() {}, send() {},
                           on() {}, off() {}};
            mod.default.render({model, el});
          }
        }""",
        [BENIGN, *VECTORS],
    )
    _assert_inert(page, dialogs, "body")
    assert page.locator("table td").first.inner_text() == "a"
    page.close()
