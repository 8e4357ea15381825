"""Deterministic answers: the same request always gets the same words.

Every engine is a small general rule over the request (see DESIGN.md), and every text answer
says that it comes from the local nvnb server: nothing here pretends to be a language model.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nvnb.server import tools
from nvnb.server.conversation import Conversation
from nvnb.server.tokens import words

if TYPE_CHECKING:
    from nvnb.catalog import Model

_STOPWORDS_TEXT = (
    "a an the is are was were be been being of to in on at by for with about as into from and "
    "or but not no do does did what which who whom whose when where why how this that these "
    "those it its i you he she we they me my your our their there here can could would should "
    "will shall may might must have has had than then so if please tell give"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass
class Answer:
    content: str
    reasoning: str | None = None
    tool_calls: list[dict] = field(default_factory=list)
    finish_reason: str = "stop"
    refusal: str | None = None


REFUSAL = (
    "I'm sorry, but I can't help with that request. (A refusal from the local nvnb server, "
    "asked for with X-NVNB-Fault: refusal.)"
)


def choice(answer: Answer, index: int, count: int) -> Answer:
    """A copy of ``answer`` as choice ``index`` of ``count`` (``n``): the first as is, the others
    say which they are, so the choices differ, the same way in every run."""
    if index == 0 or answer.tool_calls:
        return dataclasses.replace(answer, tool_calls=list(answer.tool_calls))
    prefix = f"(Choice {index + 1} of {count}.) "
    return dataclasses.replace(answer, content=prefix + answer.content)


def respond(model: Model, body: dict, conv: Conversation, image_facts: list[str]) -> Answer:
    """The answer to a validated chat request."""
    last = conv.last
    after_tool = last is not None and last.role == "tool"
    calls = tools.tools_to_call(body, conv.last_user, after_tool)
    if calls:
        made = [tools.make_call(tool, conv.last_user, i) for i, tool in enumerate(calls)]
        return Answer("", reasoning(model, body, conv), made, "tool_calls")
    structured = structured_answer(body, conv)
    if structured is not None:
        content = structured
    elif model.type == "qa":
        content = qa_answer(conv)
    elif after_tool:
        content = tool_result_answer(model, conv)
    elif model.type == "code":
        content = code_answer(model, conv)
    elif image_facts:
        content = vision_answer(model, conv, image_facts)
    else:
        content = chat_answer(model, conv)
    return Answer(content, reasoning(model, body, conv))


# -- structured output ------------------------------------------------------------------------


def structured_answer(body: dict, conv: Conversation) -> str | None:
    """JSON text for ``response_format`` / ``guided_json`` / ``guided_choice``, else None."""
    nvext = body.get("nvext") if isinstance(body.get("nvext"), dict) else {}
    fmt = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
    choices = body.get("guided_choice", nvext.get("guided_choice"))
    if isinstance(choices, list) and choices:
        said = set(words(conv.last_user))
        return next((str(c) for c in choices if str(c).lower() in said), str(choices[0]))
    schema = body.get("guided_json", nvext.get("guided_json"))
    if schema is None and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema", spec) if isinstance(spec, dict) else {}
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError:
            schema = {}
    values = tools.extract(conv.last_user)
    if schema is not None:
        return json.dumps(tools.fill(schema, values, name="value"), ensure_ascii=False)
    if fmt.get("type") == "json_object":
        fallback = f"the local nvnb server read: {conv.last_user[:200]}"
        return json.dumps(tools.free_object(values, fallback), ensure_ascii=False)
    return None


# -- chat and SteerLM -------------------------------------------------------------------------

_OPENERS = (
    "The local nvnb server answers for {model}.",
    "This is the local nvnb server, standing in for {model}.",
    "Greetings from the local nvnb server, which plays {model} on this machine.",
    "Hello there! The local nvnb server, wearing {model}'s name tag, is delighted to reply.",
)
_CLOSERS = (
    "That is all.",
    "That is the whole answer.",
    "Thanks for the question.",
    "May your prompts be crisp and your tokens plentiful!",
)


def chat_answer(model: Model, conv: Conversation) -> str:
    """A few honest sentences built from the turn, the model and the labels in force."""
    labels = conv.labels
    mood = min(int(labels.get("creativity", 3)) // 3, 3)
    turn = conv.last_user
    sentences = [_OPENERS[mood].format(model=model.id)]
    if turn:
        sentences.append(f"You wrote: “{_clip(turn, 200)}”.")
    else:
        sentences.append("There was no user turn to answer.")
    pool = _more_sentences(model, conv, turn)
    verbosity = labels.get("verbosity")
    wanted = 3 if verbosity is None else 1 + int(verbosity)
    sentences.extend(pool[: max(wanted - 1, 0)])
    sentences.append(_CLOSERS[mood])
    return " ".join(sentences)


def _more_sentences(model: Model, conv: Conversation, turn: str) -> list[str]:
    key = _key_words(turn, 3)
    history = sum(1 for t in conv.turns[:-1] if t.role in ("user", "assistant"))
    labels = conv.labels
    more = [
        "No language model runs here: the reply is built from your request by fixed rules, "
        "so the same request always gets the same words."
    ]
    if key:
        more.append(f"Its key words are {', '.join(key)}.")
    if conv.system:
        more.append(f"The system prompt says: “{_clip(conv.system, 120)}”.")
    if history:
        more.append(f"This conversation has {history} earlier turns.")
    if labels:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        more.append(f"Labels in force: {shown}.")
    if int(labels.get("complexity", 0)) >= 6:
        more.append(
            "Put technically: the reply is a pure function of the request body, "
            "tokenised by a regular expression and streamed one token per chunk."
        )
    more += [
        f"The turn has {len(words(turn))} words and {len(turn)} characters.",
        f"With an NVIDIA_API_KEY, the same code would reach NVIDIA's hosted {model.id}.",
        "Labels such as verbosity and creativity change the length and the wording here.",
        "Streaming sends the same text one token at a time.",
        "Tools, structured output, images and context turns each have their own rule.",
        "This sentence exists because more words were asked for.",
    ]
    return more


def _key_words(text: str, n: int) -> list[str]:
    seen: list[str] = []
    for word in words(text):
        if word not in STOPWORDS and word not in seen and not word.isdigit():
            seen.append(word)
    return sorted(seen, key=lambda w: (-len(w), seen.index(w)))[:n]


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- tools ------------------------------------------------------------------------------------


def tool_result_answer(model: Model, conv: Conversation) -> str:
    """After tool results: quote them."""
    names: dict[str, str] = {}
    for turn in conv.turns:
        for call in turn.tool_calls:
            names[call.get("id", "")] = call.get("function", {}).get("name", "the tool")
    results = []
    for turn in reversed(conv.turns):
        if turn.role != "tool":
            break
        results.insert(0, turn)
    quoted = "; ".join(f"{t.name or 'the tool'} returned “{_clip(t.text, 300)}”" for t in results)
    return f"The local nvnb server ({model.id}) read the tool results: {quoted}."


# -- code -------------------------------------------------------------------------------------

_LANGUAGES = {
    "python": "python",
    "py": "python",
    "javascript": "javascript",
    "js": "javascript",
    "typescript": "typescript",
    "rust": "rust",
    "go": "go",
    "golang": "go",
    "bash": "bash",
    "shell": "bash",
    "sql": "sql",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
}
_TEMPLATES = {
    "python": '# {note}\ndef {name}(*args):\n    """{turn}"""\n    raise NotImplementedError'
    '("written by the local nvnb server: a skeleton, not a solution")\n',
    "javascript": "// {note}\nfunction {name}(...args) {{\n  // {turn}\n  throw new Error("
    '"a skeleton from the local nvnb server");\n}}\n',
    "typescript": "// {note}\nexport function {name}(...args: unknown[]): never {{\n  // {turn}\n"
    '  throw new Error("a skeleton from the local nvnb server");\n}}\n',
    "rust": '// {note}\n// {turn}\nfn {name}() {{\n    todo!("a skeleton from the local nvnb '
    'server")\n}}\n',
    "go": '// {note}\n// {turn}\nfunc {name}() {{\n\tpanic("a skeleton from the local nvnb '
    'server")\n}}\n',
    "bash": '# {note}\n# {turn}\n{name}() {{\n  echo "a skeleton from the local nvnb server"'
    " >&2\n  return 1\n}}\n",
    "sql": "-- {note}\n-- {turn}\nSELECT 'a skeleton from the local nvnb server' AS {name};\n",
    "java": "// {note}\n// {turn}\nclass Skeleton {{\n    static void {name}() {{\n"
    '        throw new UnsupportedOperationException("local nvnb server");\n    }}\n}}\n',
    "c": "/* {note} */\n/* {turn} */\nint {name}(void) {{\n"
    "    return -1; /* local nvnb server */\n}}\n",
    "cpp": "// {note}\n// {turn}\nint {name}() {{\n    return -1;  // local nvnb server\n}}\n",
}


def code_answer(model: Model, conv: Conversation) -> str:
    """A fenced code skeleton in the language the turn names (Python by default)."""
    turn = conv.last_user
    said = re.findall(r"[a-z+#]+", turn.lower())
    language = next((_LANGUAGES[w] for w in said if w in _LANGUAGES and w != "c"), None)
    if language is None:
        language = "c" if re.search(r"\bin c\b", turn.lower()) else "python"
    name = "_".join(_key_words(turn, 3)[:2]) or "solution"
    name = re.sub(r"\W", "_", name)
    if language in ("javascript", "typescript", "java"):
        head, *tail = name.split("_")
        name = head + "".join(t.title() for t in tail)
    note = f"Local nvnb server ({model.id}): a skeleton, no model wrote this."
    code = _TEMPLATES[language].format(note=note, name=name, turn=_clip(turn, 100) or "no request")
    return f"A {language} skeleton from the local nvnb server:\n\n```{language}\n{code}```\n"


# -- question answering -----------------------------------------------------------------------


def qa_answer(conv: Conversation) -> str:
    """Extractive: the context sentence sharing most words with the question."""
    question = {_stem(w) for w in words(conv.last_user)} - STOPWORDS
    sentences = [
        s.strip()
        for text in conv.context
        for s in re.split(r"(?<=[.!?])\s+|\n+", text)
        if s.strip()
    ]
    if not sentences:
        return (
            "The local nvnb server answers QA models from context turns only, and this "
            "request has none."
        )
    wants_number = (
        re.match(r"\s*(when|how (many|much|long|old|far)|what year)\b", conv.last_user.lower())
        is not None
    )
    scored = [
        (
            len(question & {_stem(w) for w in words(s)})
            + (0.5 if wants_number and re.search(r"\d", s) else 0),
            -i,
            s,
        )
        for i, s in enumerate(sentences)
    ]
    best = max(scored)
    if best[0] == 0:
        return "The context does not say. (Extractive answer from the local nvnb server.)"
    return f"{best[2]}\n\n(Extracted from the context by the local nvnb server.)"


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


# -- vision -----------------------------------------------------------------------------------


def vision_answer(model: Model, conv: Conversation, facts: list[str]) -> str:
    """What Pillow could read from the images, then the turn."""
    lines = [
        f"The local nvnb server ({model.id}) does not see; it measured the image(s) with Pillow:"
    ]
    lines += [f"- {fact}" for fact in facts]
    if not model.supports_images:
        lines.append(f"(The catalog does not list {model.id} as a vision model.)")
    if conv.last_user:
        lines.append(f"You asked: “{_clip(conv.last_user, 200)}”.")
    return "\n".join(lines)


# -- reasoning --------------------------------------------------------------------------------


def thinking_enabled(model: Model, body: dict, conv: Conversation) -> bool:
    """Whether the request switches on reasoning for a model whose record says how."""
    thinking = model.thinking or {}
    if "enable_params" in thinking:
        return _contains(body, thinking["enable_params"])
    prefix, off = thinking.get("enable_prefix"), thinking.get("disable_prefix")
    if not prefix:
        return False
    said = f"{conv.system}\n{conv.last_user}"
    return prefix in said and not (off and off in said)


def _contains(body: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(body, dict) and all(
            k in body and _contains(body[k], v) for k, v in wanted.items()
        )
    return body == wanted


def reasoning(model: Model, body: dict, conv: Conversation) -> str | None:
    if not thinking_enabled(model, body, conv):
        return None
    turn = _clip(conv.last_user, 80) or "an empty turn"
    return (
        f"Thinking is on, so the local nvnb server notes its steps: it read “{turn}”, "
        f"found {len(words(conv.last_user))} words, and applies its fixed rules. "
        "No model reasons here."
    )
