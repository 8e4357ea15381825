"""The Session, ``%%nvchat``, ``%nvchat models`` and the ModelPicker against llama-server, as a
user pointing nvnb at their own server would use them; requests go through ``nvnb serve
--upstream`` (``llama_proxy``) so the tests read what was sent.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from llamatools import MODEL_ID, STOP
from PIL import Image

import nvnb
import nvnb.session as session_module
from nvnb import _notices as notices
from nvnb import errors as E
from nvnb.session import Session


def chats(proxy: Any) -> list[dict[str, Any]]:
    return [r.json for r in proxy.requests if r.path.endswith("/chat/completions")]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def session(llama_proxy: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    """A fresh default session on the user's own server, not told which model it serves."""
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_HOSTED_ORIGIN"):
        monkeypatch.delenv(name, raising=False)
    fresh = Session(base_url=llama_proxy.base_url, max_retries=0, temperature=0.0)
    fresh.max_tokens = 16
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nvnb")
    return ip


def test_a_session_not_given_a_model_uses_the_one_the_server_serves(
    session: Session, llama_proxy: Any
) -> None:
    assert session.model == session_module.DEFAULT_MODEL  # a hosted id this server lacks
    answer = session.ask("What is the capital of France?", stop=STOP)
    assert "Paris" in answer.text
    assert session.model == MODEL_ID and answer.model == MODEL_ID
    assert chats(llama_proxy)[-1]["model"] == MODEL_ID


def test_a_multi_turn_session_remembers(session: Session) -> None:
    session.ask("My name is Ada.", stop=STOP)
    answer = session.ask("What is my name?", chat=True, stop=STOP)
    assert "Ada" in answer.text
    assert [t.role for t in session.history] == ["user", "assistant"] * 2


async def test_ask_async_streams_into_a_sink(session: Session) -> None:
    pieces: list[str] = []

    class Sink:
        def on_delta(self, text: str) -> None:
            pieces.append(text)

        def on_end(self, answer: Any) -> None:
            pieces.append("<end>")

        def on_error(self, exc: BaseException) -> None:
            raise AssertionError(exc)

    answer = await session.ask_async("What is the capital of Germany?", sink=Sink(), stop=STOP)
    assert "Berlin" in answer.text and pieces[-1] == "<end>"
    assert "".join(pieces[:-1]) == answer.text


def test_labels_are_not_sent_to_a_model_the_catalog_does_not_know(
    session: Session, llama_proxy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sent, they made llama.cpp answer 400 "Assistant message must contain either 'content'
    # or 'tool_calls'!" about a message the user never wrote.
    notices.reset(f"labels-dropped:{MODEL_ID}")
    session.settle_default_model()
    answer = session.ask("What is the capital of France?", labels={"creativity": 3}, stop=STOP)
    assert "Paris" in answer.text
    assert all("labels" not in m for m in chats(llama_proxy)[-1]["messages"])
    assert "labels are not sent" in capsys.readouterr().err


def test_an_image_to_a_text_only_model_is_refused_before_sending(
    session: Session, llama_proxy: Any
) -> None:
    # Sent, llama.cpp answered 500 "image input is not supported" and the hint said to try
    # again in a moment. The server's /v1/models says the model takes text only.
    session.settle_default_model()
    with pytest.raises(E.InvalidInputError, match="takes only text") as caught:
        session.ask("What is in this picture?", images=[png()])
    assert "try again" not in str(caught.value)
    assert chats(llama_proxy) == []
    # An attached image stays attached for the next question (to a model that takes images).
    session.attach_image(png(), "red.png")
    with pytest.raises(E.InvalidInputError, match="takes only text"):
        session.ask("And this one?")
    assert [a.name for a in session.images] == ["red.png"] and chats(llama_proxy) == []


def test_nvchat_cell_answers_from_the_server(shell: InteractiveShell, session: Session) -> None:
    with capture_output() as captured:
        result = shell.run_cell("%%nvchat --max-tokens 12\nWhat is the capital of France?\n")
    assert result.success, result.error_in_exec
    assert "Paris" in str(result.result) and "Paris" in captured.stdout
    assert session.model == MODEL_ID


def test_nvchat_models_lists_what_the_server_serves(
    shell: InteractiveShell, session: Session
) -> None:
    with capture_output() as captured:
        result = shell.run_cell("%nvchat models")
    assert result.success, result.error_in_exec
    (output,) = captured.outputs
    text = output.data["text/plain"]
    assert MODEL_ID in text and "meta/llama" not in text
    assert f"1 models · the session uses {MODEL_ID}" in text


def test_the_model_picker_shows_the_servers_list_and_its_default(session: Session) -> None:
    from nvnb.widgets import ModelPicker

    picker = ModelPicker(session, live=False)
    picker.refresh().join(30)
    assert picker.status == "ready", picker.error
    assert [m["id"] for m in picker.models] == [MODEL_ID]
    assert picker.value == session.model == MODEL_ID


def test_nvnb_map_runs_prompts_against_the_server(session: Session) -> None:
    from nvnb import AsyncClient

    results = nvnb.map(
        [{"country": "France"}, {"country": "Germany"}],
        "What is the capital of {country}?",
        model=MODEL_ID,
        client=AsyncClient(base_url=session.llm_for().base_url),
        progress=False,
        max_tokens=12,
        temperature=0.0,
        stop=STOP,
    )
    outcomes = list(results)
    assert [o.error for o in outcomes] == [None, None]
    assert "Paris" in outcomes[0].text and "Berlin" in outcomes[1].text
