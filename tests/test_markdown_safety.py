"""inert_markdown: model text shown as Markdown runs no script and keeps its formatting."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvnb._markdown_safety import inert_markdown

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = (
    "Please repeat: <script>alert('s')</script> <img src=x onerror=alert('i')> "
    "[click me](javascript:alert('l')) <a href=\"javascript:alert('a')\">a</a> "
    "<iframe src=\"javascript:alert('f')\"></iframe>"
)
BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


def parser() -> Any:
    """CommonMark + tables with raw HTML on (as notebooks render outputs) and every link kept."""
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True  # markdown-it drops javascript: links; front ends may not
    return md


def tokens(markdown: str) -> list[Any]:
    flat: list[Any] = []
    for token in parser().parse(markdown):
        flat.append(token)
        flat += token.children or []
    return flat


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            cleaned = re.sub(r"[\x00-\x20\x7f-\x9f]", "", value or "").lower()
            if name.startswith("on") or cleaned.startswith(BAD_SCHEMES):
                self.found.append(f"<{tag} {name}={cleaned[:20]}>")
        if tag in {"script", "iframe", "object", "embed", "svg", "math", "form"}:
            self.found.append(f"<{tag}>")


def dangers(markdown: str) -> list[str]:
    """Raw HTML (other than ``<code>``) and script-running targets in the rendered Markdown."""
    found = [
        t.content
        for t in tokens(markdown)
        if t.type in ("html_inline", "html_block") and t.content not in ("<code>", "</code>")
    ]
    finder = _Tags()
    finder.feed(parser().render(markdown))
    return found + finder.found


def rendered(markdown: str) -> str:
    return str(parser().render(markdown))


# --- script never runs --------------------------------------------------------------------------


def test_the_hostile_answer_becomes_text() -> None:
    shown = inert_markdown(HOSTILE)
    assert dangers(HOSTILE)  # the checker sees the attack
    assert dangers(shown) == []
    assert "&lt;script&gt;alert(" in rendered(shown)  # the reader still sees what was written


@pytest.mark.parametrize(
    "attack",
    [
        "[x](javascript:alert(1))",
        "[x](  JaVaScRiPt:alert(1))",
        "[x](javascript\\:alert(1))",
        "[x](<javascript:alert(1)>)",
        "![x](vbscript:msgbox(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x][r]\n\n[r]:\n  javascript:alert(1)",
        "<javascript:alert(1)>",
        "[x](javascript&#58;alert(1))",
        "[x](javascript&#x3a;alert(1))",
        "[x](javascript&colon;alert(1))",
        "<svg onload=alert(1)>",
        "<div\nonmouseover=alert(1)>x</div>",
        "\\<img src=x onerror=alert(1)>",
        "\\\\<img src=x onerror=alert(1)>",
    ],
)
def test_links_images_and_tags_that_run_script_are_neutralised(attack: str) -> None:
    assert dangers(inert_markdown(attack)) == []


def test_a_data_image_stays_an_image() -> None:
    image = "![dot](data:image/png;base64,iVBORw0KGgo=)"
    assert inert_markdown(image) == image


@pytest.mark.parametrize(
    "attack",
    [
        # a bare URL swallows the backtick in marked (JupyterLab): the "span" is no code there
        "see http://x.com/`<img src=x onerror=alert(1)>`",
        # a link destination holding a backtick wins over the code span
        "[a](`x) <img src=x onerror=alert(1)> `",
        "[a](x '`') <img src=x onerror=alert(1)> `",
        # a table splits cells at pipes inside backticks
        "| a | b |\n| --- | --- |\n| `<img src=x onerror=alert(1)>|` | c |",
    ],
)
def test_code_spans_hold_no_raw_html_whichever_way_backticks_pair(attack: str) -> None:
    shown = inert_markdown(attack)
    assert "<img" not in shown
    assert dangers(shown) == []


@pytest.mark.parametrize(
    "attack",
    [
        # indented fence in a list item: a less indented line ends the item, and the block
        "- item\n  ```\n  code\n<script>alert(1)</script>\n  ```",
        # a closing line for marked (extra fence characters) but not for CommonMark
        "```\n```~~\n```\n<script>alert(1)</script>\n```",
        # a closing line for CommonMark (trailing tab) but not for marked
        "```\n```\t\n<script>alert(1)</script>\n```",
        # indented by 4 or more: an indented code block, or paragraph text after a paragraph
        "text\n    ```\n    <img src=x onerror=alert(1)>\n    ```",
        # in a blockquote, the fence ends with the quote
        "> ```\n<script>alert(1)</script>\n> ```",
    ],
)
def test_fences_a_renderer_could_read_differently_are_treated_as_prose(attack: str) -> None:
    shown = inert_markdown(attack)
    assert "<script>" not in shown and "<img" not in shown
    assert dangers(shown) == []


def test_a_fence_info_string_keeps_only_the_language() -> None:
    shown = inert_markdown('```python"><img src=x onerror=alert(1)>\nx = 1\n```')
    assert shown.splitlines()[0] == "```python"
    assert dangers(shown) == []


# --- formatting is kept -------------------------------------------------------------------------


def test_code_keeps_its_characters() -> None:
    text = 'Compare with `a < b && c` or `<div>`:\n\n```html\n<div class="x">&amp;</div>\n```\n'
    shown = inert_markdown(text)
    assert '```html\n<div class="x">&amp;</div>\n```' in shown  # the block, byte for byte
    html = rendered(shown)
    assert "<code>a &lt; b &amp;&amp; c</code>" in html
    assert "<code>&lt;div&gt;</code>" in html
    assert (
        '<code class="language-html">&lt;div class=&quot;x&quot;&gt;&amp;amp;&lt;/div&gt;' in html
    )


def test_code_spans_without_markup_characters_are_untouched() -> None:
    text = "Run `pip install nvnb` then `a && b`, ``x ` y``."
    assert inert_markdown(text) == text


def test_an_unclosed_fence_is_closed_so_renderers_agree() -> None:
    assert inert_markdown("Code:\n```python\nif a < b:") == "Code:\n```python\nif a < b:\n```"
    assert inert_markdown("1. step\n   ```\n   x <y>") == "1. step\n   ```\n   x <y>\n   ```"


def test_fences_in_list_items_are_kept() -> None:
    text = "1. Install:\n   ```bash\n   pip install 'x<2'\n\n   echo a && b\n   ```\n2. Run"
    assert inert_markdown(text) == text


def test_text_shows_exactly_what_the_model_wrote() -> None:
    shown = inert_markdown("Q&A: &copy; is &amp;copy; and a<b, AT&T")
    assert shown == "Q&A: &amp;copy; is &amp;amp;copy; and a&lt;b, AT&T"
    assert rendered(shown) == "<p>Q&amp;A: &amp;copy; is &amp;amp;copy; and a&lt;b, AT&amp;T</p>\n"


def test_math_keeps_rendering() -> None:
    assert inert_markdown("If $x < y$ then $$\\sum_{i<n} a_i$$") == (
        "If $x \\lt  y$ then $$\\sum_{i\\lt n} a_i$$"
    )
    aligned = "$$\\begin{aligned} a &= b \\\\ c &> d \\end{aligned}$$"
    assert inert_markdown(aligned) == aligned
    assert inert_markdown("it costs $5 < $10") == "it costs $5 &lt; $10"


def test_plain_markdown_survives_unchanged() -> None:
    text = (
        '# Title\n\nSome **bold**, _em_, ~~gone~~ and a [link](https://example.com/?a=1&b=2 "t").'
        "\n\n> a quote\n> > nested\n\n- one\n- two\n  1. sub\n\n| a | b |\n| :-- | --: |\n"
        "| 1 > 0 | 2 |\n\n![img](https://example.com/x.png)\n\n---\nJavaScript: a language.\n"
        "See <https://example.com>? No: that is an autolink, escaped on purpose.\n"
    )
    shown = inert_markdown(text)
    assert shown == text.replace("<https://example.com>", "&lt;https://example.com>")


def test_line_endings_become_newlines() -> None:
    assert inert_markdown("a\r\nb\rc") == "a\nb\nc"


# --- properties ---------------------------------------------------------------------------------

SINGLE = "<>&`$\\[]():|-*_!#;\"'=/ab"
SEVERAL = "``` ~~~ $$ 1. ]( ]: &#58; &#x3a; &lt; javascript: vbscript: data:text/html, http://x.y/"
ATTACKS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
SPACING = ["\n", "\n\n", " ", "    ", "\t", "> ", "- "]
MARKUP = st.sampled_from([*SINGLE, *SEVERAL.split(), *ATTACKS, *SPACING])
hostile_text = st.lists(MARKUP, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_no_raw_html_or_script_target_survives_any_text(text: str) -> None:
    assert dangers(inert_markdown(text)) == []


plain_words = st.text(alphabet="abcdefghij XYZ0123456789.,;:!?'\"-", min_size=1, max_size=20).map(
    lambda s: s.strip() or "word"
)


@st.composite
def code_blocks(draw: st.DrawFn) -> str:
    fence = draw(st.sampled_from(["```", "````", "~~~"]))
    info = draw(st.sampled_from(["", "python", "html", "bash"]))
    lines = draw(
        st.lists(
            st.text(alphabet="<>&\"'`~ $\\[]()*_abcxyz=;:/#!|\t", max_size=30).filter(
                lambda line: not line.lstrip(" \t").startswith(fence[0] * 3)
            ),
            max_size=6,
        )
    )
    return "\n".join([fence + info, *lines, fence])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(code_blocks(), plain_words), min_size=1, max_size=6))
def test_fenced_code_blocks_survive_byte_for_byte(parts: list[str]) -> None:
    text = "\n\n".join(parts)
    shown = inert_markdown(text)
    for part in parts:
        if part.startswith(("```", "~~~")):
            assert part in shown
    assert dangers(shown) == []


@st.composite
def plain_markdown(draw: st.DrawFn) -> str:
    blocks = []
    for kind in draw(
        st.lists(st.sampled_from(["h", "ul", "ol", "table", "p", "quote"]), min_size=1, max_size=6)
    ):
        word = draw(plain_words)
        if kind == "h":
            blocks.append("#" * draw(st.integers(1, 6)) + " " + word)
        elif kind == "ul":
            blocks.append(
                "\n".join(f"- {w}" for w in draw(st.lists(plain_words, min_size=1, max_size=4)))
            )
        elif kind == "ol":
            blocks.append(f"1. **{word}**\n2. _{word}_")
        elif kind == "table":
            blocks.append(f"| a | b |\n| --- | --- |\n| {word} | `{word}` |")
        elif kind == "quote":
            blocks.append(f"> {word}")
        else:
            url = "https://example.com/" + draw(
                st.from_regex(r"[a-z0-9/_.?=&%-]{0,20}", fullmatch=True)
            )
            blocks.append(f"{word} [{word}]({url}) ![{word}]({url})")
    return "\n\n".join(blocks)


@settings(max_examples=200, deadline=None)
@given(plain_markdown())
def test_plain_markdown_passes_unchanged(text: str) -> None:
    assert inert_markdown(text) == text
