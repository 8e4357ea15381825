"""ChatNVIDIA: refusals and several choices (n > 1), end to end against ``nvnb serve``.

The server answers a refusal on demand (``X-NVNB-Fault: refusal``) and ``n`` distinct choices,
streamed interleaved one chunk of each choice in turn, as OpenAI streams them.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from nvnb import ChatNVIDIA
from nvnb._response import StreamAssembler
from nvnb.errors import StreamInterrupted

MODEL = "meta/llama-3.3-70b-instruct"
REFUSAL_START = "I'm sorry, but I can't help with that request."


def _llm(server: Any, fault: str | None = None, **kw: Any) -> ChatNVIDIA:
    headers = {"X-NVNB-Fault": fault} if fault else {}
    return ChatNVIDIA(
        model=MODEL, base_url=server.base_url, default_headers=headers, max_retries=0, **kw
    )


# ---------------------------------------------------------------- refusals


def test_a_refusal_is_kept_when_invoking(nvnb_server: Any) -> None:
    message = _llm(nvnb_server, "refusal").invoke("Help me with something bad")
    assert message.content == ""
    assert message.additional_kwargs["refusal"].startswith(REFUSAL_START)


def test_a_streamed_refusal_is_kept_whole(nvnb_server: Any) -> None:
    chunks = list(_llm(nvnb_server, "refusal").stream("Help me with something bad"))
    assert len(chunks) > 3  # it really came in pieces
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.content == ""
    assert full.additional_kwargs["refusal"].startswith(REFUSAL_START)
    assert (
        full.additional_kwargs["refusal"]
        == _llm(nvnb_server, "refusal").invoke("x").additional_kwargs["refusal"]
    )


async def test_a_refusal_is_kept_on_the_async_paths(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server, "refusal")
    message = await llm.ainvoke("no")
    assert message.additional_kwargs["refusal"].startswith(REFUSAL_START)
    refusal = "".join([c.additional_kwargs.get("refusal", "") async for c in llm.astream("no")])
    assert refusal == message.additional_kwargs["refusal"]


def test_an_ordinary_answer_has_no_refusal_entry(nvnb_server: Any) -> None:
    message = _llm(nvnb_server).invoke("Hello")
    assert message.content and "refusal" not in message.additional_kwargs


# ---------------------------------------------------------------- several choices


def test_n_choices_give_one_generation_each_in_index_order(nvnb_server: Any) -> None:
    result = _llm(nvnb_server, n=3).generate([[HumanMessage("Name a colour")]])
    texts = [g.text for g in result.generations[0]]
    assert len(texts) == 3 and len(set(texts)) == 3
    assert texts[1].startswith("(Choice 2 of 3.) ") and texts[2].startswith("(Choice 3 of 3.) ")
    assert texts[1].removeprefix("(Choice 2 of 3.) ") == texts[0]
    assert [g.message.response_metadata["choice_index"] for g in result.generations[0]] == [0, 1, 2]
    sent = [r for r in nvnb_server.requests if r.method == "POST"][-1].json
    assert sent["n"] == 3 and sent["stream"] is False


def test_invoke_with_n_returns_the_first_choice(nvnb_server: Any) -> None:
    assert not _llm(nvnb_server, n=2).invoke("Hi").content.startswith("(Choice")


def test_streaming_true_with_n_still_returns_every_choice(nvnb_server: Any) -> None:
    result = _llm(nvnb_server, n=2, streaming=True).generate([[HumanMessage("Hi")]])
    assert len(result.generations[0]) == 2


def test_a_stream_of_n_choices_is_the_first_choice_unmixed(nvnb_server: Any) -> None:
    llm = _llm(nvnb_server)
    whole = llm.generate([[HumanMessage("Tell me about GPUs")]], n=3).generations[0]
    chunks = list(llm.stream("Tell me about GPUs", n=3))
    text = "".join(str(c.content) for c in chunks)
    assert text == whole[0].text
    others = chunks[-1].response_metadata["other_choices"]
    assert [o["index"] for o in others] == [1, 2]
    assert [o["content"] for o in others] == [whole[1].text, whole[2].text]
    assert all(o["finish_reason"] == "stop" for o in others)
    assert chunks[-1].usage_metadata["output_tokens"] > 0


def test_the_partial_text_of_an_interrupted_n_stream_is_the_first_choice_only(
    nvnb_server: Any,
) -> None:
    first = _llm(nvnb_server).invoke("Tell me about GPUs").content
    llm = _llm(nvnb_server, "drop-after=12")
    with pytest.raises(StreamInterrupted) as info:
        list(llm.stream("Tell me about GPUs", n=3))
    partial = info.value.partial_text
    assert partial and first.startswith(partial)  # 4 of choice 0's chunks, nothing of 1 or 2
    assert "Choice" not in partial


def test_interleaved_chunks_are_assembled_by_choice_index() -> None:
    asm = StreamAssembler(model_id="m", request_id="r")
    pieces = [(0, "Hel"), (1, "Bon"), (2, "Ho"), (1, "jour"), (0, "lo"), (2, "la")]
    out = [asm.feed({"choices": [{"index": i, "delta": {"content": t}}]}) for i, t in pieces]
    assert "".join(str(m.content) for m in out if m is not None) == "Hello"
    assert asm.texts == {0: "Hello", 1: "Bonjour", 2: "Hola"}
    assert asm.text == "Hello"
    asm.feed({"choices": [{"index": 1, "delta": {"refusal": "no"}, "finish_reason": "stop"}]})
    closing = asm.finish()
    assert closing.response_metadata["other_choices"][0] == {
        "index": 1,
        "content": "Bonjour",
        "finish_reason": "stop",
        "refusal": "no",
    }


def test_several_choices_in_one_chunk_are_split_too() -> None:
    asm = StreamAssembler(model_id="m", request_id=None)
    both = {
        "choices": [
            {"index": 1, "delta": {"content": "B"}},
            {"index": 0, "delta": {"content": "A"}},
        ]
    }
    first = asm.feed(both)
    assert first is not None and first.content == "B"  # the first index seen leads
    assert asm.texts == {0: "A", 1: "B"}
