"""Rows → request bodies: %%nvchat's interpolation rules, messages, images, request keys."""

from __future__ import annotations

import pytest

from nvnb.dataset.row_requests import RequestBuilder, referenced_columns, request_key
from nvnb.errors import InvalidInputError


def test_referenced_columns_are_the_bare_names_not_escaped_or_code() -> None:
    template = 'Classify {review} by {author}; keep {{review}}, {"a": 1}, {x[0]}, {review}'
    assert referenced_columns(template) == ["review", "author"]


def test_a_payload_has_the_model_params_and_the_filled_prompt() -> None:
    builder = RequestBuilder(
        "Label {text}", model="m", system="Be brief.", params={"temperature": 0, "seed": None}
    )
    body = builder.payload({"text": "great film", "other": 1})
    assert body == {
        "model": "m",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Label great film"},
        ],
        "stream": False,
    }


def test_values_read_as_text_the_way_nvchat_reads_them() -> None:
    builder = RequestBuilder("{n} and {f} and {none}", model="m")
    assert builder.messages({"n": 3, "f": 0.5, "none": None})[0]["content"] == "3 and 0.5 and None"


def test_a_vision_model_with_flat_image_urls_gets_them_flat() -> None:
    url = "https://example.com/cat.png"
    flat = RequestBuilder("What?", model="m", images=["img"], flatten_images=True)
    assert flat.messages({"img": url})[0]["content"][1] == {"type": "image_url", "image_url": url}
    nested = RequestBuilder("What?", model="m", images=["img"])
    part = nested.messages({"img": url})[0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": url}}
    assert nested.messages({"img": None})[0]["content"] == "What?"  # no image in this row


def test_a_function_template_may_return_text_or_messages_but_not_anything() -> None:
    assert RequestBuilder(lambda r: f"hi {r['a']}", model="m").messages({"a": 1}) == [
        {"role": "user", "content": "hi 1"}
    ]
    with pytest.raises(InvalidInputError, match="must return"):
        RequestBuilder(lambda r: 42, model="m").messages({})
    with pytest.raises(InvalidInputError, match="empty"):
        RequestBuilder(lambda r: "  ", model="m").messages({})


def test_the_request_key_ignores_key_order_and_stream_but_not_content_or_target() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": False}
    b = {"stream": True, "messages": [{"content": "x", "role": "user"}], "model": "m"}
    assert request_key("u", a) == request_key("u", b)
    assert request_key("u", a) != request_key("other", a)
    assert request_key("u", a) != request_key("u", {**a, "temperature": 0.5})
