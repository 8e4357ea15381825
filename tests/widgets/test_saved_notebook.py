"""A notebook executed by a real kernel (nbclient, widget state stored as nbconvert does).

Stable text/plain reprs, the last answer in text/markdown for viewers without a kernel, and no API
key anywhere in the saved file.
"""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

KEY = "nvapi-test-sentinel-key-0123456789"

CELLS = [
    "import nvnb\npanel = nvnb.ChatPanel(live=False)\npanel",
    "panel.send('Hello saved notebook').join(60)\nassert panel.pane.status == 'done'",
    "panel.pane",
    "from nvnb.widgets import StreamPane\npane = StreamPane()\n"
    "answer = nvnb.session().ask('Second question', sink=pane)\npane",
]


def test_an_executed_notebook_keeps_readable_answers_and_no_key(nvnb_server, tmp_path, monkeypatch):
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    saved = nbformat.writes(nb)
    assert KEY not in saved and "nvapi-" not in saved

    panel_out = nb.cells[0].outputs[0]["data"]
    assert panel_out["text/plain"] == "ChatPanel(model='meta/llama-3.1-8b-instruct', turns=0)"
    assert "application/vnd.jupyter.widget-view+json" in panel_out

    pane_out = nb.cells[2].outputs[0]["data"]
    assert pane_out["text/plain"].startswith("StreamPane(status='done', chars=")
    assert "Hello saved notebook" in pane_out["text/markdown"]
    assert pane_out["text/markdown"].startswith("This is the local nvnb server")

    second = nb.cells[3].outputs[0]["data"]
    assert "Second question" in second["text/markdown"]

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    texts = [m["state"].get("text", "") for m in state.values()]
    assert any("Second question" in t for t in texts)  # the final text is widget state too
