"""The server rejects exactly where the hosted service does, with its status and detail."""

from __future__ import annotations

import base64

import httpx
import pytest
from server_helpers import chat_body

from nvnb.server.validation import INLINE_IMAGE_LIMIT

KOSMOS = "/v1/vlm/microsoft/kosmos-2"
QA = "nvidia/nemotron-qa-8b"
AUTH_KEY = "nvapi-test-sentinel-key-0123456789"


def detail(response: httpx.Response) -> str:
    return response.json()["detail"]


def test_kosmos_2_rejects_stream_as_an_extra_input(http):
    response = http.post(KOSMOS, json=chat_body(model="microsoft/kosmos-2", stream=False))
    assert response.status_code == 422
    assert "body -> stream" in detail(response)
    assert "extra inputs are not permitted" in detail(response)
    assert response.json()["title"] == "Validation Failed"


def test_kosmos_2_accepts_its_own_fields(http):
    body = chat_body(model="microsoft/kosmos-2", temperature=0.2, max_tokens=64)
    assert http.post(KOSMOS, json=body).status_code == 200


@pytest.mark.parametrize("path", ["/v1/vlm/nvidia/neva-22b", "/v1/chat/completions"])
def test_stream_options_are_rejected_for_nv_vlm_and_qa_models(http, path):
    model = "nvidia/neva-22b" if "vlm" in path else QA
    body = chat_body(model=model, stream=True, stream_options={"include_usage": True})
    response = http.post(path, json=body)
    assert response.status_code == 422
    assert "body -> stream_options" in detail(response)


@pytest.mark.parametrize(
    "labels",
    [
        {"creativity": 10},
        {"creativity": -1},
        {"verbosity": "5"},
        {"verbosity": 2.5},
        {"verbosity": True},
        {"humour": 3},
    ],
)
def test_labels_outside_0_to_9_unknown_or_not_integers_are_422(http, labels):
    body = chat_body(model="nvidia/nemotron-steerlm-8b")
    body["messages"].append({"role": "assistant", "labels": labels})
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 422
    assert "labels" in detail(response)


def test_quality_is_a_label_of_neva_but_not_of_the_steerlm_model(http):
    for model, status in (("nvidia/neva-22b", 200), ("nvidia/nemotron-steerlm-8b", 422)):
        body = chat_body(model=model)
        body["messages"].append({"role": "assistant", "labels": {"quality": 5}})
        assert http.post("/v1/chat/completions", json=body).status_code == status


def test_qa_models_take_only_user_and_context_turns(http):
    body = chat_body(model=QA)
    body["messages"].insert(0, {"role": "system", "content": "Be brief."})
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 422 and "context" in detail(response)


def test_an_inline_image_over_the_limit_is_413_pointing_at_the_assets_api(http):
    data = "data:image/png;base64," + "A" * (INLINE_IMAGE_LIMIT + 4)
    for content in (
        [{"type": "image_url", "image_url": {"url": data}}],
        f'Look <img src="{data}" />',
    ):
        body = {"model": "nvidia/neva-22b", "messages": [{"role": "user", "content": content}]}
        response = http.post("/v1/chat/completions", json=body)
        assert response.status_code == 413
        assert "assets API" in detail(response)


def test_an_inline_image_at_the_limit_passes_validation(http):
    data = "data:image/png;base64," + base64.b64encode(b"x" * 3).decode() * (
        INLINE_IMAGE_LIMIT // 4
    )
    body = {
        "model": "nvidia/neva-22b",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data}}]}
        ],
    }
    assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_asset_references_must_be_announced_in_the_header(http):
    content = '<img src="data:image/png;asset_id,0b8e7a2c-1111-2222-3333-444455556666" />'
    body = {"model": "nvidia/neva-22b", "messages": [{"role": "user", "content": content}]}
    response = http.post("/v1/vlm/nvidia/neva-22b", json=body)
    assert response.status_code == 422 and "NVCF-INPUT-ASSET-REFERENCES" in detail(response)


def test_an_unknown_model_is_404_naming_it(http):
    response = http.post("/v1/chat/completions", json=chat_body(model="acme/imaginary-7b"))
    assert response.status_code == 404
    assert "acme/imaginary-7b" in detail(response)


def test_aliases_are_not_ids_on_the_wire(http):
    assert (
        http.post("/v1/chat/completions", json=chat_body(model="mixtral_8x7b")).status_code == 404
    )


def test_an_embedding_model_is_not_served_as_chat(http):
    response = http.post("/v1/chat/completions", json=chat_body(model="nvidia/nv-embedqa-e5-v5"))
    assert response.status_code == 400 and "embedding" in detail(response)


def test_a_body_that_is_not_json_is_400(http):
    response = http.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "JSON" in detail(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "meta/llama-3.1-8b-instruct"}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (chat_body(max_tokens=0), "max_tokens"),
        (chat_body(stop=5), "stop"),
        (chat_body(stream="yes"), "stream"),
        (
            {
                "model": "meta/llama-3.1-8b-instruct",
                "messages": [{"role": "robot", "content": "x"}],
            },
            "role",
        ),
        (
            {"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "tool", "content": "x"}]},
            "tool_call_id",
        ),
        (chat_body(tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice"),
        (chat_body(response_format={"type": "yaml"}), "response_format"),
    ],
)
def test_malformed_fields_are_422_naming_the_field(http, body, field):
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 422
    assert field in detail(response)


def test_with_auth_on_a_missing_or_wrong_key_is_401_and_the_right_key_passes(nvnb_auth_server):
    url = f"{nvnb_auth_server.base_url}/chat/completions"
    missing = httpx.post(url, json=chat_body())
    wrong = httpx.post(url, json=chat_body(), headers={"Authorization": "Bearer nvapi-wrong"})
    right = httpx.post(url, json=chat_body(), headers={"Authorization": f"Bearer {AUTH_KEY}"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert AUTH_KEY not in missing.text + wrong.text
    assert httpx.get(f"{nvnb_auth_server.origin}/health").status_code == 200


def test_auth_covers_nvcf_routes_too(nvnb_auth_server):
    assert httpx.get(f"{nvnb_auth_server.nvcf_url}/functions").status_code == 401
