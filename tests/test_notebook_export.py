"""A conversation exported as a notebook: cells with provenance, code cells that reproduce each
turn (executed here against nvnb serve), and %%nvchat outputs carrying the same provenance."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import nvnb.session as session_module
from nvnb.notebook_export import export_notebook, provenance
from nvnb.session import Session

STEERLM = "nvidia/nemotron-steerlm-8b"
CHAT = "meta/llama-3.1-8b-instruct"


@pytest.fixture
def session(nvnb_server: Any, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    fresh = Session(base_url=str(nvnb_server), max_retries=0)
    monkeypatch.setattr(session_module, "_default", fresh)
    return fresh


def chat_bodies(server: Any) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if isinstance(r.json, dict) and "messages" in r.json]


def test_a_conversation_becomes_cells_with_provenance_and_code_that_asks_again(
    session: Session, nvnb_server: Any, tmp_path: Any
) -> None:
    session.system_prompt = "Be brief."
    first = session.ask("What is a GPU?", model=STEERLM, labels={"creativity": 7}, seed=3)
    second = session.ask("And a <b>TPU</b>?", chat=True, model=CHAT, temperature=0.1)
    sent = chat_bodies(nvnb_server)
    path = tmp_path / "chat.ipynb"
    export_notebook(session, path)
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    kinds = [c.cell_type for c in notebook.cells]
    assert kinds == ["markdown"] + ["markdown", "code", "markdown"] * 2
    q1, code1, a1, q2, code2, a2 = notebook.cells[1:]
    assert q1.source == "**You:** What is a GPU?"
    assert a1.source.startswith(f"**{STEERLM}:** ") and first.request_id in a1.source
    assert "<b>" not in q2.source  # prompt text is made inert in Markdown cells
    meta1 = q1.metadata["nvnb"]
    assert meta1 == code1.metadata["nvnb"] == a1.metadata["nvnb"]
    assert meta1["model"] == STEERLM and meta1["labels"] == {"creativity": 7}
    assert meta1["parameters"]["seed"] == 3 and meta1["request_id"] == first.request_id
    assert meta1["time"].endswith("+00:00")
    assert code2.metadata["nvnb"]["parameters"]["temperature"] == 0.1
    assert code2.metadata["nvnb"]["request_id"] == second.request_id
    assert a2.metadata["nvnb"]["model"] == CHAT

    # Each code cell, run on its own, sends exactly the request of its turn.
    nvnb_server.clear()
    env = {k: v for k, v in os.environ.items() if k != "NVIDIA_API_KEY"}
    for cell in (code1, code2):
        done = subprocess.run(
            [sys.executable, "-c", cell.source], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert chat_bodies(nvnb_server) == sent


def test_an_unanswered_question_is_kept_and_says_so(session: Session, nvnb_server: Any) -> None:
    from nvnb.session import Turn

    session.history = [Turn("user", "Still there?")]
    notebook = export_notebook(session)
    assert [c.source for c in notebook.cells[1:]] == ["**You:** Still there?", "*(no answer)*"]


def test_nvchat_outputs_carry_the_provenance_in_their_metadata(
    session: Session, nvnb_server: Any
) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    formatter = shell.display_formatter

    with capture_output():
        result = shell.run_cell(f"%%nvchat -m {CHAT} --seed 9 --no-widget\nHello")
    assert result.success, result.error_in_exec
    data, metadata = formatter.format(result.result)
    record = metadata["nvnb"]
    answer = session.last_answer
    assert record == provenance(answer)
    assert record["model"] == CHAT and record["parameters"]["seed"] == 9
    assert record["request_id"] == answer.request_id
    assert "text/markdown" in data and data["text/plain"]
