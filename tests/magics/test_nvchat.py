"""%%nvchat and %nvchat through a real IPython shell, against nvnb's local server.

Every test gets a fresh default session (``nvnb.session()``) pointed at the test server, the way a
user's kernel would be, with a key set and hosted URLs rewritten onto the server.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

import nvnb.magics.ask_cell as ask_cell
import nvnb.magics.nvchat as magics
import nvnb.session as session_module
from nvnb.magics.answer_output import CodeAnswer, MarkdownAnswer, TextAnswer
from nvnb.magics.kernel_errors import plain
from nvnb.session import Session
from nvnb.testing import AUTH_KEY
from nvnb.widgets.transient import WIDGET_VIEW

CHAT = "meta/llama-3.1-8b-instruct"
STEERLM = "nvidia/nemotron-steerlm-8b"
VISION = "google/gemma-3n-e4b-it"
QA = "nvidia/llama3-chatqa-1.5-8b"
CODE = "google/codegemma-7b"


@pytest.fixture
def server(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local server as the hosted service (a key set, hosted URLs rewritten onto it)."""
    monkeypatch.setenv("NVIDIA_API_KEY", AUTH_KEY)
    monkeypatch.setenv("NVNB_HOSTED_ORIGIN", nvnb_server.origin)
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    monkeypatch.delenv("NVNB_LOCAL", raising=False)
    return nvnb_server


