"""Front-end files: every widget's ES module and CSS is found in the repo and inside the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nvnb.widgets import _base
from nvnb.widgets.chat_panel import _ChatHistory, _Composer
from nvnb.widgets.image_drop import ImageDrop
from nvnb.widgets.model_picker import ModelPicker
from nvnb.widgets.steer_sliders import SteerSliders
from nvnb.widgets.stream_pane import StreamPane

REPO = Path(__file__).resolve().parents[2]
WIDGETS = [ModelPicker, SteerSliders, ImageDrop, StreamPane, _ChatHistory, _Composer]
# Each widget's module, and the stylesheets its _css is made of.
ASSETS = {
    "ModelPicker": ("model_picker.js", ["nvnb.css", "model_picker.css"]),
    "SteerSliders": ("steer_sliders.js", ["nvnb.css", "steer_sliders.css"]),
    "ImageDrop": ("image_drop.js", ["nvnb.css", "image_drop.css"]),
    "StreamPane": ("stream_pane.js", ["nvnb.css", "stream_pane.css"]),
    "_ChatHistory": ("chat_history.js", ["nvnb.css", "chat_panel.css", "stream_pane.css"]),
    "_Composer": ("chat_composer.js", ["nvnb.css", "chat_panel.css"]),
}


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: w.__name__)
def test_every_widget_loads_its_module_and_styles(widget):
    esm_name, css_names = ASSETS[widget.__name__]
    w = widget() if widget in (_ChatHistory, _Composer) else widget(session=_session())
    state = w.get_state()
    assert state["_esm"] == (REPO / "js" / esm_name).read_text()
    assert re.search(
        r"export (default \{ render \}|\{\s*\w+_default as default\s*\})", state["_esm"]
    )
    for name in css_names:
        assert (REPO / "js" / name).read_text() in state["_css"]


def _session():
    from nvnb.session import Session

    return Session()


def test_the_wheel_carries_every_widget_asset_and_no_build_tooling(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("nvnb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for esm, css in ASSETS.values():
        for name in [esm, *css]:
            assert f"nvnb/static/{name}" in names, name
    assert not any("node_modules" in n for n in names)

    # Installed from the wheel, the widgets find their files in nvnb/static/.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nvnb.widgets._base import asset; print(asset('stream_pane.js'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(target)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == str(target / "nvnb" / "static" / "stream_pane.js")


def test_the_editable_install_finds_the_files_in_js():
    assert _base.asset("model_picker.js") == REPO / "js" / "model_picker.js"


def test_the_bundled_modules_are_built_from_their_sources():
    for name in ("stream_pane", "chat_history"):
        built = (REPO / "js" / f"{name}.js").read_text()
        assert built.startswith(f"// Built from js/src/{name}.js")
        assert "function sanitize(" in built and "DOMParser" in built
