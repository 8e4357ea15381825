"""The ``nvnb`` command's own parts: models table, tutorials copy, argument checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nvnb import cli
from nvnb.catalog.table import format_table, markdown_table, matching_models


def test_models_filter_by_text_and_by_type() -> None:
    assert all(
        "mixtral" in m.id or any("mixtral" in a for a in m.aliases)
        for m in matching_models("mixtral")
    )
    assert {m.type for m in matching_models("vision")} == {"vlm", "nv-vlm"}
    assert [m.id for m in matching_models("qa")] == sorted(m.id for m in matching_models("qa"))
    assert not any(m.type == "embedding" for m in matching_models(""))
    assert any(m.type == "embedding" for m in matching_models("", include_all=True))


def test_the_models_table_has_a_header_and_one_line_per_model() -> None:
    models = matching_models("steerlm")
    lines = format_table(models).splitlines()
    assert lines[0].split()[:3] == ["model", "type", "capabilities"]
    assert len(lines) == 2 + len(models)
    assert "nvidia/nemotron-steerlm-8b" in lines[2] and "labels" in lines[2]
    assert markdown_table(models).count("\n") == 1 + len(models)


def test_nvnb_models_runs_as_a_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nvnb", "models", "kosmos"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "microsoft/kosmos-2" in out


def test_no_matching_model_says_so() -> None:
    assert format_table(matching_models("no-such-model-anywhere")) == "no model matches"


def test_bad_labels_are_refused_with_a_message() -> None:
    with pytest.raises(SystemExit, match="name=integer"):
        cli._parse_labels("creativity=high")
    assert cli._parse_labels("creativity=9, verbosity=0") == {"creativity": 9, "verbosity": 0}


def test_tutorials_are_copied_and_edits_kept(tmp_path: Path) -> None:
    source = cli.tutorials_source()
    target = tmp_path / "tut"
    cli.copy_tutorials(target)
    names = sorted(p.name for p in source.glob("*.ipynb"))
    assert names and sorted(p.name for p in target.glob("*.ipynb")) == names
    assert (target / "data" / "shapes.png").is_file()
    edited = target / names[0]
    edited.write_text("{}")
    cli.copy_tutorials(target)
    assert edited.read_text() == "{}"


def test_lab_opens_the_tutorials_and_passes_options_through(tmp_path: Path) -> None:
    command = cli.lab_command(port=8899, no_browser=True, extra=["--ServerApp.token="])
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert f"--ServerApp.root_dir={cli.tutorials_source()}" in command
    assert "--port=8899" in command and "--no-browser" in command
    assert command[-1] == "--ServerApp.token="
    fresh = tmp_path / "mine"
    assert f"--ServerApp.root_dir={fresh}" in cli.lab_command(str(fresh))
    assert (fresh / "01_quickstart.ipynb").is_file()


def test_nvnb_lab_serves_the_tutorials_without_setting_a_base_url(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL")}
    env |= {
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nvnb",
            "lab",
            "--no-browser",
            "--port",
            str(port),
            "--ServerApp.token=",
            "--ServerApp.ip=127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        listing = _wait_for_json(f"http://127.0.0.1:{port}/api/contents", lab)
        names = {item["name"] for item in listing["content"]}
        assert "01_quickstart.ipynb" in names and "data" in names
        assert "NVIDIA_BASE_URL" not in env
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_json(url: str, process: subprocess.Popen[bytes]) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer at {url}")


def test_nvnb_chat_streams_an_answer_to_the_terminal(nvnb_server) -> None:
    env = dict(os.environ) | {"NVIDIA_BASE_URL": nvnb_server.base_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nvnb",
            "chat",
            "Hello there",
            "-m",
            "nemotron_steerlm_8b",
            "--labels",
            "verbosity=0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "local nvnb server" in result.stdout and "Hello there" in result.stdout
    body = nvnb_server.requests[-1].json
    assert body["stream"] is True
    assert body["messages"][-1] == {"role": "assistant", "labels": {"verbosity": 0}}


def test_nvnb_chat_reports_errors_in_one_line(nvnb_server) -> None:
    env = dict(os.environ) | {"NVIDIA_BASE_URL": nvnb_server.base_url}
    result = subprocess.run(
        [sys.executable, "-m", "nvnb", "chat", "Hi", "--labels", "creativity=12"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "creativity" in result.stderr and "Traceback" not in result.stderr
