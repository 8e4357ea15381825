"""The ChatPanel's saved transcript: displayed after the panel, updated in place, inert, small.

Displays go through IPython's real display machinery (an InteractiveShell whose publisher is
recorded); the executed-notebook test runs a real kernel through nbclient, which applies
``update_display_data`` to the stored outputs exactly as a saved notebook keeps them; nbconvert
then renders that notebook as a viewer without a kernel would.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from nbclient import NotebookClient
from PIL import Image

from nvnb.session import Session
from nvnb.widgets import ChatPanel
from nvnb.widgets.saved_transcript import CLASS, transcript_bundle

KEY = "nvapi-test-sentinel-key-0123456789"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
XSS = json.loads((Path(__file__).parents[1] / "data" / "xss_vectors.json").read_text())


class Published:
    """What IPython publishes (display_data and update_display_data), in order."""

    def __init__(self, shell: InteractiveShell, monkeypatch: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        monkeypatch.setattr(shell.display_pub, "publish", self._record)

    def _record(self, data: Any, metadata: Any = None, *, transient: Any = None, update=False):
        self.calls.append({"data": data, "transient": transient or {}, "update": update})

    def shown(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if not c["update"]]

    def updates(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["update"]]


@pytest.fixture
def published(monkeypatch: Any) -> Published:
    return Published(InteractiveShell.instance(), monkeypatch)


def _png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_panel_is_followed_by_its_transcript_with_a_display_id(nvnb_server, published):
    panel = ChatPanel(session=Session(base_url=nvnb_server.base_url), live=False)
    display(panel)
    widget, transcript = published.shown()
    assert WIDGET_VIEW in widget["data"] and widget["data"]["text/plain"].startswith("ChatPanel(")
    assert transcript["transient"]["display_id"]
    text = transcript["data"]["text/plain"]
    assert text.startswith("Saved copy of a ChatPanel conversation (model meta/llama-3.1-8b-in")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)  # when it was saved
    assert "No questions yet." in text
    md = transcript["data"]["text/markdown"]
    assert md.startswith(f'<div class="{CLASS}" ') and md.rstrip().endswith("</div>")
    assert "*Saved copy of a ChatPanel conversation*" in md


def test_each_finished_turn_edit_retry_and_clear_update_the_transcript(nvnb_server, published):
    panel = ChatPanel(session=Session(base_url=nvnb_server.base_url), live=False)
    display(panel)
    display_id = published.shown()[1]["transient"]["display_id"]

    def last() -> dict[str, str]:
        update = published.updates()[-1]
        assert update["transient"]["display_id"] == display_id
        return update["data"]

    panel.send("First question about **tensors**").join(30)
    md, text = last()["text/markdown"], last()["text/plain"]
    assert "**You**\n\nFirst question about **tensors**" in md  # Markdown kept
    assert "**`meta/llama-3.1-8b-instruct`**\n\nThis is the local nvnb server" in md
    assert "You:\nFirst question about **tensors**" in text
    assert "\n\nmeta/llama-3.1-8b-instruct:\nThis is the local nvnb server" in text
    answer = panel.session.history[-1].content
    assert answer in text

    count = len(published.updates())
    panel.resend(0, "An edited question").join(30)
    assert len(published.updates()) > count
    assert "An edited question" in last()["text/plain"]
    assert "First question" not in last()["text/plain"]

    count = len(published.updates())
    panel.regenerate().join(30)  # the same words from the deterministic server: no resend
    assert "An edited question" in last()["text/plain"]

    panel.clear()
    assert "No questions yet." in last()["text/plain"]
    assert "An edited question" not in last()["text/markdown"]


def test_a_failed_question_then_its_retry_show_in_the_transcript(nvnb_server, published):
    fault = {"X-NVNB-Fault": "status=500;times=1;id=transcript"}
    session = Session("meta/llama-3.1-8b-instruct", base_url=nvnb_server.base_url, max_retries=0,
                      default_headers=fault)  # fmt: skip
    panel = ChatPanel(session=session, live=False)
    display(panel)
    panel.send("Kept after a failure").join(30)
    assert panel.composer.failed == "Kept after a failure"
    panel.send(panel.composer.failed).join(30)  # Retry
    text = published.updates()[-1]["data"]["text/plain"]
    assert text.count("Kept after a failure") >= 1 and "This is the local nvnb server" in text


def test_an_unchanged_conversation_is_not_sent_again(nvnb_server, published):
    panel = ChatPanel(session=Session(base_url=nvnb_server.base_url), live=False)
    display(panel)
    panel.send("Once").join(30)
    count = len(published.updates())
    panel.session.model = panel.session.model  # no change to what the transcript shows
    panel._on_history()
    assert len(published.updates()) == count


def test_images_are_counted_not_embedded_and_the_key_never_appears(nvnb_server, published):
    session = Session("meta/llama-3.2-11b-vision-instruct", base_url=nvnb_server.base_url,
                      api_key=KEY)  # fmt: skip
    panel = ChatPanel(session=session, live=False)
    display(panel)
    image = _png()
    session.ask("What is in this picture?", images=[image], chat=True)
    panel._on_history()
    data = published.updates()[-1]["data"]
    dumped = json.dumps([c["data"] for c in published.calls], default=str)
    assert KEY not in dumped and "nvapi-" not in dumped
    assert "base64" not in json.dumps(data) and image[40:80] not in dumped
    assert "You (1 image):" in data["text/plain"] and "*(1 image)*" in data["text/markdown"]
    assert len(json.dumps(data)) < 4000


def test_model_text_is_inert_in_the_transcript_against_public_xss_vectors():
    vectors = XSS["h5sc"] + XSS["owasp"]
    session = Session()
    from nvnb.answers import Answer, Turn

    turns = []
    for v in vectors:
        turns += [Turn("user", v), Turn("assistant", v, answer=Answer(text=v, model="m<b>"))]
    session.history = turns
    md = transcript_bundle(session)["text/markdown"]
    body = md.split("</style>", 1)[1].rsplit("</div>", 1)[0]
    # Outside code, no tag can open (inert_markdown's promise), whatever the vector.
    prose = re.sub(r"```.*?```", "", body, flags=re.S)
    prose = re.sub(r"<code>[^<]*</code>", "", prose)
    assert "<" not in prose
    assert "`m&lt;b>`" in body  # the model's name is made inert too


def test_a_saved_notebook_keeps_the_conversation_and_nbconvert_shows_it(
    nvnb_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    cells = [
        "import nvnb\npanel = nvnb.ChatPanel(live=False)\npanel",
        "panel.send('Hello saved transcript').join(60)\nassert panel.pane.status == 'done'",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    saved = nbformat.writes(nb)
    assert KEY not in saved and "nvapi-" not in saved
    widget, transcript = nb.cells[0].outputs
    assert WIDGET_VIEW in widget["data"]
    text = transcript["data"]["text/plain"]
    assert "You:\nHello saved transcript" in text and "This is the local nvnb server" in text
    assert "Hello saved transcript" in transcript["data"]["text/markdown"]

    path = tmp_path / "saved.ipynb"
    path.write_text(saved, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
                   check=True, capture_output=True)  # fmt: skip
    page = (tmp_path / "saved.html").read_text(encoding="utf-8")
    assert f'<div class="{CLASS}" ' in page
    assert "Hello saved transcript" in page and "This is the local nvnb server" in page
    assert "Saved copy of a ChatPanel conversation" in page
