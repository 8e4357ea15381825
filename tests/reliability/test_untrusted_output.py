"""Model output is untrusted: what nvnb renders from it must never run script or event handlers.

The local server's chat engine quotes the last user turn, so a prompt carrying ``<script>``,
``<img onerror>`` and ``javascript:`` links makes an answer carrying them, like a prompt-injected
model would. These tests check the Python side: every Markdown (and HTML) output nvnb builds
from an answer — the ``%%nvchat`` result, ``Answer``, the conversation export and ``%nvchat
history``, the widgets' static fallbacks — rendered the way a notebook front end renders
Markdown (raw HTML allowed, as JupyterLab's renderer does for trusted outputs), must contain no
executable HTML.

The JavaScript sanitiser (``js/src/markdown.js``) needs ``DOMParser``; no DOM shim is installed
for plain ``node`` here, so it is left to the widgets helper's browser tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from rel_helpers import MODEL

import nvnb.session as session_module
from nvnb.magics.answer_output import final_display
from nvnb.session import Session

HOSTILE = (
    "Please repeat: <script>alert('s')</script> <img src=x onerror=alert('i')> "
    "[click me](javascript:alert('l')) <a href=\"javascript:alert('a')\">a</a> "
    "<iframe src=\"javascript:alert('f')\"></iframe>"
)
EXECUTABLE_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "frame",
    "frameset",
    "base",
    "meta",
    "link",
    "svg",
    "math",
    "form",
}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"}


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in EXECUTABLE_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            cleaned = re.sub(r"[\x00-\x20\x7f-\x9f]", "", value or "").lower()
            if name in URL_ATTRS and cleaned.startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.found.append(f"<{tag} {name}={cleaned[:20]}…>")

    handle_startendtag = handle_starttag


def render_markdown(text: str) -> str:
    """Markdown → HTML the way notebook front ends do it: CommonMark/GFM with raw HTML kept."""
    markdown_it = pytest.importorskip("markdown_it")
    return str(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text))


def executable(markdown: str) -> list[str]:
    """What in this Markdown would run script once rendered (empty: safe)."""
    finder = _Finder()
    finder.feed(render_markdown(markdown))
    return finder.found


def test_the_checker_catches_what_it_must_and_passes_quoted_code() -> None:
    assert executable("<script>x()</script>") == ["<script>"]
    assert executable("<img src=x onerror=alert(1)>") == ["<img onerror=…>"]
    assert executable("[a](javascript:alert(1))") == []  # CommonMark drops it already
    assert executable('<a href=" java\tscript:x">a</a>')
    assert executable("`<script>x()</script>`") == []
    assert executable("```html\n<img src=x onerror=alert(1)>\n```") == []
    assert executable("&lt;script&gt;") == []


@pytest.fixture
def answered(srv: Any) -> tuple[Session, Any]:
    """A session whose last answer quotes the hostile prompt."""
    session = Session(MODEL, base_url=srv.base_url)
    answer = session.ask(HOSTILE)
    assert "<script>" in answer.text and "onerror" in answer.text  # the attack reached us
    return session, answer


def markdown_of(obj: Any) -> str:
    """The text/markdown (and text/html) a notebook would render for ``obj``."""
    ip = InteractiveShell.instance()
    data, _ = ip.display_formatter.format(obj)
    return "\n".join(str(data.get(kind, "")) for kind in ("text/markdown", "text/html"))


# --- the Python-side outputs ----------------------------------------------------------------------


def test_the_default_markdown_answer_of_nvchat_is_inert(answered: tuple[Session, Any]) -> None:
    _, answer = answered
    assert executable(markdown_of(final_display(answer.text, "markdown"))) == []
    with_reasoning = final_display(answer.text, "markdown", reasoning=answer.text)
    assert executable(markdown_of(with_reasoning)) == []


def test_the_magic_default_output_is_inert(srv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    monkeypatch.setattr(session_module, "_default", Session(MODEL, base_url=srv.base_url))
    with capture_output():
        result = shell.run_cell(f"%%nvchat\n{HOSTILE}")
    assert result.success
    assert executable(markdown_of(result.result)) == []


def test_the_magic_history_is_inert(srv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``%nvchat history`` shows ``Session.to_markdown()``."""
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    monkeypatch.setattr(session_module, "_default", Session(MODEL, base_url=srv.base_url))
    with capture_output():
        result = shell.run_cell(f"%%nvchat\n{HOSTILE}")
    assert result.success
    with capture_output() as captured:
        shell.run_cell("%nvchat history")
    for output in captured.outputs:
        assert executable(str(output.data.get("text/markdown", ""))) == []


def test_answers_and_the_conversation_export_are_inert(answered: tuple[Session, Any]) -> None:
    """What is displayed; ``Session.export_markdown`` (a file) keeps the exact texts."""
    session, answer = answered
    assert executable(markdown_of(answer)) == []
    assert executable(answer.to_markdown()) == []
    assert executable(session.to_markdown()) == []


def test_widget_fallbacks_are_inert(answered: tuple[Session, Any], srv: Any) -> None:
    from nvnb.widgets import ChatPanel, StreamPane

    session, _ = answered
    pane = StreamPane(session=session)
    session.ask(HOSTILE, sink=pane)
    panel = ChatPanel(session=session, live=False)
    for widget in (pane, panel):
        bundle = widget._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert executable(str(data.get("text/markdown", ""))) == [], type(widget).__name__


def test_text_and_code_formats_of_nvchat_are_inert(answered: tuple[Session, Any]) -> None:
    _, answer = answered
    for fmt in ("text", "code"):
        shown = final_display(answer.text, fmt)
        assert executable(markdown_of(shown)) == [], fmt


def test_error_banners_are_plain_text(srv: Any) -> None:
    """An error detail from the server shows as one line of text in the pane, not Markdown."""
    from nvnb.widgets import StreamPane

    pane = StreamPane()
    session = Session(
        MODEL,
        base_url=srv.base_url,
        max_retries=0,
        default_headers={"X-NVNB-Fault": "status=500;html"},
    )
    with pytest.raises(Exception):  # noqa: B017 - any nvnb error; the banner is what matters
        session.ask(HOSTILE, sink=pane)
    assert pane.error and "<" not in pane.error


def test_the_magic_output_in_a_real_shell_is_checked_like_a_front_end_would(
    srv: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``%%nvchat``: the result object's Markdown is what a notebook renders."""
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    monkeypatch.setattr(session_module, "_default", Session(MODEL, base_url=srv.base_url))
    with capture_output():
        result = shell.run_cell(f"%%nvchat -f text\n{HOSTILE}")
    assert result.success
    assert executable(markdown_of(result.result)) == []
