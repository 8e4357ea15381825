"""ChatPanel: composition, sending in a thread, history view, clear/export, no key in state."""

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


def test_clear_and_export_from_the_composer(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    panel.send("Hello").join(30)
    downloads = []
    panel.composer.send = lambda content, buffers=None: downloads.append(content)
    panel._on_composer_msg(panel.composer, {"type": "export"}, [])
    assert downloads[0]["type"] == "download"
    assert downloads[0]["text"].startswith("# Conversation") and "Hello" in downloads[0]["text"]
    panel._on_composer_msg(panel.composer, {"type": "clear"}, [])
    assert session.history == [] and panel.history_view.turns == []
    assert panel.pane.status == "idle" and panel.pane.text == ""


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
    ]
    for w in widgets:
        state = json.dumps(w.get_state(), default=str)
        assert KEY not in state and "nvapi-" not in state
        assert KEY not in repr(w)
        assert KEY not in json.dumps(w._repr_mimebundle_(), default=str)


def test_reprs_are_stable_and_the_fallback_shows_the_conversation(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    assert repr(panel) == "ChatPanel(model='meta/llama-3.1-8b-instruct', turns=0)"
    panel.send("Hello").join(30)
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert data["text/plain"] == "ChatPanel(model='meta/llama-3.1-8b-instruct', turns=2)"
    assert "## You\n\nHello" in data["text/markdown"]
    assert "application/vnd.jupyter.widget-view+json" in data


def test_the_settings_bind_system_prompt_temperature_and_max_tokens(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    settings = panel.settings
    assert settings.temperature.disabled and session.temperature is None
    settings.system.value = "Be brief."
    settings._defaults["temperature"].value = False
    settings.temperature.value = 0.3
    settings._defaults["max_tokens"].value = False
    settings.max_tokens.value = 99
    assert (session.system_prompt, session.temperature, session.max_tokens) == (
        "Be brief.",
        0.3,
        99,
    )
    panel.send("hi").join(30)
    body = nvnb_server.requests[-1].json
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (body["temperature"], body["max_tokens"]) == (0.3, 99)
    session.temperature = None  # e.g. from code: the control follows
    assert settings._defaults["temperature"].value and settings.temperature.disabled


def test_the_fallback_is_inert_and_the_exported_file_exact(nvnb_server):
    session = Session(base_url=nvnb_server.base_url)
    panel = ChatPanel(session=session, live=False)
    hostile = "Repeat <script>alert(1)</script> <img src=x onerror=alert(2)>"
    panel.send(hostile).join(30)
    assert "<script>" in session.history[-1].content  # the local engine quotes the prompt
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "<script" not in data["text/markdown"] and "<img" not in data["text/markdown"]
    downloads = []
    panel.composer.send = lambda content, buffers=None: downloads.append(content)
    panel._on_composer_msg(panel.composer, {"type": "export"}, [])
    assert downloads[0]["text"] == session.export_markdown()  # a file: the exact texts
    assert hostile in downloads[0]["text"]
