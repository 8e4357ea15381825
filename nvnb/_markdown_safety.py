"""Model text made inert for ``text/markdown``, its Markdown formatting kept.

Notebook front ends render Markdown outputs with raw HTML allowed (JupyterLab treats outputs of
the running session as trusted: ``<script>`` runs, ``<img onerror>`` fires). An answer is
untrusted text, so before it is shown as Markdown:

- outside fenced code blocks, ``<`` becomes ``&lt;`` (no tag, no autolink can start), and the
  ``&`` of a character reference (``&#58;``, ``&copy;``) becomes ``&amp;`` (it shows as the model
  wrote it, and cannot spell a URL scheme); ``>`` is kept (it opens no markup, and it makes
  blockquotes and ``$a > b$`` work);
- a code span holding ``<`` (or an entity) becomes ``<code>…</code>`` with its text encoded, so it
  still shows literally whichever way a renderer pairs backticks;
- in math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) ``<`` becomes ``\\lt `` so formulas render;
- a link or image target whose scheme is not ``http``, ``https``, ``mailto`` or a raster
  ``data:image`` gets an ``unsafe:`` prefix, which no browser runs. The scheme is read the way a
  hostile renderer chain could read it: after decoding character references, backslash escapes
  and percent-encoding as many times as it takes (nbconvert's mistune decodes a target twice,
  so ``javascript&amp;colon;`` would otherwise become a live ``javascript:`` link), and after
  dropping what URL parsers ignore (tabs, newlines, leading controls);
- fenced code blocks are kept byte for byte (an unclosed one gets its closing fence). A fence is
  kept only where every CommonMark/GFM renderer sees the same block; where one might see it end
  elsewhere (a less indented line inside, an odd closing line) the rest is treated as prose, which
  is safe whatever a renderer makes of it.

Line endings become ``\\n``. Plain Markdown (headings, lists, tables, emphasis, quotes, links to
https) passes unchanged.
"""

from __future__ import annotations

import html
import re
import urllib.parse

__all__ = ["inert_markdown"]

_FENCE_OPEN = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_SAFE_INFO = re.compile(r"[\w+.#-]*")
# What a renderer (or a browser, in an attribute) would decode as a character reference.
_ENTITY_START = re.compile(r"#|[A-Za-z][A-Za-z0-9]*;")
# The start of a link or image target (inline, or a reference definition): its first 200
# characters are enough to read its scheme.
_TARGET = re.compile(r"(?<=\])(\(|:)(\s*(?:&lt;)?)(\S{1,200})")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "unsafe"})
_RASTER_DATA = re.compile(r"data:image/(?:png|gif|jpe?g|webp|avif|bmp)[;,]", re.IGNORECASE)
# What a URL parser drops before reading a scheme (WHATWG URL: tab and newlines anywhere,
# C0 controls and spaces at the start).
_URL_IGNORED = re.compile(r"[\t\n\r]|^[\x00-\x20]+")
_ESCAPED_PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])")
_DECODE_ROUNDS = 4
_AMBIGUOUS = -1