@pytest.fixture
def session(server: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    """A fresh kernel session, the one ``nvnb.session()`` (and so the magics) returns."""
    fresh = Session(max_retries=1)
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


def faulty_session(monkeypatch: pytest.MonkeyPatch, fault: str) -> Session:
    """The default session, every request carrying ``X-NVNB-Fault: <fault>``."""
    fresh = Session(max_retries=1, default_headers={"X-NVNB-Fault": fault})
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


def run(shell: InteractiveShell, source: str) -> tuple[ExecutionResult, CapturedIO]:
    with capture_output() as captured:
        result = shell.run_cell(source, store_history=True)
    return result, captured


def chats(server: Any) -> list[dict[str, Any]]:
    """JSON bodies of the chat requests the server received."""
    return [
        r.json
        for r in server.requests
        if r.method == "POST" and isinstance(r.json, dict) and "messages" in r.json
    ]


def user_text(body: dict[str, Any]) -> str:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def failure_text(captured: CapturedIO) -> str:
    return plain(captured.stdout + captured.stderr).strip()


def assert_one_line_failure(result: ExecutionResult, captured: CapturedIO, name: str) -> str:
    assert not result.success
    assert type(result.error_in_exec).__name__ == name
    shown = failure_text(captured).splitlines()[-2:]
    text = "\n".join(shown)
    assert "Traceback" not in failure_text(captured)
    assert 'File "' not in failure_text(captured)
    assert any(line.startswith(f"{name}: ") for line in shown), text
    return text


# --- asking ----------------------------------------------------------------------------------


def test_a_cell_is_sent_as_the_prompt_and_its_answer_becomes_the_cell_output(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat\nWhat is a GPU?\n")
    assert result.success, result.error_in_exec
    answer = result.result
    assert isinstance(answer, MarkdownAnswer)
    assert "local nvnb server" in answer
    (body,) = chats(server)
    assert user_text(body) == "What is a GPU?"
    assert body["model"] == CHAT and body["stream"] is True
    # streamed as plain text (no widgets here), then shown once as the cell's result
    assert captured.stdout.startswith(str(answer))
    assert shell.user_ns["Out"][result.execution_count] == answer


def test_variables_and_cell_references_are_filled_in_but_code_braces_are_not(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    shell.user_ns["topic"] = "tensor cores"
    first, _ = run(shell, "data = {'a': 1}")
    source = (
        "%%nvchat\nTell me about {topic}. The cell was: {In["
        + str(first.execution_count)
        + ']}\nCode: def f(): return {"k": {missing}}\nKeep {{topic}}'
    )
    result, _ = run(shell, source)
    assert result.success, result.error_in_exec
    sent = user_text(chats(server)[-1])
    assert sent == (
        "Tell me about tensor cores. The cell was: data = {'a': 1}\n"
        'Code: def f(): return {"k": {missing}}\nKeep {topic}'
    )


def test_out_and_err_references_bring_earlier_results_and_errors(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    out, _ = run(shell, "6 * 7")
    err, _ = run(shell, "int('seven')")
    result, _ = run(
        shell,
        f"%%nvchat\nvalue {{Out[{out.execution_count}]}}; error {{Err[{err.execution_count}]}}",
    )
    assert result.success, result.error_in_exec
    sent = user_text(chats(server)[-1])
    assert sent.startswith("value 42; error ")
    assert "ValueError: invalid literal for int() with base 10: 'seven'" in sent
    assert "\x1b[" not in sent


def test_model_system_and_sampling_options_reach_the_request(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, _ = run(
        shell,
        "%%nvchat -m ai-mixtral-8x7b-instruct -s 'Answer in French.' -t 0.25 --max-tokens 64 "
        "--top-p 0.5 --seed 7\nBonjour",
    )
    assert result.success, result.error_in_exec
    body = chats(server)[-1]
    assert body["model"] == "mistralai/mixtral-8x7b-instruct-v0.1"
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["seed"]) == (
        0.25,
        64,
        0.5,
        7,
    )
    assert session.model == CHAT  # per-cell options do not change the session


def test_labels_reach_a_steerlm_model(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, _ = run(shell, f"%%nvchat -m {STEERLM} --labels creativity=9,verbosity=0\nA poem")
    assert result.success, result.error_in_exec
    body = chats(server)[-1]
    assert body["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 9, "verbosity": 0},
    }


def test_images_from_a_path_a_url_and_a_variable_reach_a_vision_model(
    shell: InteractiveShell, session: Session, server: Any, tmp_path: Any
) -> None:
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (32, 16), (220, 20, 20)).save(path)
    shell.user_ns["square"] = path.read_bytes()
    url = f"{server.origin}/_nvnb/samples/blue-square.jpg"
    result, _ = run(
        shell,
        f"%%nvchat -m {VISION} --image {path} --image {url} --image {{square}}\nDescribe them",
    )
    assert result.success, result.error_in_exec
    content = [m for m in chats(server)[-1]["messages"] if m["role"] == "user"][-1]["content"]
    urls = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    assert len(urls) == 3
    assert urls[0].startswith("data:image/png;base64,") and urls[1] == url
    assert urls[2].startswith("data:image/png;base64,")


def test_a_list_of_images_in_a_variable_sends_them_all(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    url = f"{server.origin}/_nvnb/samples/red-circle.png"
    shell.user_ns["shots"] = [url, f"{server.origin}/_nvnb/samples/gradient.png"]
    result, _ = run(shell, f"%%nvchat -m {VISION} --image {{shots}}\nCompare them")
    assert result.success, result.error_in_exec
    content = [m for m in chats(server)[-1]["messages"] if m["role"] == "user"][-1]["content"]
    assert [p["image_url"]["url"] for p in content if p.get("type") == "image_url"] == (
        shell.user_ns["shots"]
    )


def test_context_from_a_variable_reaches_a_qa_model(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    shell.user_ns["doc"] = "The H100 has 80 GB of memory. It was released in 2022."
    result, _ = run(shell, f"%%nvchat -m {QA} --context {{doc}}\nHow much memory?")
    assert result.success, result.error_in_exec
    roles = [(m["role"], m["content"]) for m in chats(server)[-1]["messages"]]
    assert ("context", shell.user_ns["doc"]) in roles
    assert "80 GB" in result.result


def test_out_stores_the_answer_as_a_plain_str(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat -o reply\nHello")
    assert result.success, result.error_in_exec
    assert type(shell.user_ns["reply"]) is str
    # shown once as it streamed; -o stores it without an Out[n] copy
    assert result.result is None
    assert captured.stdout.count(shell.user_ns["reply"]) == 1
    result, captured = run(shell, "%%nvchat --no-stream -o quiet\nHello")
    assert result.result == shell.user_ns["quiet"]  # nothing streamed: shown once as the result


def test_code_format_puts_the_code_into_the_next_cell(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    shell.rl_next_input = None
    result, _ = run(shell, f"%%nvchat -m {CODE} -f code -o snippet\nA function that adds numbers")
    assert result.success, result.error_in_exec
    assert result.result is None  # streamed once, and put into the next cell; no Out[n]
    assert "```" not in shell.user_ns["snippet"] and "def " in shell.user_ns["snippet"]
    assert shell.rl_next_input == shell.user_ns["snippet"]
    result, _ = run(shell, f"%%nvchat -m {CODE} -f code\nA function that adds numbers")
    assert isinstance(result.result, CodeAnswer)
    assert "```" not in result.result


def test_text_format_shows_plain_text(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, _ = run(shell, "%%nvchat -f text\nHello")
    assert isinstance(result.result, TextAnswer)


def test_json_format_fails_readably_when_the_answer_is_not_json(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat -f json -o parsed_json\nGive me JSON")
    text = assert_one_line_failure(result, captured, "CellFailure")
    assert "not valid JSON" in text
    assert "parsed_json" not in shell.user_ns


def test_chat_continues_the_conversation_and_the_default_is_one_question(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    run(shell, "%%nvchat\nMy name is Ada.")
    run(shell, "%%nvchat\nUnrelated question")
    assert [m["role"] for m in chats(server)[-1]["messages"]] == ["user"]
    result, _ = run(shell, "%%nvchat --chat\nWhat is my name?")
    assert result.success, result.error_in_exec
    contents = [m["content"] for m in chats(server)[-1]["messages"]]
    assert "My name is Ada." in contents and contents[-1] == "What is my name?"


def test_no_stream_shows_the_answer_only_when_complete(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat --no-stream\nHello")
    assert result.success, result.error_in_exec
    assert captured.stdout.count(str(result.result)) == 1  # the result only, nothing streamed


def test_a_kernel_with_widgets_streams_into_a_stream_pane_that_steps_aside_for_the_answer(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    panes: list[Any] = []
    make = ask_cell._stream_pane

    def record(s: Any) -> Any:
        panes.append(make(s))
        return panes[-1]

    monkeypatch.setattr(ask_cell, "_widgets_shown", lambda shell: True)
    monkeypatch.setattr(ask_cell, "_stream_pane", record)
    result, captured = run(shell, "%%nvchat\nHello pane")
    assert result.success, result.error_in_exec
    (pane,) = panes
    assert "local nvnb server" in pane.text and pane.status == "done"
    assert pane.session is session
    assert not pane.stoppable  # no kernel to hear a Stop while the cell runs: none shown
    # The pane was displayed with its view alone (no "no answer yet" text for a saved notebook),
    # then emptied (model_id "", which front ends hide) and closed; the answer is shown once,
    # as the cell's result (what a saved notebook, GitHub and nbval read).
    shown, emptied = captured.outputs
    assert list(shown.data) == [WIDGET_VIEW] and shown.data[WIDGET_VIEW]["model_id"]
    assert emptied.data == {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": ""}}
    assert pane.comm is None  # closed
    assert result.result == pane.text
    assert captured.stdout.count(pane.text) == 1  # Out[n] only, not streamed as text too
    shell.rl_next_input = None
    result, captured = run(shell, f"%%nvchat -m {CODE} -f code -o pane_code\nAdd numbers")
    assert result.result == shell.user_ns["pane_code"] != ""
    assert shell.rl_next_input == shell.user_ns["pane_code"]  # the next cell's code
    result, captured = run(shell, "%%nvchat --no-widget\nHello text")
    assert len(panes) == 2
    assert captured.stdout.count(str(result.result)) == 2  # streamed, then the result


def test_the_terminal_prints_the_stream_once_and_returns_nothing(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ask_cell, "_is_terminal", lambda shell: True)
    result, captured = run(shell, "%%nvchat -o said\nHello terminal")
    assert result.success and result.result is None
    assert captured.stdout.strip() == shell.user_ns["said"]


# --- errors ----------------------------------------------------------------------------------


def test_no_key_with_the_local_server_off_is_one_readable_line(
    shell: InteractiveShell, nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_HOSTED_ORIGIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NVNB_LOCAL", "off")
    monkeypatch.setattr(session_module, "_default", Session())
    result, captured = run(shell, "%%nvchat\nHello")
    text = assert_one_line_failure(result, captured, "ConfigurationError")
    assert "no API key" in text


def test_an_unknown_model_suggests_close_names(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat -m meta/llama3-70b-instruc\nHello")
    text = assert_one_line_failure(result, captured, "UnknownModelError")
    assert "meta/llama3-70b-instruct" in text


def test_a_401_names_the_request_id(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty_session(monkeypatch, "status=401")
    result, captured = run(shell, "%%nvchat\nHello")
    text = assert_one_line_failure(result, captured, "AuthenticationError")
    assert "401" in text and "request id: " in text


def test_a_429_after_the_retries_names_the_request_id(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty_session(monkeypatch, "status=429;retry-after=0")
    result, captured = run(shell, "%%nvchat\nHello")
    text = assert_one_line_failure(result, captured, "RateLimitError")
    assert "429" in text and "request id: " in text
    assert len(chats(server)) == 2  # the first try and one retry


def test_labels_out_of_range_are_refused_before_sending(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, f"%%nvchat -m {STEERLM} --labels creativity=12\nHello")
    text = assert_one_line_failure(result, captured, "InvalidInputError")
    assert "creativity" in text and "0 to 9" in text
    result, captured = run(shell, "%%nvchat --labels creativity=high\nHello")
    assert_one_line_failure(result, captured, "CellFailure")
    assert chats(server) == []


def test_a_missing_image_is_refused_before_sending(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, f"%%nvchat -m {VISION} --image /no/such/photo.png\nWhat is it?")
    text = assert_one_line_failure(result, captured, "ImageError")
    assert "/no/such/photo.png" in text
    assert chats(server) == []


def test_a_stream_that_breaks_off_fails_the_cell_with_the_partial_text_shown(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty_session(monkeypatch, "drop-after=3")
    result, captured = run(shell, "%%nvchat\nHello")
    text = assert_one_line_failure(result, captured, "StreamInterrupted")
    assert "request id: " in text
    assert text.endswith("Hint: the text received before the error is shown above")
    assert captured.stdout.startswith("This is the")  # the partial text stayed in the output


def test_bad_usage_is_a_usage_error(shell: InteractiveShell, session: Session) -> None:
    for source in ("%%nvchat stray words\nHello", "%nvchat frobnicate", "%%nvchat -o 1x\nHi"):
        result, captured = run(shell, source)
        assert not result.success, source
        assert "Traceback" not in failure_text(captured)


# --- interrupt -------------------------------------------------------------------------------


def interrupt_once_streaming(server: Any) -> threading.Thread:
    """Send the kernel's interrupt (SIGINT) a moment after the server got the chat request."""

    def wait_then_interrupt() -> None:
        deadline = time.monotonic() + 30
        while not chats(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.4)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=wait_then_interrupt, daemon=True)
    thread.start()
    return thread


def test_an_interrupt_stops_the_answer_and_keeps_the_partial_text_everywhere(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = faulty_session(monkeypatch, "chunk-delay-ms=20, long=4000")
    interrupter = interrupt_once_streaming(server)
    result, captured = run(shell, "%%nvchat -o partial\nTell me a long story")
    interrupter.join()
    assert not result.success
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    partial = shell.user_ns["partial"]
    assert 0 < len(partial) < 4000
    # Streamed as it came (the interrupt may land between a delta being kept and being
    # printed: the printed text is then the partial text less that delta), then the partial
    # text is shown once more, whole, as the output.
    printed = captured.stdout[: captured.stdout.index("KeyboardInterrupt")].rstrip("\n")
    printed = printed.removesuffix("\x1b[0;31m").rstrip("\n")
    assert printed and partial.startswith(printed)
    assert [o.data["text/plain"] for o in captured.outputs] == [partial]
    shown = failure_text(captured).splitlines()[-1]
    assert shown.startswith("KeyboardInterrupt: answer stopped;") and "partial" in shown
    last = session.history[-1]
    assert last.role == "assistant" and last.content == partial and last.answer.stopped


# --- line commands ---------------------------------------------------------------------------


def test_models_shows_the_catalog_filtered(shell: InteractiveShell, session: Session) -> None:
    result, captured = run(shell, "%nvchat models steerlm")
    assert result.success
    (output,) = captured.outputs
    assert STEERLM in output.data["text/markdown"] and STEERLM in output.data["text/plain"]
    assert CHAT not in output.data["text/plain"].split("the session uses")[0]


def test_use_changes_the_session_model_that_the_widgets_show(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    seen: list[str] = []
    session.observe(lambda change: seen.append(change["new"]), "model")
    result, _captured = run(shell, "%nvchat use ai-mixtral-8x7b-instruct")
    assert result.success, result.error_in_exec
    assert session.model == "mistralai/mixtral-8x7b-instruct-v0.1" == seen[-1]
    run(shell, "%%nvchat\nHello")
    assert chats(server)[-1]["model"] == session.model


def test_the_magic_and_the_widgets_share_model_and_labels_both_ways(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    from nvnb.widgets import ModelPicker, SteerSliders

    picker, sliders = ModelPicker(live=False), SteerSliders()
    run(shell, f"%nvchat use {STEERLM}")
    assert picker.value == STEERLM and sliders.enabled == ["creativity", "complexity", "verbosity"]
    run(shell, "%nvchat labels creativity=3")
    assert sliders.values == {"creativity": 3}
    sliders.values = {"creativity": 8, "verbosity": 2}  # the user drags the sliders
    run(shell, "%%nvchat\nHello sliders")
    assert chats(server)[-1]["model"] == STEERLM
    assert chats(server)[-1]["messages"][-1]["labels"] == {"creativity": 8, "verbosity": 2}
    picker.value = "mistralai/mixtral-8x7b-instruct-v0.1"  # the user picks another model
    run(shell, "%%nvchat\nHello picker")
    assert chats(server)[-1]["model"] == "mistralai/mixtral-8x7b-instruct-v0.1"
    _result, config = run(shell, "%nvchat config")
    assert "mistralai/mixtral-8x7b-instruct-v0.1" in config.outputs[0].data["text/plain"]


def test_use_an_unknown_model_suggests_names_and_keeps_the_model(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%nvchat use mixtral-8x7b-instruc")
    text = assert_one_line_failure(result, captured, "UnknownModelError")
    assert "mistralai/mixtral-8x7b-instruct-v0.1" in text
    assert session.model == CHAT


def test_labels_set_the_session_labels_used_by_the_next_cell(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    run(shell, f"%nvchat use {STEERLM}")
    result, captured = run(shell, "%nvchat labels creativity=2 complexity=5")
    assert result.success, result.error_in_exec
    assert session.labels == {"creativity": 2, "complexity": 5}
    assert "creativity=2" in captured.stdout
    session.labels = {**session.labels, "verbosity": 1}  # as a slider would
    run(shell, "%%nvchat\nHello")
    assert chats(server)[-1]["messages"][-1]["labels"] == {
        "creativity": 2,
        "complexity": 5,
        "verbosity": 1,
    }
    result, captured = run(shell, "%nvchat labels verbosity=10")
    assert_one_line_failure(result, captured, "InvalidInputError")
    run(shell, "%nvchat labels reset")
    assert session.labels == {}


def test_reset_and_history(shell: InteractiveShell, session: Session, server: Any) -> None:
    _result, captured = run(shell, "%nvchat history")
    assert "no conversation yet" in captured.stdout
    run(shell, "%%nvchat\nFirst question")
    _result, captured = run(shell, "%nvchat history")
    (output,) = captured.outputs
    assert "First question" in output.data["text/markdown"]
    run(shell, "%nvchat reset")
    assert session.history == []


def test_key_asks_without_echo_and_moves_requests_to_the_hosted_service(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "nvapi-entered-by-hand-0123456789abcdef"
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or secret)
    monkeypatch.delenv("NVIDIA_API_KEY")  # no key yet: the embedded local server would answer
    monkeypatch.setattr(session_module, "_default", Session(max_retries=1))
    result, captured = run(shell, "%nvchat key")
    assert result.success, result.error_in_exec
    assert prompts and "new requests go to NVIDIA's hosted catalog" in captured.stdout
    assert server.base_url in captured.stdout and "key set" in captured.stdout
    run(shell, "%%nvchat\nHello with a key")
    (request,) = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert request.has_auth  # the hosted service (here: the test server standing in for it)
    _result, config = run(shell, "%nvchat config")
    everything = captured.stdout + config.stdout + repr([o.data for o in config.outputs])
    assert secret not in everything and secret[6:] not in everything
    assert "nvapi-****" in everything
    assert secret not in repr(shell.user_ns.get("Out", {}))


def test_key_without_a_way_to_ask_fails_readably(
    shell: InteractiveShell, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.error import StdinNotImplementedError

    def no_stdin(prompt: str = "") -> str:
        raise StdinNotImplementedError("getpass was called, but this frontend does not support it")

    monkeypatch.setattr("getpass.getpass", no_stdin)
    result, captured = run(shell, "%nvchat key")
    text = assert_one_line_failure(result, captured, "CellFailure")
    assert "cannot ask for input" in text and "NVIDIA_API_KEY" in text


def test_config_shows_the_effective_settings(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    session.temperature = 0.3
    _result, captured = run(shell, "%nvchat config")
    (output,) = captured.outputs
    text = output.data["text/plain"]
    assert "model" in text and CHAT in text and "0.3" in text
    assert server.origin in text and AUTH_KEY not in text


def test_help_lists_the_options_and_commands(shell: InteractiveShell) -> None:
    _result, captured = run(shell, "%nvchat help")
    for word in ("--labels", "--image", "--no-widget", "fix", "history", "{Err[n]}"):
        assert word in captured.stdout
    assert "--max-tokens" in magics.NVChatMagics.nvchat.__doc__


def test_the_question_mark_documents_the_cell_magic(shell: InteractiveShell) -> None:
    _result, captured = run(shell, "%%nvchat?")
    for word in ("--labels", "--context", "-f {markdown,code,text,json}", "{Err[n]}"):
        assert word in captured.stdout


def test_fix_without_any_error_says_so(
    shell: InteractiveShell, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ask_cell, "last_error", lambda shell: None)
    result, captured = run(shell, "%nvchat fix")
    assert "no error to fix" in assert_one_line_failure(result, captured, "CellFailure")


def test_fix_sends_the_last_error_and_its_cell(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    failed, _ = run(shell, "values = {'a': 1}\nvalues['b']")
    result, _ = run(shell, "%nvchat fix -m ai-mixtral-8x7b-instruct")
    assert result.success, result.error_in_exec
    body = chats(server)[-1]
    sent = user_text(body)
    assert f"cell [{failed.execution_count}]" in sent
    assert "values = {'a': 1}" in sent  # braces untouched
    assert "KeyError: 'b'" in sent
    assert body["model"] == "mistralai/mixtral-8x7b-instruct-v0.1"


def test_load_ext_twice_is_harmless(shell: InteractiveShell) -> None:
    shell.run_line_magic("reload_ext", "nvnb")
    assert "nvchat" in shell.magics_manager.magics["cell"]


# --- models that cannot stream (issue 15 defect 4) ----------------------------------------------

KOSMOS = "microsoft/kosmos-2"  # the catalog: "streaming": false; the service refuses "stream"


def test_a_model_that_cannot_stream_is_asked_without_stream_from_the_magic(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, f"%%nvchat -m {KOSMOS}\nDescribe a GPU")
    assert result.success, failure_text(captured)
    (body,) = chats(server)
    assert "stream" not in body and body["model"] == KOSMOS
    assert "local nvnb server" in captured.stdout and "422" not in captured.stdout


def test_a_model_that_cannot_stream_works_in_the_session_and_chat_nvidia_stream(
    session: Session, server: Any
) -> None:
    import nvnb

    answer = session.ask("Describe a GPU", model=KOSMOS)
    assert "local nvnb server" in answer.text
    chunks = list(nvnb.ChatNVIDIA(model=KOSMOS, max_retries=1).stream("Describe a GPU"))
    assert "local nvnb server" in "".join(str(c.content) for c in chunks)
    assert all("stream" not in body for body in chats(server))


def test_a_refused_field_hint_speaks_of_the_cell_not_an_llm(
    shell: InteractiveShell, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = Session(max_retries=1, model_kwargs={"frequency_penalty": 0.5})
    monkeypatch.setattr(session_module, "_default", fresh)
    result, captured = run(shell, f"%%nvchat -m {KOSMOS}\nDescribe a GPU")
    text = assert_one_line_failure(result, captured, "InvalidRequestError")
    assert "422" in text and "request id" in text
    assert "payload_fn" not in failure_text(captured) and "llm" not in failure_text(captured)
    assert "'frequency_penalty'" in text and "%%nvchat option" in text


# --- rough words (issue 15 defect 9) ------------------------------------------------------------


def test_help_is_readable_text_not_restructuredtext(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%nvchat help")
    assert result.success
    text = captured.stdout
    assert "``" not in text and "::" not in text
    assert "{name} is replaced by a variable's value" in text
    assert "%nvchat models [FILTER]" in text


def test_a_misspelt_reference_is_sent_as_written_with_a_notice_naming_it(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    shell.user_ns["topic"] = "GPUs"
    result, captured = run(shell, "%%nvchat\nTell me about {topik} and {topic}; code: {}")
    assert result.success, result.error_in_exec
    assert user_text(chats(server)[-1]) == "Tell me about {topik} and GPUs; code: {}"
    assert "{topik}" in captured.stderr and "names nothing" in captured.stderr
    assert "{topic}" not in captured.stderr  # only what did not resolve
    _, captured = run(shell, "%%nvchat\nAbout {topic}")
    assert "names nothing" not in captured.stderr
    _, captured = run(shell, '%%nvchat\nFix: return f"{lo}-{hi}"\n```\nx = {y}\n```')
    assert "nothing in this kernel" not in captured.stderr  # braces in code are no typo


def test_an_unknown_model_is_said_once_without_an_empty_pane_or_stats(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[Any] = []
    monkeypatch.setattr(ask_cell, "_widgets_shown", lambda shell: True)
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    result, captured = run(shell, "%%nvchat -m no-such/model-x\nHi")
    text = assert_one_line_failure(result, captured, "UnknownModelError")
    assert "no-such/model-x" in text
    assert shown == []  # no pane repeating the error with a "0 tokens" line
    assert failure_text(captured).count("no-such/model-x") == 1
    assert "tokens" not in failure_text(captured)


# --- %%nvchat --map (issue 17) ------------------------------------------------------------------


def test_map_runs_the_prompt_over_each_row_and_stores_the_result_with_a_summary(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    pandas = pytest.importorskip("pandas")
    shell.user_ns["reviews"] = pandas.DataFrame({"text": ["great GPU", "too loud", "fine"]})
    result, captured = run(shell, "%%nvchat --map reviews -o labelled -t 0\nLabel: {text}")
    assert result.success, failure_text(captured)
    assert result.result is None
    sent = sorted(user_text(b) for b in chats(server))
    assert sent == ["Label: fine", "Label: great GPU", "Label: too loud"]
    labelled = shell.user_ns["labelled"]
    assert len(labelled) == 3 and labelled.ok
    assert all("local nvnb server" in (o.text or "") for o in labelled)
    frame = labelled.to_dataframe()
    assert list(frame["text"]) == ["great GPU", "too loud", "fine"]
    # a short summary, not the table (nor the answers) printed
    assert "3 rows" in captured.stdout and "local nvnb server" not in captured.stdout
    assert len(captured.stdout.strip().splitlines()) == 1


def test_map_over_a_list_of_dicts_without_o_shows_the_summary_as_the_result(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    shell.user_ns["rows"] = [{"city": "Lyon"}, {"city": "Oslo"}]
    result, captured = run(shell, "%%nvchat --map rows\nWhere is {city}?")
    assert result.success, failure_text(captured)
    assert [o.text is not None for o in result.result] == [True, True]
    assert repr(result.result).startswith("MapResult(2 rows, 2 done")


def test_map_of_a_missing_variable_is_one_readable_line(
    shell: InteractiveShell, session: Session, server: Any
) -> None:
    result, captured = run(shell, "%%nvchat --map nowhere_rows\nHi {x}")
    text = assert_one_line_failure(result, captured, "CellFailure")
    assert "nowhere_rows" in text and chats(server) == []
