"""The front end: one bundle (nvnb/static/nvnb.js) built from js/src/, loaded by every widget,
shipped in the wheel without build tooling, and identical to a fresh build of its sources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nvnb.widgets import _base
from nvnb.widgets.arena import Arena
from nvnb.widgets.chat_parts import _ChatHistory, _Composer, _Settings, _Toolbar
from nvnb.widgets.image_drop import ImageDrop
from nvnb.widgets.model_picker import ModelPicker
from nvnb.widgets.steer_sliders import SteerSliders
from nvnb.widgets.stream_pane import StreamPane

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "nvnb" / "static" / "nvnb.js"
SRC = REPO / "js" / "src"
DEPS = Path(
    os.environ.get("NVNB_JS_DEPS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nvnb-js"
)


def _session():
    from nvnb.session import Session

    return Session()


def _widgets():
    s = _session()
    return [
        ModelPicker(session=s, live=False),
        SteerSliders(session=s),
        ImageDrop(session=s),
        StreamPane(session=s),
        _ChatHistory(),
        _Composer(),
        _Toolbar(),
        _Settings(s),
        Arena(models=["meta/llama-3.1-8b-instruct", "meta/llama-3.3-70b-instruct"], session=s),
    ]


def test_every_widget_loads_the_one_bundle_and_names_a_view_it_has():
    bundle = BUNDLE.read_text()
    views = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)":', bundle))
    for w in _widgets():
        state = w.get_state()
        assert state["_esm"] == bundle, type(w).__name__
        assert state["_view"] in views, (type(w).__name__, state["_view"])
        # Styles are injected once per page by the bundle, not once per widget model.
        assert not state.get("_css"), type(w).__name__


def test_the_bundle_is_one_module_with_the_renderer_and_styles_once():
    bundle = BUNDLE.read_text()
    assert re.search(r"export\s*\{\s*[\w$]+ as default\s*\}", bundle)  # $ is a JS name character
    assert bundle.count("DOMParser") == 1  # one sanitiser
    assert bundle.count("nvnb-styles") == 1  # one stylesheet injector
    assert ".nvnb-panel" in bundle and ".nvnb-md pre" in bundle  # the CSS is inside
    # No build paths in what ships.
    for leak in ("node_modules", "/root/", "/home/", "js/src/views", str(REPO)):
        assert leak not in bundle, leak
    assert not list((REPO / "js").glob("*.js")), "hand-written sources live in js/src/ only"


def test_the_widgets_find_the_bundle_in_the_package():
    assert _base.BUNDLE == REPO / "nvnb" / "static" / "nvnb.js"
    assert sorted(p.name for p in (REPO / "nvnb" / "static").iterdir()) == ["nvnb.js"]


@pytest.mark.skipif(
    not (DEPS / "node_modules" / "esbuild").exists() or shutil.which("node") is None,
    reason="esbuild is not installed (js/src/build.sh installs it from npm)",
)
def test_the_committed_bundle_is_a_fresh_build_of_js_src(tmp_path):
    out = tmp_path / "nvnb.js"
    subprocess.run(
        ["node", str(SRC / "build.mjs"), "--out", str(out)],
        env={**os.environ, "NVNB_JS_DEPS": str(DEPS)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_text() == BUNDLE.read_text(), "run js/src/build.sh and commit nvnb/static"


def test_the_wheel_carries_the_bundle_and_no_build_tooling(tmp_path):
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
    assert "nvnb/static/nvnb.js" in names
    assert not any("node_modules" in n or n.endswith((".mjs", "package.json")) for n in names)
    assert not any(n.startswith("nvnb/static/") and n != "nvnb/static/nvnb.js" for n in names)

    # Installed from the wheel, the widgets load the bundle from nvnb/static/.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nvnb.widgets._base import BUNDLE; print(BUNDLE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(target)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == str(target / "nvnb" / "static" / "nvnb.js")
