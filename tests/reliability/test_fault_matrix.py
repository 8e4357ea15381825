"""The fault matrix: every fault the local server can inject, against every way of asking.

Surfaces: ``Client`` (chat, async chat, stream, async stream), ``ChatNVIDIA`` (invoke, ainvoke,
stream, astream), the ``Session`` (ask, ask_async) and the ``%%nvchat`` magic in a real IPython
``InteractiveShell``. For each fault and surface the test checks

* the outcome: the whole answer (after retries), or the typed error;
* the partial text: kept (a non-empty beginning of the real answer) where output had started,
  empty where it had not;
* the request count from the server's recording (retries bounded: no storms);
* nothing left behind: no thread still running, no connection still checked out of the pool.

Timings are settings in milliseconds. ``ChatNVIDIA``/``Session`` take only a number of seconds
and ``max_retries``; their backoff is the default one, so the retried statuses ask for
``Retry-After: 0`` (the client honours it) to keep the matrix fast. The real waits are below the
matrix, one per path.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from rel_helpers import (
    FAST_RETRY,
    FAST_TIME,
    LLM_TIMEOUT_S,
    MAX_RETRIES,
    MODEL,
    PROMPT,
    chat_posts,
    closed_port,
    polls,
    session_pool_stats,
    token,
    wait_idle,
)

import nvnb.session as session_module
from nvnb import errors as E
from nvnb.chat import ChatNVIDIA
from nvnb.client import Client
from nvnb.session import Session

ATTEMPTS = MAX_RETRIES + 1
REFUSED = "<connection refused>"


def http_date(offset_s: float) -> str:
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


@dataclass(frozen=True)
class Expect:
    """What a surface must end with: ``error`` None means the whole answer arrives."""

    error: type[BaseException] | None
    requests: int | None  # chat POSTs recorded by the server (None: it never got one)
    partial: bool = False  # the error keeps a non-empty beginning of the answer
    or_retried: bool = False  # or: retried like a connection that never answered (see below)


# A stream cut right after its status line: the server closes with the request still unread,
# so the client may get the headers and then EOF (StreamInterrupted, no text, not retried) or a
# reset before the headers (retried like any connection that never answered). Both are fine.
DROPPED_STREAM = Expect(E.StreamInterrupted, 1, or_retried=True)


OK1, OK2, OK3 = Expect(None, 1), Expect(None, 2), Expect(None, ATTEMPTS)


@dataclass(frozen=True)
class Case:
    name: str
    spec: str  # X-NVNB-Fault; "{id}" becomes a fresh token
    plain: Expect  # not streamed
    streamed: Expect
    only: tuple[str, ...] | None = None  # run on these surfaces only (None: on all)


# Where a fault exercises the very same client code on every surface (another status of the same
# retry set, a retried connection error with the real default backoff of ChatNVIDIA), one
# surface per path is enough: sync and async JSON, sync and async streams, the session, the magic.
ONE_PER_PATH = (
    "Client.chat",
    "Client.aio.stream_chat",
    "ChatNVIDIA.invoke",
    "ChatNVIDIA.astream",
    "Session.ask",
    "%%nvchat",
)


CASES = [
    Case(
        "429 Retry-After seconds, shorter than the budget",
        "status=429;retry-after=0;times=2;id={id}",
        OK3,
        OK3,
    ),
    Case(
        "429 Retry-After HTTP date, shorter than the budget",
        f"status=429;retry-after={http_date(-30)};times=1;id={{id}}",
        OK2,
        OK2,
    ),
    Case(
        "429 Retry-After seconds, longer than the retries",
        "status=429;retry-after=0",
        Expect(E.RateLimitError, ATTEMPTS),
        Expect(E.RateLimitError, ATTEMPTS),
    ),
    Case(
        "429 Retry-After seconds beyond the time budget",
        "status=429;retry-after=3600",
        Expect(E.RateLimitError, 1),
        Expect(E.RateLimitError, 1),
    ),
    Case(
        "429 Retry-After HTTP date beyond the time budget",
        f"status=429;retry-after={http_date(3600)}",
        Expect(E.RateLimitError, 1),
        Expect(E.RateLimitError, 1),
    ),
    *[
        Case(
            f"{code} burst shorter than the retries",
            f"status={code};retry-after=0;times={MAX_RETRIES};id={{id}}",
            OK3,
            OK3,
            None if code == 503 else ONE_PER_PATH,
        )
        for code in (502, 503, 504)
    ],
    Case(
        "500 burst (never retried)",
        "status=500",
        Expect(E.ServerError, 1),
        Expect(E.ServerError, 1),
    ),
    *[
        Case(
            f"{code} burst longer than the retries",
            f"status={code};retry-after=0",
            Expect(E.ServerError, ATTEMPTS),
            Expect(E.ServerError, ATTEMPTS),
            None if code == 503 else ONE_PER_PATH,
        )
        for code in (502, 503, 504)
    ],
    Case(
        "connection refused",
        REFUSED,
        Expect(E.ConnectError, None),
        Expect(E.ConnectError, None),
        ONE_PER_PATH,
    ),
    Case(
        "connection dropped before the answer, once",
        "drop-after=0;times=1;id={id}",
        OK2,
        DROPPED_STREAM,
    ),
    Case(
        "connection dropped before the answer, always",
        "drop-after=0",
        Expect(E.TransportError, ATTEMPTS),
        DROPPED_STREAM,
        ONE_PER_PATH,
    ),
    Case(
        "connection dropped during the answer",
        "drop-after=3",
        Expect(E.StreamInterrupted, 1),
        Expect(E.StreamInterrupted, 1, partial=True),
    ),
    Case(
        "malformed SSE line", "malformed-sse=3", OK1, Expect(E.StreamInterrupted, 1, partial=True)
    ),
    Case("invalid JSON", "invalid-json", Expect(E.APIError, 1), Expect(E.StreamInterrupted, 1)),
    Case(
        "error object inside the stream",
        "stream-error=3",
        OK1,
        Expect(E.StreamError, 1, partial=True),
    ),
    Case(
        "stalled answer (read timeout)",
        "stall-after=3",
        Expect(E.RequestTimeout, 1),
        Expect(E.RequestTimeout, 1, partial=True),
    ),
    Case("202 polling that never finishes", "accepted=forever", Expect(E.RequestTimeout, 1), OK1),
]


# --- the surfaces --------------------------------------------------------------------------


@dataclass
class Run:
    """What one call produced."""

    text: str = ""  # the answer, or what had been delivered before the error
    error: BaseException | None = None
    active: int = 0  # connections still checked out of the pool afterwards


def fault_headers(spec: str) -> dict[str, str]:
    return {} if spec in ("", REFUSED) else {"X-NVNB-Fault": spec}


def base_url(srv: Any, spec: str) -> str:
    return f"http://127.0.0.1:{closed_port()}/v1" if spec == REFUSED else srv.base_url


def body(stream: bool) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 1024,
        "stream": stream,
    }


def client_chat(srv: Any, spec: str) -> Run:
    run = Run()
    with Client(base_url=base_url(srv, spec), retry=FAST_RETRY, timeout=FAST_TIME) as client:
        try:
            answer = client.chat(body(False), headers=fault_headers(spec))
            run.text = answer["choices"][0]["message"]["content"]
        except E.NVNBError as err:
            run.error = err
        run.active = wait_idle(client.pool_stats)["active"]
    return run


def client_stream(srv: Any, spec: str) -> Run:
    run = Run()
    with Client(base_url=base_url(srv, spec), retry=FAST_RETRY, timeout=FAST_TIME) as client:
        pieces: list[str] = []
        try:
            with client.stream_chat(body(True), headers=fault_headers(spec)) as stream:
                for chunk in stream:
                    if chunk.get("choices"):
                        pieces.append(chunk["choices"][0]["delta"].get("content") or "")
        except E.NVNBError as err:
            run.error = err
        run.text = "".join(pieces)
        run.active = wait_idle(client.pool_stats)["active"]
    return run


def client_achat(srv: Any, spec: str) -> Run:
    async def go() -> Run:
        run = Run()
        client = Client(base_url=base_url(srv, spec), retry=FAST_RETRY, timeout=FAST_TIME).aio
        try:
            answer = await client.chat(body(False), headers=fault_headers(spec))
            run.text = answer["choices"][0]["message"]["content"]
        except E.NVNBError as err:
            run.error = err
        run.active = client.pool_stats()["active"]
        await client.aclose()
        return run

    return asyncio.run(go())


def client_astream(srv: Any, spec: str) -> Run:
    async def go() -> Run:
        run = Run()
        client = Client(base_url=base_url(srv, spec), retry=FAST_RETRY, timeout=FAST_TIME).aio
        pieces: list[str] = []
        try:
            async with client.stream_chat(body(True), headers=fault_headers(spec)) as stream:
                async for chunk in stream:
                    if chunk.get("choices"):
                        pieces.append(chunk["choices"][0]["delta"].get("content") or "")
        except E.NVNBError as err:
            run.error = err
        run.text = "".join(pieces)
        run.active = client.pool_stats()["active"]
        await client.aclose()
        return run

    return asyncio.run(go())


def make_llm(srv: Any, spec: str) -> ChatNVIDIA:
    return ChatNVIDIA(
        model=MODEL,
        base_url=base_url(srv, spec),
        timeout=LLM_TIMEOUT_S,
        poll_deadline=FAST_TIME.poll_deadline,
        max_retries=MAX_RETRIES,
        default_headers=fault_headers(spec),
    )


def llm_invoke(srv: Any, spec: str) -> Run:
    llm, run = make_llm(srv, spec), Run()
    try:
        run.text = str(llm.invoke(PROMPT).content)
    except E.NVNBError as err:
        run.error = err
    run.active = wait_idle(llm.client.pool_stats)["active"]
    return run


def llm_stream(srv: Any, spec: str) -> Run:
    llm, run = make_llm(srv, spec), Run()
    pieces: list[str] = []
    try:
        for chunk in llm.stream(PROMPT):
            pieces.append(str(chunk.content))
    except E.NVNBError as err:
        run.error = err
    run.text = "".join(pieces)
    run.active = wait_idle(llm.client.pool_stats)["active"]
    return run


def llm_ainvoke(srv: Any, spec: str) -> Run:
    async def go() -> Run:
        llm, run = make_llm(srv, spec), Run()
        try:
            run.text = str((await llm.ainvoke(PROMPT)).content)
        except E.NVNBError as err:
            run.error = err
        run.active = llm.client.aio.pool_stats()["active"]
        return run

    return asyncio.run(go())


def llm_astream(srv: Any, spec: str) -> Run:
    async def go() -> Run:
        llm, run = make_llm(srv, spec), Run()
        pieces: list[str] = []
        try:
            async for chunk in llm.astream(PROMPT):
                pieces.append(str(chunk.content))
        except E.NVNBError as err:
            run.error = err
        run.text = "".join(pieces)
        run.active = llm.client.aio.pool_stats()["active"]
        return run

    return asyncio.run(go())


def make_session(srv: Any, spec: str) -> Session:
    return Session(
        MODEL,
        base_url=base_url(srv, spec),
        timeout=LLM_TIMEOUT_S,
        max_retries=MAX_RETRIES,
        default_headers=fault_headers(spec),
    )


class Collect:
    """A sink that keeps every delta."""

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.errors: list[BaseException] = []
        self.ended = 0

    def on_delta(self, text: str) -> None:
        self.deltas.append(text)

    def on_end(self, answer: Any) -> None:
        self.ended += 1

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)


def check_session_after(session: Session, run: Run, sink: Collect) -> None:
    """The sink saw what the caller saw; a partial answer is kept in the history."""
    assert "".join(sink.deltas) == run.text
    if run.error is None:
        assert sink.ended == 1 and not sink.errors
    else:
        assert sink.errors == [run.error] and sink.ended == 0
        assert run.error.answer.text == run.text  # type: ignore[attr-defined]
    last = session.history[-1] if session.history else None
    if run.text:
        assert last is not None and last.role == "assistant" and last.content == run.text
    run.active = wait_idle(lambda: session_pool_stats(session))["active"]


def session_ask(srv: Any, spec: str) -> Run:
    session, run, sink = make_session(srv, spec), Run(), Collect()
    try:
        run.text = session.ask(PROMPT, sink=sink).text
    except E.NVNBError as err:
        run.error = err
        run.text = "".join(sink.deltas)
    check_session_after(session, run, sink)
    return run


def session_ask_async(srv: Any, spec: str) -> Run:
    session, run, sink = make_session(srv, spec), Run(), Collect()

    async def go() -> None:
        try:
            run.text = (await session.ask_async(PROMPT, sink=sink)).text
        except E.NVNBError as err:
            run.error = err
            run.text = "".join(sink.deltas)

    asyncio.run(go())
    # ask_async runs in the caller's loop (gone now): only the sink and history are checked.
    assert "".join(sink.deltas) == run.text
    if run.text and run.error is not None:
        assert session.history[-1].content == run.text
    return run


_shell: InteractiveShell | None = None


def magic_shell() -> InteractiveShell:
    global _shell
    if _shell is None:
        _shell = InteractiveShell.instance()
        _shell.run_line_magic("load_ext", "nvnb")
    return _shell


def magic_cell(srv: Any, spec: str) -> Run:
    shell, session, run = magic_shell(), make_session(srv, spec), Run()
    previous = session_module._default
    session_module._default = session
    try:
        with capture_output() as captured:
            result = shell.run_cell(f"%%nvchat -o answer\n{PROMPT}", store_history=True)
    finally:
        session_module._default = previous
    if result.success:
        run.text = str(shell.user_ns["answer"])
        assert run.text in captured.stdout
    else:
        run.error = result.error_in_exec
        assert "Traceback" not in captured.stdout + captured.stderr
        # A failure with no answer leaves no turn at all; a partial answer is the last turn.
        last = session.history[-1] if session.history else None
        kept = last.content if last is not None and last.role == "assistant" else ""
        run.text = kept
        if kept:
            assert kept in captured.stdout  # the partial text stayed in the cell's output
    run.active = wait_idle(lambda: session_pool_stats(session))["active"]
    return run


Surface = Callable[[Any, str], Run]
SURFACES: dict[str, tuple[Surface, bool]] = {  # name: (run, streamed)
    "Client.chat": (client_chat, False),
    "Client.aio.chat": (client_achat, False),
    "Client.stream_chat": (client_stream, True),
    "Client.aio.stream_chat": (client_astream, True),
    "ChatNVIDIA.invoke": (llm_invoke, False),
    "ChatNVIDIA.ainvoke": (llm_ainvoke, False),
    "ChatNVIDIA.stream": (llm_stream, True),
    "ChatNVIDIA.astream": (llm_astream, True),
    "Session.ask": (session_ask, True),
    "Session.ask_async": (session_ask_async, True),
    "%%nvchat": (magic_cell, True),
}


@pytest.fixture(scope="module")
def reference(nvnb_server_session: Any) -> str:
    """The whole answer to PROMPT (the engine is deterministic)."""
    with Client(base_url=nvnb_server_session.base_url) as client:
        return client.chat(body(False))["choices"][0]["message"]["content"]


MATRIX = [
    pytest.param(case, surface, id=f"{case.name} - {surface}")
    for case in CASES
    for surface in SURFACES
    if case.only is None or surface in case.only
]


@pytest.mark.parametrize(("case", "surface"), MATRIX)
def test_every_fault_on_every_surface_ends_as_expected_and_leaves_nothing_behind(
    case: Case, surface: str, srv: Any, reference: str, thread_guard: None
) -> None:
    call, streamed = SURFACES[surface]
    expect = case.streamed if streamed else case.plain
    spec = case.spec.replace("{id}", token())
    started = time.monotonic()
    run = call(srv, spec)
    elapsed = time.monotonic() - started

    if expect.or_retried:
        assert 1 <= len(chat_posts(srv)) <= ATTEMPTS
        if run.error is None:
            assert run.text == reference and len(chat_posts(srv)) >= 2
            expect = Expect(None, None)
        else:
            expect = Expect(E.TransportError, None)
    if expect.error is None:
        assert run.error is None, f"{type(run.error).__name__}: {run.error}"
        assert run.text == reference
    else:
        assert isinstance(run.error, expect.error), f"{type(run.error).__name__}: {run.error}"
        message = str(run.error)
        assert message.strip() and "Traceback" not in message
        partial = getattr(run.error, "partial_text", "")
        if expect.partial:
            assert run.text and reference.startswith(run.text) and run.text != reference
            assert partial == run.text
        else:
            assert run.text == "" and partial == ""
        if isinstance(run.error, E.RateLimitError):
            assert run.error.retry_after is not None
    if expect.requests is not None:
        assert len(chat_posts(srv)) == expect.requests
    if case.spec == "accepted=forever" and not streamed:
        assert 1 <= len(polls(srv)) <= 500  # polled until the 200 ms deadline, not beyond
    assert run.active == 0, "a connection was left checked out of the pool"
    assert elapsed < 5.0  # nothing waited for a default timeout


# --- the real waits: one per path ------------------------------------------------------------


def test_a_real_retry_after_in_seconds_is_waited_out_by_a_streaming_chat_model(
    srv: Any, thread_guard: None
) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=srv.base_url,
        timeout=5.0,
        max_retries=1,
        default_headers={"X-NVNB-Fault": f"status=429;retry-after=1;times=1;id={token()}"},
    )
    started = time.monotonic()
    text = "".join(str(c.content) for c in llm.stream(PROMPT))
    assert 0.95 <= time.monotonic() - started < 4
    assert text and len(chat_posts(srv)) == 2


def test_a_real_retry_after_http_date_is_waited_out_by_the_session(
    srv: Any, thread_guard: None
) -> None:
    when = http_date(2)  # whole seconds: the wait is between 1 and 2 s
    session = Session(
        MODEL,
        base_url=srv.base_url,
        timeout=5.0,
        max_retries=1,
        default_headers={"X-NVNB-Fault": f"status=503;retry-after={when};times=1;id={token()}"},
    )
    started = time.monotonic()
    answer = session.ask(PROMPT)
    assert 0.5 <= time.monotonic() - started < 4
    assert answer.text and len(chat_posts(srv)) == 2


async def test_a_real_retry_after_is_waited_out_asynchronously_without_blocking_the_loop(
    srv: Any,
) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=srv.base_url,
        timeout=5.0,
        max_retries=1,
        default_headers={"X-NVNB-Fault": f"status=429;retry-after=1;times=1;id={token()}"},
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    answer = await llm.ainvoke(PROMPT)
    task.cancel()
    assert 0.95 <= time.monotonic() - started < 4
    assert answer.content and ticks >= 10  # the loop kept running while the client waited


# --- beyond the matrix -------------------------------------------------------------------------


def test_chat_nvidia_polls_a_202_to_its_result(srv: Any) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=srv.base_url,
        timeout=2.0,
        default_headers={"X-NVNB-Fault": "accepted=3"},
    )
    assert llm.invoke(PROMPT).content
    assert len(chat_posts(srv)) == 1 and len(polls(srv)) == 4  # 3 more 202s, then the result


def test_a_five_megabyte_answer_streams_whole_through_the_chat_model(
    srv: Any, thread_guard: None
) -> None:
    llm = ChatNVIDIA(
        model=MODEL,
        base_url=srv.base_url,
        timeout=30.0,
        default_headers={"X-NVNB-Fault": "long=5000000"},
    )
    text = "".join(str(c.content) for c in llm.stream(PROMPT))
    assert len(text) == 5_000_000
    assert len(chat_posts(srv)) == 1
    assert wait_idle(llm.client.pool_stats)["active"] == 0


def test_many_sessions_do_not_pile_up_connections_after_faults(srv: Any) -> None:
    """Twenty failing streams in a row through one session: the pool stays small and idle."""
    session = Session(
        MODEL,
        base_url=srv.base_url,
        timeout=LLM_TIMEOUT_S,
        max_retries=0,
        default_headers={"X-NVNB-Fault": "drop-after=2"},
    )
    for _ in range(20):
        with pytest.raises(E.StreamInterrupted):
            session.ask(PROMPT)
    stats = session_pool_stats(session)
    assert stats["active"] == 0 and stats["connections"] <= 1
    assert len(chat_posts(srv)) == 20
