"""The three forms of a request, each run for real against ``nvnb serve``: same body each time.

A question is asked through the session; its call record becomes Python (run in a fresh
interpreter), a ``%%nvchat`` cell (run in a real IPython shell) and ``curl`` (run by bash). The
server records the body of every request; the bodies must be equal, field for field (see the
module docstring of ``nvnb.request_code`` for what ``%%nvchat`` cannot carry).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import nvnb.session as session_module
from nvnb.request_code import code_for_session, last_request_code
from nvnb.session import Session
from nvnb.testing import AUTH_KEY

STEERLM = "nvidia/nemotron-steerlm-8b"
VISION = "google/gemma-3n-e4b-it"
CHAT = "meta/llama-3.1-8b-instruct"


def png_data_uri() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (12, 8), (30, 160, 90)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def server(nvnb_auth_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An auth-on server reached by base URL, the key in the environment (as a user has it)."""
    monkeypatch.setenv("NVIDIA_API_KEY", AUTH_KEY)
    monkeypatch.delenv("NVIDIA_BASE_URL", raising=False)
    monkeypatch.delenv("NVNB_HOSTED_ORIGIN", raising=False)
    return nvnb_auth_server


@pytest.fixture
def session(server: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    fresh = Session(base_url=str(server), max_retries=1)
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nvnb")
    return ip


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    return [
        r.json
        for r in server.requests
        if r.method == "POST" and isinstance(r.json, dict) and "messages" in r.json
    ]


def run_python(code: str) -> str:
    env = {**os.environ, "NVIDIA_API_KEY": AUTH_KEY}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_curl(command: str) -> str:
    assert shutil.which("curl"), "curl is needed (apt-get install curl)"
    env = {**os.environ, "NVIDIA_API_KEY": AUTH_KEY}
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_nvchat(shell: InteractiveShell, setup: str, cell: str) -> None:
    with capture_output():
        if setup:
            assert shell.run_cell(setup).success
        result = shell.run_cell(cell)
    assert result.success, result.error_in_exec


def reproduce_each_way(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the original body, the bodies sent by Python, %%nvchat and curl)."""
    original = chat_bodies(server)[-1]
    code = last_request_code(session)
    for form in code.forms().values():
        assert AUTH_KEY not in form
    server.clear()
    run_python(code.python)
    # %%nvchat runs in the user's kernel: a fresh default session on the same connection.
    monkeypatch.setenv("NVIDIA_BASE_URL", str(server))
    monkeypatch.setattr(session_module, "_default", Session(max_retries=1))
    run_nvchat(shell, code.nvchat_setup, code.nvchat)
    out = run_curl(code.curl)
    assert "data: [DONE]" in out
    recorded = server.requests
    assert all(r.has_auth for r in recorded if r.method == "POST")
    return original, chat_bodies(server)


def test_a_steerlm_request_with_every_setting_is_the_same_body_three_ways(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: Any
) -> None:
    session.system_prompt = "You are terse."
    session.ask(
        "Write a line about rivers",
        model=STEERLM,
        labels={"creativity": 9, "verbosity": 0},
        top_p=0.7,
        seed=11,
        max_tokens=40,
        stop=["END", "\n\n\n"],
        temperature=0.3,
    )
    original, bodies = reproduce_each_way(shell, session, server, monkeypatch)
    assert original["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 9, "verbosity": 0},
    }
    assert original["stop"] == ["END", "\n\n\n"] and original["seed"] == 11
    assert bodies == [original, original, original]


def test_an_image_request_is_the_same_body_three_ways(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: Any
) -> None:
    uri = png_data_uri()
    session.ask("What colour is this?", model=VISION, images=[uri], max_tokens=30)
    original, bodies = reproduce_each_way(shell, session, server, monkeypatch)
    parts = original["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": uri}} in parts
    assert bodies == [original, original, original]


def test_awkward_text_goes_through_variables_and_still_arrives_exactly(
    shell: InteractiveShell, session: Session, server: Any, monkeypatch: Any
) -> None:
    shell.user_ns["topic"] = "NOT THIS"
    prompt = 'Explain {topic} and {"k": 1}\n  with "quotes" and \'apostrophes\''
    session.ask(prompt, system="Line one.\nLine two: $HOME `x`", model=CHAT, max_tokens=20)
    code = last_request_code(session)
    assert "nvchat_prompt" in code.nvchat_setup and "nvchat_system" in code.nvchat_setup
    original, bodies = reproduce_each_way(shell, session, server, monkeypatch)
    assert original["messages"][-1]["content"] == prompt
    assert bodies == [original, original, original]


def test_the_code_shows_request_id_retries_and_never_the_key(session: Session, server: Any) -> None:
    answer = session.ask("Hi", model=CHAT)
    code = last_request_code(session)
    assert code.request_id == answer.request_id and code.request_id
    assert code.retries == 0
    assert f"request id: {answer.request_id}" in code.headers_text()
    assert code.headers_text().startswith("→ 200 ok (")  # the call record's outcome
    assert '"Authorization: Bearer $NVIDIA_API_KEY"' in code.curl
    assert f"base_url={str(server)!r}".replace("'", '"') in code.python
    assert AUTH_KEY not in str(code) and AUTH_KEY not in code.to_markdown()
    assert "authorization" not in {k.lower() for k in answer.call.request_headers}


def test_code_for_the_current_settings_is_the_body_the_session_then_sends(
    session: Session, server: Any
) -> None:
    session.model = STEERLM
    session.labels = {"complexity": 4}
    session.top_p = 0.5
    code = code_for_session(session, "Tell me about GPUs")
    session.ask("Tell me about GPUs")
    sent = chat_bodies(server)[-1]
    import json

    assert json.loads(code.body) == sent


def test_last_without_a_request_is_a_readable_one_line_error(
    shell: InteractiveShell, session: Session
) -> None:
    with capture_output() as captured:
        result = shell.run_cell("%nvchat last")
    assert not result.success
    assert "no request yet in this session" in captured.stdout + captured.stderr
    assert "Traceback" not in captured.stdout + captured.stderr


def test_nvchat_last_prints_the_three_forms_and_the_response(
    shell: InteractiveShell, session: Session
) -> None:
    session.ask("Hello", model=CHAT, seed=5)
    with capture_output() as captured:
        result = shell.run_cell("%nvchat last")
    assert result.success, result.error_in_exec
    shown = captured.outputs[0].data
    text = shown["text/plain"]
    for piece in (
        "# Python",
        "ChatNVIDIA(",
        "%%nvchat -m",
        "curl -sS -N",
        '"seed": 5',
        "request id:",
    ):
        assert piece in text
    assert "```bash" in shown["text/markdown"]
