"""Chat engines: deterministic, honest, shaped by the request (labels, model kind, limits)."""

from __future__ import annotations

import pytest
from server_helpers import CHAT_MODEL, chat_body, stream_chunks, streamed_text

STEER = "nvidia/nemotron-steerlm-8b"


def answer(http, body: dict) -> dict:
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def content(http, body: dict) -> str:
    return answer(http, body)["choices"][0]["message"]["content"]


def with_labels(text: str, **labels: int) -> dict:
    body = chat_body(text, model=STEER)
    body["messages"].append({"role": "assistant", "labels": labels})
    return body


def test_the_same_request_gets_the_same_answer(http):
    body = chat_body("What is a tensor core?")
    assert content(http, body) == content(http, body)


def test_answers_say_they_come_from_the_local_server_and_name_the_model(http):
    text = content(http, chat_body("What is a tensor core?"))
    assert "local nvnb server" in text
    assert CHAT_MODEL in text
    assert "What is a tensor core?" in text


def test_a_completion_has_the_openai_shape(http):
    data = answer(http, chat_body())
    assert data["object"] == "chat.completion"
    assert data["model"] == CHAT_MODEL
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_verbosity_changes_the_length(http):
    short = content(http, with_labels("Explain GPUs.", verbosity=0))
    long = content(http, with_labels("Explain GPUs.", verbosity=9))
    assert len(long) > 2 * len(short)


def test_creativity_changes_the_wording(http):
    plain = content(http, with_labels("Explain GPUs.", creativity=0, verbosity=3))
    lively = content(http, with_labels("Explain GPUs.", creativity=9, verbosity=3))
    assert plain != lively
    assert "local nvnb server" in plain and "local nvnb server" in lively


def test_labels_in_force_are_reported(http):
    text = content(http, with_labels("Hi", creativity=2, complexity=3, verbosity=8))
    assert "complexity=3" in text


def test_earlier_turns_and_the_system_prompt_shape_the_answer(http):
    body = chat_body("And now?")
    body["messages"] = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        *body["messages"],
    ]
    body["messages"].append({"role": "assistant", "labels": {"verbosity": 9}})
    body["model"] = STEER
    text = content(http, body)
    assert "Be terse." in text and "2 earlier turns" in text


def test_code_models_answer_with_a_fenced_block_in_the_named_language(http):
    text = content(
        http, chat_body("Write a rust function that reverses a string", model="meta/codellama-70b")
    )
    assert "```rust\n" in text and text.rstrip().endswith("```")
    assert "local nvnb server" in text
    python = content(http, chat_body("Sort a list of numbers", model="meta/codellama-70b"))
    assert "```python\n" in python


def test_qa_models_extract_the_context_sentence_that_answers(http):
    body = {
        "model": "nvidia/nemotron-qa-8b",
        "messages": [
            {
                "role": "context",
                "content": "The Eiffel Tower is in Paris. The tower was finished in "
                "1889. Mount Fuji is the tallest mountain in Japan.",
            },
            {"role": "user", "content": "When was the Eiffel Tower finished?"},
        ],
    }
    text = content(http, body)
    assert text.startswith("The tower was finished in 1889.")
    assert "Mount Fuji" not in text
    body["messages"][1]["content"] = "Which mountain is tallest in Japan?"
    assert "Mount Fuji is the tallest mountain in Japan." in content(http, body)


def test_qa_without_context_says_so(http):
    body = {"model": "nvidia/nemotron-qa-8b", "messages": [{"role": "user", "content": "Why?"}]}
    assert "context" in content(http, body)


def test_stop_cuts_the_answer_before_the_stop_sequence(http):
    full = content(http, chat_body("Hello"))
    cut = answer(http, chat_body("Hello", stop=["You wrote"]))
    assert cut["choices"][0]["message"]["content"] == full[: full.index("You wrote")]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_bounds_the_answer_with_finish_reason_length(http):
    data = answer(http, chat_body("Hello", max_tokens=5))
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 5
    assert data["choices"][0]["message"]["content"] == "This is the local nvnb"


@pytest.mark.parametrize("extra", [{}, {"max_tokens": 7}, {"stop": ["server"]}])
def test_usage_and_text_agree_between_json_and_stream(http, extra):
    body = chat_body("Count my tokens, please.", **extra)
    data = answer(http, body)
    chunks = stream_chunks(http, {**body, "stream_options": {"include_usage": True}})
    assert streamed_text(chunks) == data["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == data["usage"]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == data["choices"][0]["finish_reason"]


def test_thinking_models_reason_when_thinking_is_switched_on_by_params(http):
    model = "deepseek-ai/deepseek-v3.2"
    off = answer(http, chat_body("Why is the sky blue?", model=model))
    assert "reasoning_content" not in off["choices"][0]["message"]
    on = answer(
        http,
        chat_body(
            "Why is the sky blue?", model=model, chat_template_kwargs={"enable_thinking": True}
        ),
    )
    reasoning = on["choices"][0]["message"]["reasoning_content"]
    assert "local nvnb server" in reasoning


def test_thinking_models_reason_when_the_system_prompt_switches_it_on(http):
    body = chat_body("Why?", model="nvidia/llama-3.3-nemotron-super-49b-v1")
    body["messages"].insert(0, {"role": "system", "content": "detailed thinking on"})
    assert answer(http, body)["choices"][0]["message"].get("reasoning_content")
    body["messages"][0]["content"] = "detailed thinking off"
    assert "reasoning_content" not in answer(http, body)["choices"][0]["message"]


def test_reasoning_streams_before_the_content(http):
    body = chat_body("Hi", model="nvidia/nvidia-nemotron-nano-9b-v2")
    body["messages"].insert(0, {"role": "system", "content": "/think"})
    chunks = stream_chunks(http, body)
    kinds = [
        next(iter(k for k in c["choices"][0]["delta"] if k != "role"))
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"]
    ]
    assert kinds[0] == "reasoning_content" and "content" in kinds
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning_content")


def test_the_long_fault_makes_an_answer_of_that_many_characters(http):
    response = http.post(
        "/v1/chat/completions",
        json=chat_body(max_tokens=10),
        headers={"X-NVNB-Fault": "long=5000000"},
    )
    assert len(response.json()["choices"][0]["message"]["content"]) == 5_000_000
