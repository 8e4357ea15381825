"""``%%nvchat -m A -m B``: one prompt to several models, through a real IPython shell against
nvnb serve (a plain shell has no widgets: the answers are printed when all are done)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import nvnb.session as session_module
from nvnb.session import Session

CHAT = "meta/llama-3.1-8b-instruct"
OTHER = "meta/llama-3.3-70b-instruct"


def chat_models_asked(server: Any) -> list[str]:
    return [
        r.json["model"]
        for r in server.requests
        if r.method == "POST" and isinstance(r.json, dict) and "messages" in r.json
    ]


def test_nvchat_with_two_models_compares_them_in_a_plain_shell(
    nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        session_module, "_default", Session(base_url=str(nvnb_server), max_retries=0)
    )
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nvnb")
    with capture_output() as captured:
        result = ip.run_cell(f"%%nvchat -m {CHAT} -m {OTHER} --max-tokens 20\nSay hi")
    assert result.success, result.error_in_exec
    assert f"== {CHAT} · done" in captured.stdout and f"== {OTHER} · done" in captured.stdout
    assert sorted(chat_models_asked(nvnb_server)) == sorted([CHAT, OTHER])
    with capture_output() as captured:
        result = ip.run_cell(f"%%nvchat -m {CHAT} -m nope/not-a-model\nSay hi")
    assert not result.success
    assert "Traceback" not in captured.stdout + captured.stderr


def test_in_a_kernel_the_cell_shows_an_arena_and_keeps_it_in_a_variable(
    nvnb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nvnb.magics.ask_cell as ask_cell
    from nvnb.widgets import Arena

    monkeypatch.setattr(
        session_module, "_default", Session(base_url=str(nvnb_server), max_retries=0)
    )
    monkeypatch.setattr(ask_cell, "_widgets_shown", lambda shell: True)
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nvnb")
    with capture_output() as captured:
        result = ip.run_cell(f"%%nvchat -m {CHAT} -m {OTHER} -o duel --max-tokens 20\nSay hi")
    assert result.success, result.error_in_exec
    assert result.result is None and "==" not in captured.stdout  # the Arena shows them
    (arena,) = shown
    assert isinstance(arena, Arena) and ip.user_ns["duel"] is arena
    results = arena.wait(timeout=30)
    assert [r.model for r in results] == [CHAT, OTHER]
    assert [r.status for r in results] == ["done", "done"]
