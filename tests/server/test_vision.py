"""Vision: what Pillow reads from images in every shape the service takes; URLs on loopback only."""

from __future__ import annotations

import base64
import io

from PIL import Image

NEVA = "nvidia/neva-22b"


def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def ask(
    http,
    content,
    model: str = NEVA,
    path: str = "/v1/chat/completions",
    headers: dict | None = None,
) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    response = http.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_a_data_uri_image_is_described_by_format_size_and_colours(http):
    uri = data_uri(Image.new("RGB", (40, 30), (220, 30, 30)))
    text = ask(
        http,
        [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": uri}},
        ],
    )
    assert "PNG, 40×30 pixels" in text and "red (100%)" in text
    assert "local nvnb server" in text and "What is this?" in text


def test_the_nv_vlm_flattened_image_shape_is_read(http):
    uri = data_uri(Image.new("RGB", (8, 8), (30, 60, 210)), "JPEG")
    text = ask(
        http,
        [{"type": "text", "text": "Colour?"}, {"type": "image_url", "image_url": uri}],
        path="/v1/vlm/nvidia/neva-22b",
    )
    assert "JPEG, 8×8 pixels" in text and "blue" in text


def test_an_inline_img_tag_in_text_is_read(http):
    uri = data_uri(Image.new("RGB", (5, 7), "white"))
    text = ask(http, f'Describe <img src="{uri}" />')
    assert "5×7 pixels" in text and "white" in text


def test_loopback_sample_urls_are_fetched(http, nvnb_server):
    url = f"{nvnb_server.origin}/_nvnb/samples/red-circle.png"
    text = ask(http, [{"type": "image_url", "image_url": {"url": url}}])
    assert "256×256" in text
    assert "white" in text and "red" in text


def test_remote_urls_are_not_fetched_and_the_answer_says_so(http):
    url = "https://example.com/cat.png"
    text = ask(http, [{"type": "image_url", "image_url": {"url": url}}])
    assert "not fetched" in text and url in text


def test_an_image_that_is_not_an_image_is_reported_not_crashed_on(http):
    uri = "data:image/png;base64," + base64.b64encode(b"definitely not a png").decode()
    text = ask(http, [{"type": "image_url", "image_url": {"url": uri}}])
    assert "not an image Pillow can read" in text


def test_an_uploaded_asset_is_usable_by_reference(http):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 170, 40)).save(buffer, "PNG")
    created = http.post(
        "/v2/nvcf/assets", json={"contentType": "image/png", "description": "green box"}
    ).json()
    upload = http.put(
        created["uploadUrl"],
        content=buffer.getvalue(),
        headers={"Content-Type": "image/png", "x-amz-meta-nvcf-asset-description": "green box"},
    )
    assert upload.status_code == 200
    asset = created["assetId"]
    text = ask(
        http,
        f'Look <img src="data:image/png;asset_id,{asset}" />',
        path="/v1/vlm/nvidia/neva-22b",
        headers={"NVCF-INPUT-ASSET-REFERENCES": asset},
    )
    assert "64×48 pixels" in text and "green" in text


def test_an_upload_with_headers_other_than_signed_is_refused_like_s3(http):
    created = http.post(
        "/v2/nvcf/assets", json={"contentType": "image/png", "description": "x"}
    ).json()
    response = http.put(created["uploadUrl"], content=b"x", headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text


def test_asset_creation_needs_an_image_content_type(http):
    response = http.post("/v2/nvcf/assets", json={"contentType": "text/plain", "description": "x"})
    assert response.status_code == 422


def test_a_chat_model_given_an_image_says_it_is_not_a_vision_model(http):
    uri = data_uri(Image.new("RGB", (3, 3), "black"))
    text = ask(
        http, [{"type": "image_url", "image_url": {"url": uri}}], model="meta/llama-3.1-8b-instruct"
    )
    assert "not list" in text and "black" in text
