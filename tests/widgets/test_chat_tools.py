"""The ChatPanel's Code and Export popovers (nvnb.widgets.chat_tools), on a real local server:
the code is the request the server received, the cells are the conversation, the key is in
neither, and the one record of a request serves the Code view, ``last_call()`` and the log."""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest

from nvnb.calls import log as calllog
from nvnb.calls.record import last_call
from nvnb.session import Session
from nvnb.testing import AUTH_KEY
from nvnb.widgets import ChatPanel

STEERLM = "nvidia/nemotron-steerlm-8b"


@pytest.fixture
def panel(nvnb_auth_server: Any) -> ChatPanel:
    session = Session(STEERLM, base_url=nvnb_auth_server.base_url, api_key=AUTH_KEY)
    session.labels = {"creativity": 6}
    session.temperature = 0.4
    return ChatPanel(session=session, live=False)


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def test_before_any_question_the_code_is_what_the_settings_would_send(panel: ChatPanel) -> None:
    panel.code._on_front_end_msg(panel.code, {"type": "open"}, [])
    view = panel.code.view
    assert view["sent"] is False and view["model"] == STEERLM
    assert "ChatNVIDIA(" in view["python"] and "Your question" in view["python"]
    assert json.loads(view["body"])["messages"][-1] == {
        "role": "assistant",
        "labels": {"creativity": 6},
    }


def test_the_code_view_shows_the_last_request_exactly_and_never_the_key(
    panel: ChatPanel, nvnb_auth_server: Any
) -> None:
    panel.code._on_front_end_msg(panel.code, {"type": "open"}, [])
    panel.send("What is a GPU?").join(30)
    view = panel.code.view  # refreshed when the answer came, the popover being open
    assert view["sent"] is True
    assert json.loads(view["body"]) == chat_bodies(nvnb_auth_server)[-1]
    answer = panel.session.last_answer
    assert f"request id: {answer.request_id}" in view["headers"]
    assert '-H "Authorization: Bearer $NVIDIA_API_KEY"' in view["curl"]
    assert "%%nvchat -m nvidia/nemotron-steerlm-8b" in view["nvchat"]
    assert AUTH_KEY not in json.dumps(view) and AUTH_KEY not in json.dumps(panel.get_state())
    # closed, it no longer follows the answers
    panel.code._on_front_end_msg(panel.code, {"type": "close"}, [])
    panel.send("And a CPU?").join(30)
    assert "What is a GPU?" in panel.code.view["body"]


def test_one_record_serves_the_code_view_last_call_and_the_log(
    panel: ChatPanel, tmp_path: Any
) -> None:
    calllog.set_path(tmp_path / "calls.sqlite")
    try:
        panel.send("Count to three").join(30)
        call = panel.session.last_answer.call
        assert call is last_call("chat/completions")  # the very object the log was given
        assert call.body == json.loads(panel.code.code().body)
        (row,) = [r for r in calllog.log() if r["request_id"] == call.request_id]
        assert row["model"] == STEERLM and row["text"] == panel.session.last_answer.text
    finally:
        calllog.reset_path()


def test_export_sends_the_conversation_as_cells_with_provenance_and_no_key(
    panel: ChatPanel, sent: Any
) -> None:
    panel.send("Hello").join(30)
    panel.send("Tell me more").join(30)
    assert panel.exporter.turns == 2
    messages = sent(panel.exporter)
    panel.exporter._on_front_end_msg(panel.exporter, {"type": "cells", "nonce": "n-1"}, [])
    (reply,) = messages.messages
    assert reply["type"] == "cells" and reply["nonce"] == "n-1"
    assert reply["anchor"] == panel.model_id  # the page finds the panel's cell by it
    kinds = [c["cell_type"] for c in reply["cells"]]
    assert kinds == ["markdown"] + ["markdown", "code", "markdown"] * 2
    first_code = reply["cells"][2]
    assert "ChatNVIDIA(" in first_code["source"] and '"Hello"' in first_code["source"]
    assert first_code["outputs"] == [] and "id" not in first_code
    meta = first_code["metadata"]["nvnb"]
    assert meta["model"] == STEERLM and meta["labels"] == {"creativity": 6}
    assert meta["parameters"]["temperature"] == 0.4 and meta["request_id"]
    assert reply["filename"].endswith(".ipynb")
    notebook = nbformat.reads(reply["notebook"], as_version=4)
    nbformat.validate(notebook)
    assert [c.source for c in notebook.cells] == [c["source"] for c in reply["cells"]]
    assert AUTH_KEY not in json.dumps(reply)


def test_markdown_export_says_where_and_a_failure_is_said_not_raised(
    panel: ChatPanel, sent: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    panel.send("Hello").join(30)
    messages = sent(panel.exporter)
    panel.exporter._on_front_end_msg(panel.exporter, {"type": "markdown", "nonce": "m"}, [])
    (saved,) = tmp_path.glob("conversation-*.md")
    assert messages.messages[-1] == {
        "nonce": "m",
        "type": "saved",
        "text": f"Saved the conversation to {saved}",
    }

    def broken() -> Any:
        raise OSError("disk full")

    panel.exporter._save_markdown = broken
    panel.exporter._on_front_end_msg(panel.exporter, {"type": "markdown", "nonce": "m2"}, [])
    assert messages.messages[-1] == {
        "nonce": "m2",
        "type": "error",
        "text": "Could not export the conversation: disk full",
    }
    panel.exporter._on_front_end_msg(panel.exporter, {"type": "what"}, [])
    assert len(messages.messages) == 2  # an unknown message gets no reply


def test_insert_code_puts_the_chosen_form_in_the_next_cell(panel: ChatPanel) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.rl_next_input = None
    panel.send("Hi").join(30)
    panel.insert_code("curl")
    assert shell.rl_next_input.startswith("%%bash\ncurl -sS -N -X POST ")
    panel.insert_code("body")
    assert json.loads(shell.rl_next_input.removeprefix("body = "))["model"] == STEERLM
    with pytest.raises(ValueError, match="form must be one of"):
        panel.insert_code("perl")
