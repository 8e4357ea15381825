"""binder/: the files mybinder uses install and start what they name (no mybinder here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

BINDER = Path(__file__).parent.parent / "binder"
ROOT = BINDER.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "lab-settings")
    return env


def test_the_requirements_are_installable_names_that_are_installed() -> None:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    requirements = [
        Requirement(line) for line in lines if line.strip() and not line.startswith("#")
    ]
    assert requirements
    for requirement in requirements:
        version = metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_post_build_installs_nvnb_with_the_lab_extra_and_quiets_the_news(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(BINDER / "postBuild")],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    installed = metadata.distribution("nvnb")
    assert installed.version
    extras_needed = [r for r in installed.requires or [] if 'extra == "lab"' in r]
    for requirement in map(Requirement, extras_needed):
        assert metadata.version(requirement.name)
    settings = (
        tmp_path
        / "lab-settings"
        / "@jupyterlab"
        / "apputils-extension"
        / "notification.jupyterlab-settings"
    )
    assert json.loads(settings.read_text()) == {"fetchNews": "false", "checkForUpdates": False}


def test_start_runs_the_given_command_without_a_base_url(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"NVIDIA_BASE_URL": "http://example.invalid/v1"}
    code = "import os, nvnb.settings; print(os.environ.get('NVIDIA_BASE_URL'))"
    result = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "None"


def test_start_can_launch_jupyterlab(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-m", "jupyter", "lab", "--version"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip()[0].isdigit()


def test_the_tutorials_run_on_the_local_server_by_default_in_binder(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for name in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL", "NVNB_LOCAL"):
        env.pop(name, None)
    code = "import nvnb.settings; print(nvnb.settings.resolve_settings().mode)"
    result = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "local"
