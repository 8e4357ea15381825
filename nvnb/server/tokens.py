"""One tokenizer for everything the server counts, cuts or streams.

A token is a run of word characters, one CJK character, or one punctuation mark. Counting,
``max_tokens`` cuts and stream chunks all use it, so usage agrees between JSON and stream.
"""

from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = rf"[{_CJK}]|(?:(?![{_CJK}])\w)+|[^\w\s]"
_TOKEN_RE = re.compile(_TOKEN)
_PIECE_RE = re.compile(rf"\s*(?:{_TOKEN})")
# Above this size a stream sends fixed-size pieces instead of one token per chunk.
LARGE_TEXT = 64 * 1024
LARGE_PIECE = 4096


def count(text: str) -> int:
    """Number of tokens in ``text``."""
    return len(_TOKEN_RE.findall(text))


def pieces(text: str) -> list[str]:
    """``text`` split into one piece per token (leading whitespace kept); joins back exactly."""
    found = _PIECE_RE.findall(text)
    rest = len(text) - sum(map(len, found))
    if rest:  # trailing whitespace
        if found:
            found[-1] += text[-rest:]
        else:
            found = [text]
    return found


def chunks(text: str) -> list[str]:
    """Stream pieces: token-sized, or fixed-size for very large texts."""
    if len(text) > LARGE_TEXT:
        return [text[i : i + LARGE_PIECE] for i in range(0, len(text), LARGE_PIECE)]
    return pieces(text)


def limit(
    text: str, *, stop: list[str] | None = None, max_tokens: int | None = None
) -> tuple[str, str]:
    """Cut ``text`` at the first stop sequence, then at ``max_tokens``; return it and the reason."""
    reason = "stop"
    if stop:
        positions = [text.find(s) for s in stop if s]
        positions = [p for p in positions if p >= 0]
        if positions:
            text = text[: min(positions)]
    if max_tokens is not None and count(text) > max_tokens:
        text = "".join(pieces(text)[:max_tokens])
        reason = "length"
    return text, reason


def words(text: str) -> list[str]:
    """Lower-case words (no punctuation), for matching questions, tools and vectors."""
    return [w.lower() for w in re.findall(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+", text)]
