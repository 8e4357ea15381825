"""nvnb._retired and ModelRetiredError: a 410 Gone names the retirement and current models.

The local server answers ``X-NVNB-Fault: status=410`` with the hosted catalog's body
(``{"type": "about:blank", "title": "Gone", "status": 410, "detail": "The model '…' has reached
its end of life on … and is no longer available."}``).
"""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import pytest

from nvnb import ChatNVIDIA, catalog
from nvnb._retired import current_alternatives
from nvnb.client import Client
from nvnb.client._boundary import error_from_response
from nvnb.errors import APIError, ModelRetiredError

MODEL = "meta/llama-3.1-8b-instruct"
EOL = "2026-05-14T00:00:00Z"


def test_current_alternatives_are_current_models_of_the_same_type() -> None:
    for model_id in (MODEL, "google/gemma-7b", "nvidia/nv-embedqa-e5-v5"):
        kind = catalog.find_model(model_id).type
        found = current_alternatives(model_id)
        assert len(found) == 3 and model_id not in found
        for other in found:
            record = catalog.find_model(other)
            assert record.type == kind and not record.deprecated


def test_current_alternatives_prefer_the_same_publisher() -> None:
    assert all(m.startswith("meta/") for m in current_alternatives(MODEL))


def test_the_server_answers_410_like_the_hosted_catalog(nvnb_server: Any) -> None:
    response = httpx.post(
        f"{nvnb_server.base_url}/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"X-NVNB-Fault": f"status=410;eol={EOL}"},
    )
    assert response.status_code == 410
    body = response.json()
    assert body["type"] == "about:blank" and body["title"] == "Gone" and body["status"] == 410
    assert body["detail"] == (
        f"The model '{MODEL}' has reached its end of life on {EOL} and is no longer available."
    )


def test_a_410_raises_model_retired_error_naming_current_models(nvnb_server: Any) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": f"status=410;eol={EOL}"},
    )
    with pytest.raises(ModelRetiredError) as info:
        llm.invoke("hi")
    err = info.value
    assert isinstance(err, APIError) and err.status == 410
    assert err.end_of_life == EOL and err.request_id
    assert err.suggestions == current_alternatives(MODEL)
    text = str(err)
    assert "end of life" in text and "retired" in text and err.request_id in text
    assert all(s in text for s in err.suggestions)
    assert len([r for r in nvnb_server.requests if r.method == "POST"]) == 1  # not retried
    again = pickle.loads(pickle.dumps(err))
    assert again.suggestions == err.suggestions and str(again) == text


def test_a_stream_to_a_retired_model_raises_the_same_error(nvnb_server: Any) -> None:
    headers = {"X-NVNB-Fault": "status=410"}
    with Client(base_url=nvnb_server.base_url, default_headers=headers) as client:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with pytest.raises(ModelRetiredError) as info, client.stream_chat(body) as stream:
            list(stream)
    assert info.value.suggestions and info.value.end_of_life


def test_a_bare_410_still_says_the_model_was_retired() -> None:
    err = error_from_response(410, b"", model="acme/old-model")
    assert isinstance(err, ModelRetiredError)
    assert "the model 'acme/old-model' was retired" in str(err)
    assert err.end_of_life is None and "nvnb models" in str(err)
