"""Bad inputs are refused with a clear message, before anything is sent where that is possible:
through ChatNVIDIA, the Session and ``%%nvchat`` (the paths users take)."""

from __future__ import annotations

import io
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from rel_helpers import MODEL, PROMPT, chat_posts

from nvnb import errors as E
from nvnb.chat import ChatNVIDIA
from nvnb.images import ImageAttachment
from nvnb.session import Session
from nvnb.settings import KeyFormatWarning

STEERLM = "nvidia/nemotron-steerlm-8b"
QA = "nvidia/llama3-chatqa-1.5-8b"
VISION = "google/gemma-3n-e4b-it"


def png(size: tuple[int, int] = (32, 32), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def hosted(srv: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local server playing the hosted service (a key set, hosted URLs moved onto it)."""
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-bad-inputs-test-key")
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", srv.origin)
    return srv


def test_an_empty_prompt_is_refused_before_sending(srv: Any) -> None:
    session = Session(MODEL, base_url=srv.base_url)
    for prompt in ("", "   \n\t"):
        with pytest.raises(E.InvalidInputError, match="empty"):
            session.ask(prompt)
    assert chat_posts(srv) == [] and session.history == []


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ({"creativity": 12}, ("creativity", "9")),
        ({"creativity": -1}, ("creativity", "0")),
        ({"verbosity": "high"}, ("verbosity",)),
        ({"verbosity": 4.5}, ("verbosity",)),
        ({"verbosity": True}, ("verbosity",)),
        ({"humour": 3}, ("humour",)),
        (["creativity", 5], ("dict",)),
    ],
)
def test_bad_labels_are_refused_with_the_label_named(
    srv: Any, labels: Any, words: tuple[str, ...]
) -> None:
    llm = ChatNVIDIA(model=STEERLM, base_url=srv.base_url)
    with pytest.raises(E.InvalidInputError) as per_call:
        llm.invoke(PROMPT, labels=labels)
    session = Session(STEERLM, base_url=srv.base_url)
    with pytest.raises(E.InvalidInputError) as by_session:
        session.ask(PROMPT, labels=labels)
    errors: list[BaseException] = [per_call.value, by_session.value]
    if labels != {"verbosity": True}:  # pydantic's lax mode takes True as 1 in the constructor
        with pytest.raises(ValueError) as on_the_model:  # pydantic's ValidationError
            ChatNVIDIA(model=STEERLM, base_url=srv.base_url, labels=labels)
        errors.append(on_the_model.value)
    for err in errors[:2]:
        assert all(w in str(err) for w in words), str(err)
        assert str(err).count("\n") <= 1
    assert all(w in str(errors[-1]) for w in words)
    assert chat_posts(srv) == []


def test_an_unknown_model_is_refused_with_close_names_and_nothing_sent(hosted: Any) -> None:
    with pytest.raises(E.UnknownModelError) as info:
        Session("meta/llama-3.1-8b-instruc").ask(PROMPT)
    assert "meta/llama-3.1-8b-instruct" in str(info.value)
    assert chat_posts(hosted) == []


def test_a_qa_model_given_a_system_turn_is_refused_before_sending(srv: Any) -> None:
    llm = ChatNVIDIA(model=QA, base_url=srv.base_url)
    with pytest.raises(E.InvalidInputError, match="system") as info:
        llm.invoke([SystemMessage("Be brief."), HumanMessage(PROMPT)])
    assert "user" in str(info.value) and "context" in str(info.value)
    with pytest.raises(E.InvalidInputError, match="system"):
        Session(QA, base_url=srv.base_url).ask(PROMPT, system="Be brief.", context="GPUs.")
    assert chat_posts(srv) == []


def bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")  # 400 MP of zeros: a few kB of PNG
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7 not an image at all", "not an image"),
        (png((400, 400))[:300], "truncated"),
        (bomb(), "bomb"),
        (png((10_000, 10_000), mode="1"), "pixels"),  # 100 megapixels
    ],
    ids=["a non-image file", "a truncated image", "a decompression bomb", "a 100-megapixel image"],
)
def test_bad_images_are_refused_clearly_before_sending(
    srv: Any, tmp_path: Any, data: bytes, words: str
) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    session = Session(VISION, base_url=srv.base_url)
    for source in (data, path, str(path)):
        with pytest.raises(E.ImageError) as info:
            session.ask("What is in it?", images=[source])
        assert words in str(info.value), str(info.value)
    with pytest.raises(E.ImageError, match=words):
        session.attach_image(path)
    with pytest.raises(E.ImageError, match=words):
        ImageAttachment.from_bytes(data)
    assert chat_posts(srv) == [] and session.images == []


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_an_image_url_that_404s_gets_an_answer_saying_so(srv: Any) -> None:
    llm = ChatNVIDIA(model=VISION, base_url=srv.base_url)
    url = f"{srv.origin}/_nvnb/samples/no-such-picture.png"
    answer = llm.invoke(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "Describe it."},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
            )
        ]
    )
    assert "404" in str(answer.content)


def test_an_image_url_that_never_answers_gets_an_answer_not_a_hang(
    srv: Any, silent_port: int
) -> None:
    session = Session(VISION, base_url=srv.base_url, timeout=20)
    answer = session.ask("Describe it.", images=[f"http://127.0.0.1:{silent_port}/cat.png"])
    assert "could not be fetched" in answer.text


@pytest.mark.parametrize("suffix", ["/chat/completions", "/models", "/embeddings"])
def test_a_base_url_naming_an_endpoint_is_refused_showing_the_base(srv: Any, suffix: str) -> None:
    wrong = srv.base_url + suffix
    with pytest.raises(E.ConfigurationError) as info:
        ChatNVIDIA(model=MODEL, base_url=wrong)
    assert repr(srv.base_url) in str(info.value) and suffix in str(info.value)
    with pytest.raises(E.ConfigurationError):
        Session(MODEL, base_url=wrong).ask(PROMPT)


def test_a_key_with_a_wrong_prefix_warns_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ChatNVIDIA(model=MODEL, api_key=key)
    shown = [str(w.message) for w in caught if issubclass(w.category, KeyFormatWarning)]
    assert shown and "nvapi-" in shown[0]
    assert key[6:] not in shown[0] and key[:8] not in shown[0]
