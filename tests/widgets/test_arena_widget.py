"""The Arena widget's static fallback (what a saved notebook shows); its view is in the one
bundle (tests/widgets/test_assets.py)."""

from __future__ import annotations

from pathlib import Path

from nvnb.session import Session
from nvnb.widgets.arena import Arena

REPO = Path(__file__).resolve().parents[2]
MODELS = ["meta/llama-3.1-8b-instruct", "meta/llama-3.3-70b-instruct"]


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
