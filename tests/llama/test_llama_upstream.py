"""``nvnb serve --upstream`` in front of llama-server: faults on real answers, as a user would
test their own retry and error handling."""

from __future__ import annotations

from typing import Any

import pytest
from llamatools import MODEL_ID, STOP

from nvnb import ChatNVIDIA
from nvnb import errors as E


def llm(proxy: Any, fault: str, **kw: Any) -> ChatNVIDIA:
    options: dict[str, Any] = {"max_tokens": 16, "temperature": 0.0, "stop": STOP, **kw}
    headers = {"X-NVNB-Fault": fault}
    return ChatNVIDIA(model=MODEL_ID, base_url=proxy.base_url, default_headers=headers, **options)


def test_a_429_burst_is_retried_and_the_real_answer_arrives(llama_proxy: Any) -> None:
    fault = "status=429;retry-after=0;times=2;id=llama429"
    msg = llm(llama_proxy, fault, max_retries=3).invoke("What is the capital of France?")
    assert "Paris" in msg.content
    assert len([r for r in llama_proxy.requests if r.path.endswith("/completions")]) == 3


def test_a_real_stream_dropped_after_n_chunks_keeps_its_text(llama_proxy: Any) -> None:
    received = ""
    model = llm(llama_proxy, "drop-after=3", max_retries=0)
    with pytest.raises(E.StreamInterrupted) as caught:
        for chunk in model.stream("What is the capital of Germany?"):
            received += str(chunk.content)
    assert received and caught.value.partial_text == received
