"""The optional real embedding model: used when installed, never required.

Without the ``embeddings-model`` extra these tests check the fallback (no model, no import of
torch); with it, that the vectors are real: 384-d, unit length, deterministic, meaningful.
"""

from __future__ import annotations

import math
import sys

import pytest

from nvnb.server import minilm


def test_nvnb_embedder_hash_turns_the_model_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(minilm.EMBEDDER_ENV, "hash")
    assert minilm.available() is False


def test_without_the_model_nothing_is_loaded_and_callers_fall_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(minilm.EMBEDDER_ENV, "hash")
    monkeypatch.setattr(minilm, "_loaded", None)
    torch_before = "torch" in sys.modules
    assert minilm.load_embedder() is None
    assert minilm.embed_texts(["x"]) is None and minilm.rank("q", ["p"]) is None
    assert ("torch" in sys.modules) == torch_before


def test_the_model_gives_real_vectors_when_installed() -> None:
    if not minilm.available():
        assert minilm.load_embedder() is None
        return
    query, near, far = (
        minilm.embed_texts(
            ["How fast is GPU memory?", "The H100 has 3 TB/s of memory bandwidth.", "Cats purr."]
        )
        or []
    )
    assert len(query) == 384 and math.isclose(sum(x * x for x in query), 1.0, rel_tol=1e-4)

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(query, near) > dot(query, far)
    assert minilm.embed_texts(["How fast is GPU memory?"]) == [query]
    short = (minilm.embed_texts(["How fast is GPU memory?"], 64) or [[]])[0]
    assert len(short) == 64 and math.isclose(sum(x * x for x in short), 1.0, rel_tol=1e-4)
    ranked = minilm.rank("GPU memory bandwidth", ["Cats purr.", "The H100 has 3 TB/s."]) or []
    assert [r["index"] for r in ranked] == [1, 0]
    with pytest.raises(ValueError):
        minilm.embed_texts(["x"], 1024)
