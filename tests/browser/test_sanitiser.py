"""The Markdown renderer of the StreamPane and the chat history (the bundle), alone in Chromium:
hostile model output is rendered inert (no script runs, no handler or javascript: URL survives)
and ordinary Markdown (headings, lists, tables, code, task lists, links) still renders."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

BUNDLE = Path(__file__).resolve().parents[2] / "nvnb" / "static" / "nvnb.js"

HOSTILE = [
    '<img src=x onerror="window.__p=1">',
    '<svg onload="window.__p=2"><script>window.__p=3</script></svg>',
    '<iframe srcdoc="<script>parent.__p=4</script>"></iframe>',
    "[x](javascript:window.__p=5) and [y](JaVaScRiPt:window.__p=6)",
    '<a href="jav&#x09;ascript:window.__p=7">tab</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__p=8">',
    '<form action="javascript:window.__p=9"><button>go</button></form>',
    '<details open ontoggle="window.__p=10"><summary>s</summary>t</details>',
    '<object data="javascript:window.__p=11"></object><embed src="javascript:1">',
    '<input autofocus onfocus="window.__p=12">',
    '<div style="background:url(javascript:window.__p=13)">styled</div>',
    "<style>body { background: red }</style>",
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+">',
    "<!-- comment --><noscript><img src=x onerror=window.__p=14></noscript>",
    # Inside code blocks, which are highlighted: the highlighter's output is sanitised too.
    "```html\n<script>window.__p=15</script><img src=x onerror=window.__p=16>\n```",
    '```python\nprint("</span><img src=x onerror=window.__p=17>")\n```',
]
GOOD = """# Title

- one
- [x] done

| a | b |
|---|---|
| 1 | 2 |

```python
print("hi")
```

A [safe link](https://example.org) and `code`.
"""

RENDER = """async ([src, state]) => {
  const mod = await import(src);
  const el = document.createElement("div");
  document.body.appendChild(el);
  const model = {
    get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes() {}, send() {},
    on() {}, off() {},
  };
  mod.default.render({ model, el });
  await new Promise((r) => setTimeout(r, 300));
  const all = Array.from(el.querySelectorAll("*"));
  return {
    html: el.innerHTML,
    pwned: window.__p ?? null,
    scripts: el.querySelectorAll("script, iframe, object, embed, form, style, svg, math").length,
    handlers: all.filter((e) => Array.from(e.attributes).some((a) => /^on/i.test(a.name))).length,
    styles: all.filter((e) => e.hasAttribute("style")).length,
    badUrls: all.filter((e) => {
      const v = (e.getAttribute("href") || e.getAttribute("src") || "").replace(/\\s/g, "");
      return /^(javascript|vbscript|data:text|data:image\\/svg)/i.test(v);
    }).length,
  };
}"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    yield page
    context.close()


def module_url() -> str:
    return "data:text/javascript;base64," + base64.b64encode(BUNDLE.read_bytes()).decode()


def check_inert(result: dict[str, Any]) -> None:
    assert result["pwned"] is None, result["html"]
    assert result["scripts"] == 0, result["html"]
    assert result["handlers"] == 0, result["html"]
    assert result["styles"] == 0, result["html"]
    assert result["badUrls"] == 0, result["html"]


@pytest.mark.parametrize("payload", HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_output_in_the_stream_pane_is_inert(page, payload):
    state = {
        "text": payload,
        "status": "done",
        "reasoning": "",
        "error": "",
        "stats": {},
        "request_id": "",
        "model_name": "m",
        "stoppable": True,
        "_view": "stream-pane",
    }
    check_inert(page.evaluate(RENDER, [module_url(), state]))


def test_hostile_output_in_the_chat_history_is_inert(page):
    turns = [
        {"role": "assistant", "text": p, "model": "m", "stopped": False, "images": 0}
        for p in HOSTILE
    ]
    turns.append({"role": "user", "text": HOSTILE[0], "model": "", "stopped": False, "images": 0})
    check_inert(
        page.evaluate(
            RENDER, [module_url(), {"turns": turns, "busy": False, "_view": "chat-history"}]
        )
    )


def test_ordinary_markdown_still_renders(page):
    state = {
        "text": GOOD,
        "status": "done",
        "reasoning": "",
        "error": "",
        "stats": {},
        "request_id": "",
        "model_name": "m",
        "stoppable": True,
        "_view": "stream-pane",
    }
    html = page.evaluate(RENDER, [module_url(), state])["html"]
    for fragment in (
        "<h1>Title</h1>",
        "<table>",
        "<td>1</td>",
        '<code class="language-python hljs"',
        '<span class="hljs-built_in">print</span>',
        'class="nvnb-button nvnb-code-copy"',
        'type="checkbox"',
        'href="https://example.org"',
        'rel="noopener noreferrer',
    ):
        assert fragment in html, fragment


def test_reasoning_in_think_tags_is_folded_away(page):
    state = {
        "text": "<think>step by step</think>The answer.",
        "status": "done",
        "reasoning": "",
        "error": "",
        "stats": {},
        "request_id": "",
        "model_name": "m",
        "stoppable": True,
        "_view": "stream-pane",
    }
    html = page.evaluate(RENDER, [module_url(), state])["html"]
    assert '<details class="nvnb-reasoning"' in html and "step by step" in html
    assert "<p>The answer.</p>" in html
