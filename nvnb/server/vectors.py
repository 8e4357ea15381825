"""Embeddings and ranking without a model: stable hashed bag-of-words vectors.

Each word (lower-cased, plural ``s`` dropped, stop words skipped) and its character trigrams
are hashed into a fixed number of dimensions with a sign; the vector is L2-normalised. Texts
sharing words are close, so retrieval and reranking order passages sensibly, offline.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct

from nvnb.server.engines import STOPWORDS
from nvnb.server.tokens import words

DIMENSIONS = 384
MAX_INPUT_TOKENS = 512
TRIGRAM_WEIGHT = 0.3


def embed_many(texts: list[str], dimensions: int = DIMENSIONS) -> list[list[float]]:
    """Unit vectors for ``texts``: the optional small model when installed (see
    :mod:`nvnb.server.minilm`), else hashed. ``dimensions`` keeps the first components and
    re-normalises (as Matryoshka models do); more than :data:`DIMENSIONS` is a ValueError."""
    if not 1 <= dimensions <= DIMENSIONS:
        raise ValueError(f"dimensions must be from 1 to {DIMENSIONS}")
    from nvnb.server import minilm

    found = minilm.embed_texts(texts, dimensions) if minilm.available() else None
    if found is not None:
        return found
    return [_shorten(embed(text), dimensions) for text in texts]


def _shorten(vector: list[float], dimensions: int) -> list[float]:
    if dimensions == len(vector):
        return vector
    head = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in head))
    return [v / norm for v in head] if norm else [1.0] + [0.0] * (dimensions - 1)


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The hashed unit vector of ``text``."""
    vector = [0.0] * dimensions
    found = words(text)
    content = [w for w in found if w not in STOPWORDS] or found
    counts: dict[str, int] = {}
    for word in content:
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        counts[stem] = counts.get(stem, 0) + 1
    for word, count in counts.items():
        weight = 1.0 + math.log(count)
        _add(vector, f"w:{word}", weight)
        padded = f"<{word}>"
        for i in range(len(padded) - 2):
            _add(vector, f"t:{padded[i : i + 3]}", TRIGRAM_WEIGHT * weight)
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


def _add(vector: list[float], feature: str, weight: float) -> None:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    vector[value % len(vector)] += weight if (value >> 63) & 1 else -weight


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def encode_base64(vector: list[float]) -> str:
    """Little-endian float32, base64-encoded (``encoding_format: "base64"``)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def rank(query: str, passages: list[str]) -> list[dict]:
    """``[{"index", "logit"}]`` best first; the logit grows with cosine similarity."""
    q, *rest = embed_many([query, *passages])
    scored = [{"index": i, "logit": round(10 * cosine(q, p) - 4, 4)} for i, p in enumerate(rest)]
    return sorted(scored, key=lambda r: (-r["logit"], r["index"]))
