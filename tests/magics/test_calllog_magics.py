"""``%nvchat log``, ``%nvchat last`` and ``%nvchat cache`` in a real IPython shell, the answers
coming from nvnb's local server through ``%%nvchat``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

import nvnb.session as session_module
from nvnb.calls.cache import active_cache
from nvnb.session import Session

CHAT = "meta/llama-3.1-8b-instruct"


@pytest.fixture
def session(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    fresh = Session(model=CHAT)
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


def run(shell: InteractiveShell, source: str) -> tuple[ExecutionResult, CapturedIO]:
    with capture_output() as captured:
        result = shell.run_cell(source, store_history=True)
    return result, captured


def shown(captured: CapturedIO) -> str:
    return captured.stdout + "".join(o.data.get("text/plain", "") for o in captured.outputs)


def asks(server: Any) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


def test_log_shows_the_cells_requests_newest_last(
    shell: InteractiveShell, session: Session, nvnb_server: Any
) -> None:
    for prompt in ("first question", "second question"):
        result, _ = run(shell, f"%%nvchat --no-widget\n{prompt}")
        assert result.success
    result, captured = run(shell, "%nvchat log 5")
    assert result.success
    lines = shown(captured).splitlines()
    assert lines[0].startswith("time") and len(lines) == 3
    assert all(CHAT in line and "chat/completions" in line for line in lines[1:])


def test_log_with_a_bad_argument_says_how_to_use_it(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%nvchat log 3 a b")
    assert not result.success and "usage: %nvchat log" in captured.stderr + str(
        result.error_in_exec
    )


def test_last_shows_the_exact_body_and_the_request_id(
    shell: InteractiveShell, session: Session, nvnb_server: Any
) -> None:
    run(shell, "%%nvchat --no-widget -t 0.3\nwhat was sent?")
    _, captured = run(shell, "%nvchat last")
    text = shown(captured)
    sent = nvnb_server.requests[-1]
    assert '"what was sent?"' in text and '"temperature": 0.3' in text
    assert sent.headers.get("x-request-id", "") in text or "request id:" in text
    assert "retries: 0" in text
    # how it went is said once, from the one record of the request (status, time, 429 waits)
    assert text.count("→ 200 ok (") == 1 and "retries: 0 (0 × 429, 0.00 s waited)" in text


def test_cache_turns_on_replays_a_repeated_cell_and_turns_off(
    shell: InteractiveShell, session: Session, nvnb_server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "answers.sqlite"
    _, captured = run(shell, f"%nvchat cache {path}")
    assert f"cache: auto ({path})" in shown(captured)
    assert active_cache().path == path
    first, _ = run(shell, "%%nvchat --no-widget\ncache me")
    second, _ = run(shell, "%%nvchat --no-widget\ncache me")
    assert first.success and second.success and str(first.result) == str(second.result)
    assert asks(nvnb_server) == 1
    _, stats = run(shell, "%nvchat cache stats")
    assert "1 recorded, 1 replayed" in shown(stats)
    run(shell, "%nvchat cache off")
    assert active_cache() is None
    run(shell, "%%nvchat --no-widget\ncache me")
    assert asks(nvnb_server) == 2


def test_cache_in_replay_mode_shows_a_miss_as_a_short_error(
    shell: InteractiveShell, session: Session, nvnb_server: Any, tmp_path: Path
) -> None:
    run(shell, f"%nvchat cache {tmp_path / 'empty.sqlite'} replay")
    result, captured = run(shell, "%%nvchat --no-widget\nnever recorded")
    assert not result.success
    assert "never recorded" in captured.stderr + captured.stdout
    assert asks(nvnb_server) == 0


def test_cache_with_a_bad_mode_says_how_to_use_it(shell: InteractiveShell) -> None:
    result, _ = run(shell, "%nvchat cache a.sqlite sometimes")
    assert not result.success
    assert "usage: %nvchat cache" in str(result.error_in_exec)