def inert_markdown(text: str) -> str:
    """``text`` as Markdown that renders the same but runs no script (see the module docstring)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opened = _fence_opening(lines[i])
        if opened is None:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, info = opened
        end = _fence_end(lines, i, indent, fence)
        if end == _AMBIGUOUS:
            break  # from here on, everything is prose: inert whatever the renderer decides
        if prose:
            out.append(_inert_prose("\n".join(prose)))
            prose = []
        opening = lines[i]
        if any(c in info for c in "<>&\"'"):  # keep the language name only
            opening = " " * indent + fence + _SAFE_INFO.findall(info.strip())[0]
        if end is None:  # unclosed: a renderer runs it to the end; close it so all agree
            body = lines[i + 1 :]
            trailing = 0
            while body and not body[-1]:  # the closing fence goes before trailing newlines
                body.pop()
                trailing += 1
            out.append("\n".join([opening, *body, " " * indent + fence, *[""] * trailing]))
            return "\n".join(out)
        out.append("\n".join([opening, *lines[i + 1 : end + 1]]))
        i = end + 1
    prose += lines[i:]
    if prose:
        out.append(_inert_prose("\n".join(prose)))
    return "\n".join(out)


def _fence_opening(line: str) -> tuple[int, str, str] | None:
    match = _FENCE_OPEN.fullmatch(line)
    if match is None:
        return None
    indent, fence, info = match.groups()
    if fence[0] == "`" and "`" in info:
        return None  # not a fence (CommonMark): an inline code span
    return len(indent), fence, info


def _columns(line: str) -> tuple[int, str]:
    """Indentation width of ``line`` (tabs to the next multiple of 4) and the rest."""
    width = 0
    for pos, char in enumerate(line):
        if char == " ":
            width += 1
        elif char == "\t":
            width += 4 - width % 4
        else:
            return width, line[pos:]
    return width, ""


def _fence_end(lines: list[str], start: int, indent: int, fence: str) -> int | None:
    """Index of the closing line, None if unclosed, _AMBIGUOUS if renderers could disagree.

    A fence indented by ``indent`` may sit in a list item whose content starts anywhere from
    column 0 to ``indent``: a less indented line could end that item (and the block), and a
    closing line indented by more than 3 closes it for some of those readings only.
    """
    char, size = fence[0], len(fence)
    for pos in range(start + 1, len(lines)):
        line = lines[pos]
        width, rest = _columns(line)
        if not rest:
            continue  # blank lines stay inside
        if width < indent:
            return _AMBIGUOUS
        run = len(rest) - len(rest.lstrip(char))
        if run < size:
            continue
        after = rest[run:]
        plain_indent = line[: len(line) - len(rest)] == " " * width
        if plain_indent and width <= 3 and after.strip(" ") == "":
            return pos
        if width <= indent + 3 and after.strip(" \t`~") == "":
            return _AMBIGUOUS  # a closing line for some renderers only
    return None


def _inert_prose(text: str) -> str:
    out: list[str] = []
    pos, size = 0, len(text)
    backslashes = 0  # consecutive backslashes just emitted (an odd count escapes what follows)
    while pos < size:
        char = text[pos]
        if char == "`":
            run_end = _run_end(text, pos, "`")
            close = _closing_run(text, run_end, run_end - pos)
            if close is not None:
                out.append(_code_span(text[pos : close + run_end - pos], text[run_end:close]))
                pos = close + run_end - pos
            else:
                out.append(text[pos:run_end])
                pos = run_end
            backslashes = 0
            continue
        math_end = _math_end(text, pos) if backslashes % 2 == 0 else None
        if math_end is not None:
            out.append(_inert_math(text[pos:math_end]))
            pos, backslashes = math_end, 0
            continue
        if char == "<":
            out.append("\\&lt;" if backslashes % 2 else "&lt;")
        elif char == "&" and _ENTITY_START.match(text, pos + 1):
            out.append("&amp;")
        else:
            out.append(char)
        backslashes = backslashes + 1 if char == "\\" else 0
        pos += 1
    return _TARGET.sub(_neutralise_target, "".join(out))


def _neutralise_target(match: re.Match[str]) -> str:
    opening, space, target = match.groups()
    if _runs_script(target):
        return f"{opening}{space}unsafe:{target}"
    return match.group(0)


def _runs_script(target: str) -> bool:
    """Whether a link target could name a scheme other than http(s)/mailto/raster data:
    however many times a renderer decodes it (character references, backslash escapes,
    percent-encoding), once a URL parser has dropped what it ignores."""
    seen = target
    for _ in range(_DECODE_ROUNDS + 1):
        plain = _URL_IGNORED.sub("", seen)
        found = _SCHEME.match(plain)
        scheme = found.group(1).lower() if found else None
        if scheme and scheme not in _SAFE_SCHEMES and not _RASTER_DATA.match(plain):
            return True
        decoded = html.unescape(_ESCAPED_PUNCTUATION.sub(r"\1", urllib.parse.unquote(seen)))
        if decoded == seen:
            return False
        seen = decoded
    return True  # still changing after every round a renderer might do: refuse it


def _run_end(text: str, pos: int, char: str) -> int:
    while pos < len(text) and text[pos] == char:
        pos += 1
    return pos


def _closing_run(text: str, start: int, size: int) -> int | None:
    """Start of the next run of exactly ``size`` backticks on the same line."""
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    pos = start
    while True:
        pos = text.find("`", pos, line_end)
        if pos < 0:
            return None
        end = _run_end(text, pos, "`")
        if end - pos == size:
            return pos
        pos = end


def _code_span(source: str, content: str) -> str:
    """The span as written, or as ``<code>`` with encoded text if it holds ``<`` or an entity."""
    if "<" not in content and not re.search("&(?:" + _ENTITY_START.pattern + ")", content):
        return source
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]  # CommonMark strips one space each side
    encoded = "".join(
        f"&#{ord(c)};" if c.isascii() and not c.isalnum() and c != " " else c for c in content
    )
    return f"<code>{encoded}</code>"


_INLINE_MATH = re.compile(r"\$(?!\s)(?:[^$\n\\]|\\.)*?(?<!\s)\$(?!\d)")
_MATH_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"))


def _math_end(text: str, pos: int) -> int | None:
    """End of the math starting at ``pos`` (TeX that notebooks typeset), else None."""
    for opening, closing in _MATH_DELIMITERS:
        if text.startswith(opening, pos):
            end = text.find(closing, pos + len(opening))
            return None if end < 0 else end + len(closing)
    # Inline $…$ (pandoc's rule): no space inside the dollars, no digit after the closing one.
    match = _INLINE_MATH.match(text, pos)
    return match.end() if match else None


def _inert_math(source: str) -> str:
    """Math with ``<`` spelt ``\\lt`` (typeset the same) and entities escaped."""
    source = source.replace("<", "\\lt ")
    return re.sub("&(?=" + _ENTITY_START.pattern + ")", "&amp;", source)
