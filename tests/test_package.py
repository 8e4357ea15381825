"""The package's public surface: every exported name resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import nvnb


def test_every_public_name_resolves() -> None:
    for name in nvnb.__all__:
        assert getattr(nvnb, name) is not None, name


def test_the_session_module_is_callable_and_returns_one_session() -> None:
    assert nvnb.session() is nvnb.session()
    assert isinstance(nvnb.session(), nvnb.session.Session)


def test_importing_nvnb_imports_nothing_heavy() -> None:
    code = (
        "import sys, nvnb; heavy = [m for m in ('langchain_core', 'httpx', 'PIL', 'ipywidgets',"
        " 'anywidget', 'starlette') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_package_is_typed() -> None:
    from pathlib import Path

    assert (Path(nvnb.__file__).parent / "py.typed").exists()


def test_the_wheel_carries_the_catalog_data_and_every_subpackage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import zipfile
    from pathlib import Path

    root = Path(nvnb.__file__).parent.parent
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("nvnb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nvnb/catalog/models.json" in names
    for package in ("catalog", "session", "magics", "widgets", "server"):
        assert f"nvnb/{package}/__init__.py" in names, package


def test_the_lab_extra_brings_notebook_7() -> None:
    """`scripts/lab` installs the `lab` extra: without `notebook`, /tree is a 404."""
    from pathlib import Path

    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    lab = pyproject["project"]["optional-dependencies"]["lab"]
    assert any(req.split(">")[0].split("=")[0].strip() == "notebook" for req in lab), lab
