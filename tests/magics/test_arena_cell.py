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
