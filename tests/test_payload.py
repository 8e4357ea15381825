"""nvnb._payload: LangChain messages and call options → the request body."""

from __future__ import annotations

import io
import json
import os
import warnings

import pytest
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from PIL import Image

from nvnb import catalog, images
from nvnb._payload import build_request
from nvnb.errors import ImageError, InvalidInputError

DEFAULTS = {"temperature": None, "max_tokens": 1024, "top_p": None, "seed": None, "stop": None}
STEER = catalog.find_model("nemotron_steerlm_8b")
QA = catalog.find_model("nemotron_qa_8b")
NEVA = catalog.find_model("playground_neva_22b")
LLAMA = catalog.find_model("meta/llama-3.3-70b-instruct")


def body(messages, model=LLAMA, stream=False, options=None, **kw):  # type: ignore[no-untyped-def]
    plan = build_request(
        messages,
        model_id=model.id if model else "my-nim",
        model=model,
        defaults=DEFAULTS,
        options=options or {},
        stream=stream,
        stream_options={"include_usage": True},
        **kw,
    )
    return plan.payload if not plan.uploads else plan


def _noisy_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_plain_call_sends_the_official_fields_and_stream_false() -> None:
    assert body([HumanMessage("hi")]) == {
        "model": LLAMA.id,
        "max_tokens": 1024,
        "stream": False,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_streaming_asks_for_usage_except_on_vlm_and_qa_endpoints() -> None:
    assert body([HumanMessage("hi")], stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body([HumanMessage("hi")], model=NEVA, stream=True)
    assert "stream_options" not in body([HumanMessage("hi")], model=QA, stream=True)


def test_call_options_override_defaults_and_none_values_are_dropped() -> None:
    sent = body(
        [HumanMessage("hi")],
        options={"temperature": 0.5, "stop": ["x"], "top_p": None, "max_tokens": 7},
    )
    assert sent["temperature"] == 0.5 and sent["stop"] == ["x"] and sent["max_tokens"] == 7
    assert "top_p" not in sent


def test_roles_map_to_the_wire_including_tools_and_context() -> None:
    call = {"name": "add", "args": {"a": 1}, "id": "call_1"}
    sent = body(
        [
            SystemMessage("be brief"),
            HumanMessage("add"),
            AIMessage("", tool_calls=[call]),
            ToolMessage("2", tool_call_id="call_1"),
        ]
    )["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[2]["content"] is None
    assert sent[2]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    ]
    assert sent[3] == {"role": "tool", "content": "2", "tool_call_id": "call_1"}


def test_list_content_without_images_becomes_text() -> None:
    sent = body(
        [
            AIMessage([{"type": "text", "text": "a"}, {"type": "tool_use", "id": "x"}]),
            HumanMessage([{"type": "text", "text": "b"}, "c"]),
        ]
    )["messages"]
    assert sent[0]["content"] == "a" and sent[1]["content"] == "bc"


def test_qa_models_take_only_user_and_context_turns() -> None:
    ok = body(
        [ChatMessage(role="context", content="Cats signed."), HumanMessage("What?")], model=QA
    )
    assert ok["messages"][0] == {"role": "context", "content": "Cats signed."}
    with pytest.raises(InvalidInputError, match="'system'"):
        body([SystemMessage("x"), HumanMessage("y")], model=QA)


def test_context_turns_to_other_models_warn_but_are_sent() -> None:
    with pytest.warns(UserWarning, match="QA"):
        sent = body([ChatMessage(role="context", content="c"), HumanMessage("q")])
    assert sent["messages"][0]["role"] == "context"


def test_labels_are_checked_and_sent_as_a_trailing_assistant_message() -> None:
    labels = {"creativity": 0, "complexity": 3, "verbosity": 9}
    sent = body([HumanMessage("PB&J?")], model=STEER, labels=labels)
    assert sent["messages"][-1] == {"role": "assistant", "labels": labels}
    assert "labels" not in sent
    per_call = body(
        [HumanMessage("x")], model=STEER, labels=labels, options={"labels": {"verbosity": 1}}
    )
    assert per_call["messages"][-1]["labels"]["verbosity"] == 1


def test_labels_to_a_qa_model_are_refused_before_sending() -> None:
    qa = catalog.find_model("nvidia/llama3-chatqa-1.5-8b")
    assert qa is not None and qa.is_qa
    for model in (qa, QA):
        with pytest.raises(InvalidInputError, match="takes no labels"):
            body([HumanMessage("q")], model=model, labels={"creativity": 1})
        with pytest.raises(InvalidInputError, match="takes no labels"):
            body([HumanMessage("q")], model=model, options={"labels": {"creativity": 1}})
    assert body([HumanMessage("q")], model=qa, labels={})["messages"] == [
        {"role": "user", "content": "q"}
    ]


def test_an_unknown_chat_message_role_is_refused_before_sending() -> None:
    with pytest.raises(InvalidInputError) as info:
        body([ChatMessage(role="critic", content="hm")])
    assert "'critic'" in str(info.value)
    for role in ("'system'", "'user'", "'assistant'", "'tool'", "'context'"):
        assert role in str(info.value)
    with pytest.raises(InvalidInputError, match="for 'human', use 'user'"):
        body([ChatMessage(role="human", content="hm")])
    sent = body([ChatMessage(role="system", content="s"), ChatMessage(role="user", content="u")])
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_labels_to_a_model_not_marked_steerlm_are_left_out_unless_forced() -> None:
    sent = body([HumanMessage("x")], model=None, labels={"creativity": 1})
    assert [m["role"] for m in sent["messages"]] == ["user"]
    forced = body([HumanMessage("x")], model=None, labels={"creativity": 1}, force_labels=True)
    assert forced["messages"][-1] == {"role": "assistant", "labels": {"creativity": 1}}


def test_image_parts_and_standard_blocks_become_openai_image_url_parts() -> None:
    tiny = images.to_data_uri(_noisy_png(4), "image/png")
    b64 = tiny.split(",", 1)[1]
    sent = body(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "Describe"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                    },
                    {"type": "image", "base64": b64, "mime_type": "image/png"},
                    {"type": "image", "url": "https://x.test/b.png"},
                ]
            )
        ]
    )["messages"][0]["content"]
    assert sent[1] == {
        "type": "image_url",
        "image_url": {"url": "https://x.test/a.png", "detail": "low"},
    }
    assert sent[2]["image_url"]["url"] == tiny
    assert sent[3]["image_url"]["url"] == "https://x.test/b.png"


