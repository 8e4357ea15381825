"""Every snippet of the seed tutorial (chat_nvidia_tutorial.zh.md), run against the local server.

Each test body is the tutorial's code, read as English Python, with one change: the import says
``from nvnb import ChatNVIDIA``. Not run: ``%pip`` lines, the ``getpass`` key prompt, and the
download of the tutorial's image from nvidia.com, which comes from the local server's samples
instead (``noise.png``: like the tutorial's picture, too large to send inline).

The key and ``NVNB_HOSTED_ORIGIN`` put ChatNVIDIA in hosted mode with NVIDIA's hosts moved onto
the local server, so the hosted paths run: the vlm endpoints, kosmos-2 sent no ``stream``
(and the 422 when one is forced), the assets API for large images.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from nvnb.errors import InvalidRequestError

KEY = "nvapi-tutorial-0123456789"


@pytest.fixture(autouse=True)
def hosted_on_local_server(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)


@pytest.fixture
def image_url(nvnb_server: Any) -> str:
    return f"{nvnb_server.origin}/_nvnb/samples/noise.png"


def test_core_chat_interface(capsys: pytest.CaptureFixture[str]) -> None:
    from nvnb import ChatNVIDIA

    llm = ChatNVIDIA(model="mistralai/mixtral-8x7b-instruct-v0.1")
    result = llm.invoke("Write a ballad about LangChain.")
    print(result.content)
    assert "LangChain" in capsys.readouterr().out


def test_streaming_batching_and_async(capsys: pytest.CaptureFixture[str]) -> None:
    from nvnb import ChatNVIDIA

    llm = ChatNVIDIA(model="mistralai/mixtral-8x7b-instruct-v0.1")
    print(llm.batch(["What's 2*3?", "What's 2*6?"]))
    # or through the async API
    answers = asyncio.run(llm.abatch(["What's 2*3?", "What's 2*6?"]))
    assert len(answers) == 2

    for chunk in llm.stream("How far can a seagull fly in one day?"):
        # show token boundaries
        print(chunk.content, end="|")

    async def main() -> None:
        async for chunk in llm.astream("How long does it take for monarch butterflies to migrate?"):
            print(chunk.content, end="|")

    asyncio.run(main())
    out = capsys.readouterr().out
    assert "AIMessage" in out and out.count("|") > 10


def test_supported_models() -> None:
    from nvnb import ChatNVIDIA

    models = ChatNVIDIA.get_available_models()
    # llm.get_available_models()
    ids = {m.id for m in models}
    assert "nvidia/neva-22b" in ids and "mistralai/mixtral-8x7b-instruct-v0.1" in ids


def test_general_chat(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from nvnb import ChatNVIDIA

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful AI assistant named Fred."), ("user", "{input}")]
    )
    chain = prompt | ChatNVIDIA(model="meta/llama3-8b-instruct") | StrOutputParser()
    for txt in chain.stream({"input": "What's your name?"}):
        print(txt, end="")
    assert capsys.readouterr().out


def test_code_generation(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from nvnb import ChatNVIDIA

    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "You are an expert coding AI. Respond only in valid python; no narration whatsoever.",  # noqa: E501
            ),
            ("user", "{input}"),
        ]
    )
    chain = prompt | ChatNVIDIA(model="meta/codellama-70b") | StrOutputParser()
    for txt in chain.stream({"input": "How do I solve this fizz buzz problem?"}):
        print(txt, end="")
    assert "```" in capsys.readouterr().out


def test_steering_llms(nvnb_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from nvnb import ChatNVIDIA

    llm = ChatNVIDIA(model="nemotron_steerlm_8b")

    # Try making it uncreative and not verbose
    complex_result = llm.invoke(
        "What's a PB&J?", labels={"creativity": 0, "complexity": 3, "verbosity": 0}
    )
    print("Un-creative\n")
    print(complex_result.content)

    # Try making it very creative and verbose
    print("\n\nCreative\n")
    creative_result = llm.invoke(
        "What's a PB&J?", labels={"creativity": 9, "complexity": 3, "verbosity": 9}
    )
    print(creative_result.content)

    assert len(creative_result.content) > len(complex_result.content)
    sent = [r.json["messages"][-1] for r in nvnb_server.requests if r.method == "POST"]
    assert sent[-1] == {
        "role": "assistant",
        "labels": {"creativity": 9, "complexity": 3, "verbosity": 9},
    }


def test_steering_in_lcel(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from nvnb import ChatNVIDIA

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful AI assistant named Fred."), ("user", "{input}")]
    )
    chain = (
        prompt
        | ChatNVIDIA(model="nemotron_steerlm_8b").bind(
            labels={"creativity": 9, "complexity": 0, "verbosity": 9}
        )
        | StrOutputParser()
    )
    for txt in chain.stream({"input": "Why is a PB&J?"}):
        print(txt, end="")
    assert capsys.readouterr().out


def test_multimodal_image_as_url(image_url: str) -> None:
    from langchain_core.messages import HumanMessage

    from nvnb import ChatNVIDIA

    llm = ChatNVIDIA(model="playground_neva_22b")
    result = llm.invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Describe this image:"},
                    {"type": "image_url", "image_url": {"url": image_url}},
                ]
            )
        ]
    )
    assert "640" in result.content  # the server read the picture: 640×640


def test_multimodal_image_as_base64_and_inline(image_url: str, nvnb_server: Any) -> None:
    import base64

    from langchain_core.messages import HumanMessage

    from nvnb import ChatNVIDIA

    image_content = httpx.get(image_url).content  # the tutorial's requests.get(...).content
    llm = ChatNVIDIA(model="playground_neva_22b")

    ## Works for simpler images. For larger images, nvnb uploads them (assets API)
    b64_string = base64.b64encode(image_content).decode("utf-8")
    first = llm.invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Describe this image:"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{b64_string}"},
                    },
                ]
            )
        ]
    )

    base64_with_mime_type = f"data:image/png;base64,{b64_string}"
    second = llm.invoke(f'What\'s in this image?\n<img src="{base64_with_mime_type}" />')

    assert first.content and second.content
    posts = [r for r in nvnb_server.requests if r.path.startswith("/v1/vlm/")]
    assert all("nvcf-input-asset-references" in r.headers for r in posts)


def test_forcing_the_payload_for_kosmos(image_url: str) -> None:
    from langchain_core.messages import HumanMessage

    from nvnb import ChatNVIDIA

    kosmos = ChatNVIDIA(model="kosmos_2")
    message = [
        HumanMessage(
            content=[
                {"type": "text", "text": "Describe this image:"},
                {"type": "image_url", "image_url": {"url": image_url}},
            ]
        )
    ]
    # The official docs need payload_fn here because the service refuses kosmos-2's "stream"
    # with a 422; nvnb's catalog knows kosmos-2 cannot stream and leaves the field out.
    assert kosmos.invoke(message).content
    sent: list[dict[str, Any]] = []

    def drop_streaming_key(d: dict[str, Any]) -> dict[str, Any]:
        """Takes the payload dict, returns a new payload dict"""
        sent.append(dict(d))
        if "stream" in d:
            d.pop("stream")
        return d

    ## Override the payload passthrough. By default, the payload is passed as is.
    kosmos = ChatNVIDIA(model="kosmos_2")
    kosmos.client.payload_fn = drop_streaming_key
    assert kosmos.invoke(message).content
    assert "".join(c.content for c in kosmos.stream(message))  # one chunk, the whole answer
    assert sent and all("stream" not in d for d in sent)


def test_a_field_the_service_refuses_is_a_422_with_its_path(image_url: str) -> None:
    """What the snippet guarded against, still reported as the service reports it."""
    from langchain_core.messages import HumanMessage

    from nvnb import ChatNVIDIA

    def force_stream(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "stream": True}

    kosmos = ChatNVIDIA(model="kosmos_2")
    kosmos.client.payload_fn = force_stream
    message = [HumanMessage(content=[{"type": "image_url", "image_url": {"url": image_url}}])]
    with pytest.raises(InvalidRequestError) as refused:
        kosmos.invoke(message)
    assert refused.value.status == 422 and refused.value.request_id
    assert "body -> stream" in str(refused.value)


def test_rag_context_models() -> None:
    from langchain_core.messages import ChatMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from nvnb import ChatNVIDIA

    prompt = ChatPromptTemplate.from_messages(
        [
            ChatMessage(role="context", content="Parrots and Cats have signed the peace accord."),
            ("user", "{input}"),
        ]
    )
    llm = ChatNVIDIA(model="nemotron_qa_8b")
    chain = prompt | llm | StrOutputParser()
    answer = chain.invoke({"input": "What was signed?"})
    assert "peace accord" in answer


def test_conversation_chain_with_memory() -> None:
    from langchain_classic.chains import ConversationChain
    from langchain_classic.memory import ConversationBufferMemory

    from nvnb import ChatNVIDIA

    chat = ChatNVIDIA(
        model="mistralai/mixtral-8x22b-instruct-v0.1",
        temperature=0.1,
        max_tokens=100,
        top_p=1.0,
    )
    conversation = ConversationChain(llm=chat, memory=ConversationBufferMemory())
    first = conversation.invoke("Hi there!")["response"]
    conversation.invoke("I'm doing well! Just having a conversation with an AI.")["response"]
    last = conversation.invoke("Tell me about yourself.")["response"]
    assert first and last
