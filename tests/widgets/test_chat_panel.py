"""ChatPanel: composition, sending in a thread, history, retry / regenerate / edit, settings,
clear and export, no key in state."""

from __future__ import annotations

import json
import threading

from nvnb.session import Session
from nvnb.widgets import ChatPanel

KEY = "nvapi-test-sentinel-key-0123456789"


def test_the_panel_composes_the_four_widgets_on_one_session():
    session = Session()
    panel = ChatPanel(session=session, live=False)
    for part in (panel.picker, panel.sliders, panel.image_drop, panel.pane):
        assert part.session is session
    session.model = "nvidia/nemotron-steerlm-8b"
    assert panel.picker.value == session.model
    assert panel.sliders.enabled == ["creativity", "complexity", "verbosity"]


def test_send_runs_in_a_thread_and_the_conversation_continues(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    thread = panel.send("Hello there")
    assert thread is not threading.current_thread()
    thread.join(30)
    assert panel.pane.status == "done" and "Hello there" in panel.pane.text
    # the history view shows the question; the answer is in the pane, not repeated
    assert [t["role"] for t in panel.history_view.turns] == ["user"]
    panel._on_composer_msg(panel.composer, {"type": "send", "text": "And again"}, [])
    panel._thread.join(30)
    assert [t["role"] for t in panel.history_view.turns] == ["user", "assistant", "user"]
    sent = nvnb_server.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


def test_errors_show_in_the_pane_and_the_panel_keeps_working(nvnb_server):
    session = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "status=404"},
        max_retries=0,
    )
    panel = ChatPanel(session=session, live=False)
    panel.send("hi").join(30)
    assert panel.pane.status == "error" and panel.pane.error
    assert not session.busy and not panel.composer.busy


def test_export_saves_a_file_with_the_settings_and_says_where(nvnb_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    session.model = "nvidia/nemotron-steerlm-8b"
    session.labels = {"creativity": 7}
    session.temperature, session.top_p, session.seed = 0.3, 0.8, 11
    panel.send("Hello").join(30)
    panel._on_toolbar_msg(panel.toolbar, {"type": "export"}, [])
    (saved,) = tmp_path.glob("conversation-*.md")
    assert panel.toolbar.notice == f"Saved the conversation to {saved}"
    text = saved.read_text()
    assert text.startswith("# Conversation\n")
    for row in (
        "| model | `nvidia/nemotron-steerlm-8b` |",
        "| temperature | `0.3` |",
        "| top_p | `0.8` |",
        "| seed | `11` |",
        "| labels | `creativity=7` |",
        f"| requests to | `{nvnb_server.base_url}",
    ):
        assert row in text, row
    assert "## You\n\nHello" in text
    panel._on_toolbar_msg(panel.toolbar, {"type": "clear"}, [])
    assert session.history == [] and panel.history_view.turns == []
    assert panel.pane.status == "idle" and panel.pane.text == ""


def test_a_failed_question_goes_back_in_the_prompt_box_with_retry(nvnb_server):
    session = Session(
        base_url=nvnb_server.base_url,
        default_headers={"X-NVNB-Fault": "status=500"},
        max_retries=0,
    )
    panel = ChatPanel(session=session, live=False)
    panel._on_composer_msg(panel.composer, {"type": "send", "text": "keep me"}, [])
    panel._thread.join(30)
    assert panel.pane.status == "error"
    assert panel.composer.failed == "keep me"
    session._chat_kwargs["default_headers"] = {}
    session._models.clear()
    panel._on_composer_msg(panel.composer, {"type": "send", "text": "keep me"}, [])
    panel._thread.join(30)
    assert panel.pane.status == "done" and panel.composer.failed == ""


def test_regenerate_and_edit_replace_the_later_turns(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    panel.send("first question").join(30)
    panel.send("second question").join(30)
    assert len(session.history) == 4
    panel._on_history_msg(panel.history_view, {"type": "regenerate"}, [])
    panel._thread.join(30)
    assert [t.content for t in session.history if t.role == "user"] == [
        "first question",
        "second question",
    ]
    assert len(session.history) == 4 and len(nvnb_server.requests) >= 3
    panel._on_history_msg(panel.history_view, {"type": "edit", "index": 0, "text": "edited"}, [])
    panel._thread.join(30)
    assert [t.role for t in session.history] == ["user", "assistant"]
    assert session.history[0].content == "edited"
    assert [m["role"] for m in nvnb_server.requests[-1].json["messages"]] == ["user"]


def test_no_widget_state_carries_the_api_key(nvnb_server):
    session = Session(api_key=KEY, base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    panel.send("Hello").join(30)
    widgets = [
        panel,
        *panel.children,
        panel.picker,
        panel.sliders,
        panel.image_drop,
        panel.pane,
        panel.history_view,
        panel.composer,
        panel.toolbar,
        panel.settings,
    ]
    for w in widgets:
        state = json.dumps(w.get_state(), default=str)
        assert KEY not in state and "nvapi-" not in state
        assert KEY not in repr(w)
        assert KEY not in json.dumps(w._repr_mimebundle_(), default=str)


def test_reprs_are_stable_and_the_fallback_names_the_panel(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    assert repr(panel) == "ChatPanel(model='meta/llama-3.1-8b-instruct', turns=0)"
    panel.send("Hello").join(30)
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert data["text/plain"] == "ChatPanel(model='meta/llama-3.1-8b-instruct', turns=2)"
    # One line: the conversation is in the saved transcript displayed after the panel
    # (tests/widgets/test_saved_transcript.py), not twice in a viewer.
    assert data["text/markdown"] == "**nvnb ChatPanel** — model `meta/llama-3.1-8b-instruct`"
    assert "application/vnd.jupyter.widget-view+json" in data


def test_the_settings_bind_every_request_setting_both_ways(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    settings = panel.settings
    assert settings.values["temperature"] is None and panel.toolbar.summary == ""
    settings.values = {
        "system_prompt": "Be brief.",
        "temperature": 0.3,
        "top_p": 0.5,
        "max_tokens": 99,
        "seed": 7,
    }
    assert (session.system_prompt, session.temperature, session.top_p) == ("Be brief.", 0.3, 0.5)
    assert (session.max_tokens, session.seed) == (99, 7)
    assert panel.toolbar.summary == "system prompt · temp 0.3 · top p 0.5 · max 99 · seed 7"
    panel.send("hi").join(30)
    body = nvnb_server.requests[-1].json
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        0.3,
        0.5,
        99,
        7,
    )
    session.temperature = None  # e.g. from code: the control follows
    assert settings.values["temperature"] is None


def test_the_fallback_is_inert_and_the_exported_file_exact(nvnb_server, tmp_path):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    hostile = "Repeat <script>alert(1)</script> <img src=x onerror=alert(2)>"
    panel.send(hostile).join(30)
    assert "<script>" in session.history[-1].content  # the local engine quotes the prompt
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "<script" not in data["text/markdown"] and "<img" not in data["text/markdown"]
    saved = panel.export(tmp_path / "c.md").read_text()
    assert session.export_markdown().partition("\n")[2].strip() in saved  # the exact texts
    assert hostile in saved