def test_nv_vlm_models_get_the_flattened_image_part() -> None:
    sent = body(
        [HumanMessage([{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}])],
        model=NEVA,
    )
    assert sent["messages"][0]["content"] == [
        {"type": "image_url", "image_url": "https://x.test/a.png"}
    ]


def test_bad_detail_and_local_paths_in_messages_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="detail"):
        body(
            [
                HumanMessage(
                    [
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x.test/a", "detail": "max"},
                        }
                    ]
                )
            ]
        )
    with pytest.raises(ImageError, match="from_path"):
        body([HumanMessage([{"type": "image_url", "image_url": {"url": "./cat.png"}}])])


def test_oversized_inline_images_are_shrunk_and_relabelled_without_uploads() -> None:
    big = images.to_data_uri(_noisy_png(400), "image/png")
    content = f'What is this?\n<img src="{big}" />'
    sent = body([HumanMessage(content)], upload_images=False)["messages"][0]["content"]
    assert sent.startswith('What is this?\n<img src="data:image/jpeg;base64,')
    assert len(sent) < images.INLINE_LIMIT + 100


def test_small_inline_images_are_sent_exactly_as_given() -> None:
    small = images.to_data_uri(_noisy_png(16), "image/png")
    content = f'What is this?\n<img src="{small}" />'
    assert body([HumanMessage(content)])["messages"][0]["content"] == content


def test_oversized_images_become_asset_references_when_uploading() -> None:
    big = images.to_data_uri(_noisy_png(400), "image/png")
    plan = body(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": big}},
                ]
            )
        ],
        model=NEVA,
        upload_images=True,
    )
    assert len(plan.uploads) == 1 and plan.uploads[0].mime == "image/png"
    sent = plan.resolve(["asset-42"])["messages"][0]["content"]
    assert sent[1] == {"type": "text", "text": '<img src="data:image/png;asset_id,asset-42" />'}


def test_thinking_mode_uses_the_catalog_record() -> None:
    params = catalog.find_model("deepseek-ai/deepseek-v3.1")
    sent = body([HumanMessage("x")], model=params, options={"thinking_mode": True})
    assert sent["chat_template_kwargs"] == {"enable_thinking": True}
    prefix = catalog.find_model("nvidia/llama-3.3-nemotron-super-49b-v1")
    sent = body([HumanMessage("x")], model=prefix, options={"thinking_mode": False})
    assert sent["messages"][0] == {"role": "system", "content": "detailed thinking off"}
    sent = body(
        [SystemMessage("Be kind."), HumanMessage("x")],
        model=prefix,
        options={"thinking_mode": True},
    )
    assert sent["messages"][0]["content"] == "Be kind.\ndetailed thinking on"


def test_no_warning_for_ordinary_requests() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body([HumanMessage("hi")])


def test_invalid_tool_calls_are_not_sent_back() -> None:
    cut = AIMessage(
        "",
        invalid_tool_calls=[
            {"id": "c1", "name": "add", "args": '{"a": 1, "b', "error": None, "type": "x"}
        ],
        additional_kwargs={
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a'}}
            ]
        },
    )
    mixed = AIMessage(
        "Adding.",
        tool_calls=[{"id": "c2", "name": "add", "args": {"a": 1, "b": 2}}],
        invalid_tool_calls=[{"id": "c3", "name": "add", "args": "{", "error": None}],
    )
    sent = body(
        [
            HumanMessage("add 1 and 2"),
            cut,
            ToolMessage("error: bad arguments", tool_call_id="c1"),
            HumanMessage("again"),
            mixed,
            ToolMessage("3", tool_call_id="c2"),
        ]
    )
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "user", "assistant", "tool"]
    assistant = sent["messages"][2]
    assert [c["id"] for c in assistant["tool_calls"]] == ["c2"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 1, "b": 2}
