"""Input modalities read from a server's /v1/models listing, and the refusal they allow."""

from __future__ import annotations

import pytest

from nvnb.catalog.modalities import carries_images, listed_modalities, refuse_images
from nvnb.errors import InvalidInputError

LLAMA_ITEM = {"id": "g", "architecture": {"input_modalities": ["text"]}}
IMAGE_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def test_modalities_come_from_the_architecture_or_the_top_level() -> None:
    assert listed_modalities(LLAMA_ITEM) == {"text"}
    assert listed_modalities({"id": "v", "input_modalities": ["Text", "IMAGE"]}) == {
        "text",
        "image",
    }
    assert listed_modalities({"id": "x"}) is None
    assert listed_modalities({"id": "x", "architecture": {"input_modalities": []}}) is None


def test_images_are_found_in_parts_and_inline_tags() -> None:
    assert carries_images([{"role": "user", "content": [IMAGE_PART]}])
    assert carries_images([{"role": "user", "content": 'See <img src="data:x" />'}])
    assert not carries_images([{"role": "user", "content": "no image"}])


def test_an_image_to_a_listed_text_only_model_is_refused_and_the_listing_asked_lazily() -> None:
    payload = {"messages": [{"role": "user", "content": [IMAGE_PART]}]}
    with pytest.raises(InvalidInputError, match="takes only text") as caught:
        refuse_images(payload, "g", lambda: [LLAMA_ITEM], "http://127.0.0.1:1/v1")
    assert "cannot help" in str(caught.value)
    refuse_images(payload, "other", lambda: [LLAMA_ITEM], "here")  # not listed: sent
    refuse_images(payload, "g", lambda: [{"id": "g"}], "here")  # not said: sent

    def never() -> list:
        raise AssertionError("a text-only request needs no listing")

    refuse_images({"messages": [{"role": "user", "content": "hi"}]}, "g", never, "here")
