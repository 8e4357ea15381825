"""The Arena widget's front-end files, and its static fallback (what a saved notebook shows)."""

from __future__ import annotations

import re
from pathlib import Path

from nvnb.session import Session
from nvnb.widgets.arena import Arena

REPO = Path(__file__).resolve().parents[2]
MODELS = ["meta/llama-3.1-8b-instruct", "meta/llama-3.3-70b-instruct"]


def test_the_arena_loads_its_module_and_styles() -> None:
    state = Arena(models=MODELS, session=Session()).get_state()
    assert state["_esm"] == (REPO / "js" / "arena.js").read_text()
    assert re.search(r"export \{\s*\w+ as default\s*\}|export default", state["_esm"])
    for name in ("nvnb.css", "stream_pane.css", "code_view.css", "arena.css"):
        assert (REPO / "js" / name).read_text() in state["_css"]


def test_the_built_module_is_current_with_its_source() -> None:
    built = (REPO / "js" / "arena.js").read_text()
    # Every function of the sources is in the bundle (rebuild with js/src/build.sh after edits).
    for module in ("arena.js", "code_view.js"):
        source = (REPO / "js" / "src" / module).read_text()
        for name in re.findall(r"^(?:export )?(?:async )?function (\w+)", source, re.M):
            assert re.search(rf"function {name}\b", built), (module, name)


def test_the_static_fallback_is_inert_and_the_repr_stable() -> None:
    arena = Arena(models=MODELS, session=Session())
    assert repr(arena) == f"Arena(models={MODELS!r})"
    arena.columns = [
        {**arena.columns[0], "status": "done", "text": "<img src=x onerror=alert(1)> hi"},
        {**arena.columns[1], "status": "error", "error": "500 Internal Server Error"},
    ]
    arena.best = 0
    shown = arena._fallback_markdown()
    assert "<img" not in shown and "hi" in shown and "500 Internal Server Error" in shown
    assert "★" in shown
    data = arena._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert data["text/plain"] == repr(arena)
