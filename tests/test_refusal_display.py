"""A refusal is said plainly wherever a notebook user sees answers: Session, StreamPane,
ChatPanel's history and ``%%nvchat`` output (the server refuses on ``X-NVNB-Fault: refusal``)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import nvnb.session as session_module
from nvnb.session import Session

REFUSED = "The model refused: I'm sorry, but I can't help with that request."


@pytest.fixture
def refusing(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    session = Session(
        base_url=nvnb_server.base_url, max_retries=0, default_headers={"X-NVNB-Fault": "refusal"}
    )
    monkeypatch.setattr(session_module, "_default", session)
    return session


def test_the_session_keeps_the_refusal_and_shows_it(refusing: Session) -> None:
    answer = refusing.ask("Help me with something bad")
    assert answer.text == "" and answer.refusal_note.startswith(REFUSED)
    assert answer._repr_markdown_().startswith(f"**{REFUSED}")
    assert REFUSED in answer.to_markdown() and REFUSED in refusing.to_markdown()


def test_an_ordinary_answer_mentions_no_refusal(nvnb_server: Any) -> None:
    answer = Session(base_url=nvnb_server.base_url).ask("Hello")
    assert answer.refusal == "" and "refused" not in answer._repr_markdown_()


def test_the_stream_pane_says_it_in_its_banner(refusing: Session) -> None:
    from nvnb.widgets import StreamPane

    pane = StreamPane()
    refusing.ask("no", sink=pane)
    assert pane.status == "done" and pane.error.startswith(REFUSED)


def test_the_chat_panel_history_shows_the_refusal(refusing: Session) -> None:
    from nvnb.widgets import ChatPanel

    panel = ChatPanel(refusing)
    refusing.ask("no", chat=True)
    refusing.ask("no again", chat=True)
    panel._on_history()
    assistant = [t for t in panel.history_view.turns if t["role"] == "assistant"]
    assert assistant and all(t["text"].startswith(REFUSED) for t in assistant)


def test_nvchat_shows_the_refusal_as_its_output(refusing: Session) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    with capture_output() as captured:
        result = shell.run_cell("%%nvchat --no-widget\nHelp me with something bad")
    assert result.success, captured.stdout + captured.stderr
    assert str(result.result).startswith(REFUSED)
    assert result.result._repr_markdown_().startswith("The model refused:")
    with capture_output() as captured:
        failed = shell.run_cell("%%nvchat -f json --no-widget\nno")
    assert not failed.success and REFUSED in str(failed.error_in_exec)
