"""What a request is, read from its body: the facts the log keeps and the cache keys on."""

from __future__ import annotations

import base64
import hashlib
import json

from nvnb.calls.digest import digest_request

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
SHA = "sha256:" + hashlib.sha256(PNG).hexdigest()


def chat(**extra: object) -> dict:
    return {"model": "m/x", "messages": [{"role": "user", "content": "hi"}], **extra}


def digest(body: object, url: str = "https://integrate.api.nvidia.com/v1/chat/completions"):
    return digest_request("POST", url, json.dumps(body).encode())


def test_images_become_hashes_of_their_bytes_in_parts_and_in_vlm_img_tags() -> None:
    body = {
        "model": "m/vlm",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": URI}}]},
            {"role": "user", "content": f'Describe <img src="{URI}" />'},
        ],
    }
    d = digest(body)
    assert d.image_hashes == (SHA,)  # the same image twice is one hash
    text = json.dumps(d.normalised)
    assert "base64" not in text and SHA in text


def test_labels_parameters_message_count_and_stream_are_read() -> None:
    body = chat(temperature=0.3, stream=True)
    body["messages"].append({"role": "assistant", "labels": {"creativity": 4}})
    d = digest(body)
    assert d.model == "m/x" and d.stream is True
    assert d.labels == {"creativity": 4} and d.message_count == 2
    assert d.parameters == {"temperature": 0.3, "stream": True}
    assert d.endpoint == "/v1/chat/completions"


def test_the_key_ignores_the_host_and_key_order_but_not_what_is_asked() -> None:
    a = digest(chat(temperature=0.1))
    b = digest(
        dict(reversed(list(chat(temperature=0.1).items()))),
        "http://127.0.0.1:9/v1/chat/completions",
    )
    assert a.key == b.key
    assert digest(chat(temperature=0.2)).key != a.key
    assert digest(chat(temperature=0.1), "http://h/v1/embeddings").key != a.key
    other_image = chat()
    other_image["messages"][0]["content"] = [{"type": "image_url", "image_url": {"url": URI}}]
    same_but_other_bytes = json.loads(json.dumps(other_image).replace(URI, URI[:-8] + "AAAAAAA="))
    assert digest(other_image).key != digest(same_but_other_bytes).key


def test_embeddings_and_ranking_count_their_inputs_and_name_their_query() -> None:
    emb = digest({"model": "e", "input": ["a", "b", "c"], "input_type": "passage"})
    assert emb.message_count == 3 and emb.parameters == {"input_type": "passage"}
    rank = digest({"model": "r", "query": {"text": "sky?"}, "passages": [{"text": "x"}] * 2})
    assert rank.message_count == 2 and "sky?" in rank.describe()


def test_describe_names_the_request_by_model_and_last_prompt() -> None:
    body = chat()
    body["messages"].append({"role": "user", "content": "the real question " * 10})
    line = digest(body).describe()
    assert line.startswith("POST /v1/chat/completions model='m/x' prompt='the real question")
    assert line.endswith("…'") and len(line) < 140


def test_a_body_that_is_not_json_is_known_by_its_bytes() -> None:
    a = digest_request("PUT", "https://s3/x", b"\x00\x01binary")
    b = digest_request("PUT", "https://s3/x", b"\x00\x02binary")
    assert a.key != b.key and a.model is None and a.message_count == 0
