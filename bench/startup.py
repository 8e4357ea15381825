"""4. Start-up: ``python -c "import nvnb"`` and ``%load_ext nvnb`` in a fresh IPython.

Against importing the official package, and against ``%load_ext jupyter_ai_magics`` (jupyter-ai's
magics need LangChain < 0.4, so they live in their own venv, ``bench/.venv-jupyter-ai``, that the
first full run makes; quick mode skips that row). Every sample is a new process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness import Row, Table, fmt, signed
from bench.servers import ROOT, bench_env

if TYPE_CHECKING:
    from bench.cli import Context

JUPYTER_AI_VENV = ROOT / "bench" / ".venv-jupyter-ai"
JUPYTER_AI_REQUIREMENTS = ("jupyter-ai-magics==2.31.7", "langchain<0.4", "ipython")
LOAD_EXT_TARGET = 0.150
HEAVY = (
    "langchain_core",
    "langchain",
    "PIL",
    "httpx",
    "ipywidgets",
    "anywidget",
    "requests",
    "aiohttp",
    "pydantic",
)

_LOAD_EXT_CHILD = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
t0 = time.perf_counter()
shell.run_line_magic("load_ext", sys.argv[1])
seconds = time.perf_counter() - t0
new = {m.split(".")[0] for m in set(sys.modules) - before}
magics = shell.magics_manager.magics
print(json.dumps({"seconds": seconds, "modules": len(set(sys.modules) - before),
                  "heavy": sorted(new & set(sys.argv[2].split(","))),
                  "registered": sys.argv[3] in magics["cell"] or sys.argv[3] in magics["line"]}))
"""


def _env() -> dict[str, str]:
    # Bytecode caches on, as after a pip install (this machine may set PYTHONDONTWRITEBYTECODE,
    # which would make every import of the editable nvnb compile its sources again).
    return bench_env(PYTHONDONTWRITEBYTECODE="")


def _wall(python: str, code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [python, "-c", code],
        check=True,
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - t0


def _load_ext(python: str, extension: str, magic: str) -> dict[str, object]:
    out = subprocess.run(
        [python, "-c", _LOAD_EXT_CHILD, extension, ",".join(HEAVY), magic],
        check=True,
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def jupyter_ai_python(log: list[str]) -> Path:
    """The venv with jupyter-ai's magics, made (once) if missing."""
    python = JUPYTER_AI_VENV / "bin" / "python"
    stamp = JUPYTER_AI_VENV / ".bench-installed"
    if stamp.exists() and stamp.read_text() == "\n".join(JUPYTER_AI_REQUIREMENTS):
        return python
    print("  making bench/.venv-jupyter-ai (first full run only) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(JUPYTER_AI_VENV)], check=True)
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *JUPYTER_AI_REQUIREMENTS,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        raise OSError(f"pip install failed: {done.stderr.strip()[-500:]}")
    stamp.write_text("\n".join(JUPYTER_AI_REQUIREMENTS))
    log.append("made bench/.venv-jupyter-ai: " + " ".join(JUPYTER_AI_REQUIREMENTS))
    return python


def _version(python: Path, dist: str) -> str:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, importlib.metadata as m; print(m.version(sys.argv[1]))",
            dist,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def run(ctx: Context) -> list[Table]:
    repeats = ctx.n(3, 1)
    python = sys.executable
    imports = Table(
        "4a",
        "Start-up: a new Python process that imports the package",
        "wall",
        "s",
        extra_columns=["above bare python"],
    )
    codes = {
        'python -c "pass" (bare interpreter)': ("pass", "floor"),
        'python -c "import nvnb"': ("import nvnb", "nvnb"),
        'python -c "from nvnb import ChatNVIDIA"': ("from nvnb import ChatNVIDIA", ""),
        'python -c "import langchain_nvidia_ai_endpoints"': (
            "import langchain_nvidia_ai_endpoints",
            "official",
        ),
    }
    samples: dict[str, list[float]] = {label: [] for label in codes}
    for code, _ in codes.values():  # warm the disk cache once each
        _wall(python, code)
    for r in range(repeats):
        labels = list(codes)
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            samples[label].append(_wall(python, codes[label][0]))
    for label, (_, role) in codes.items():
        imports.rows.append(Row.of(label, samples[label], role))  # type: ignore[arg-type]
    floor = imports.role("floor")
    for row in imports.rows:
        if floor and row is not floor and row.value is not None:
            row.extras["above bare python"] = signed(row.value - floor.value)  # type: ignore[operator]
    imports.notes.append(
        f"{repeats} fresh processes per row, after one untimed run each (which "
        "leaves bytecode caches, as a pip install does)"
    )

    load = Table(
        "4b",
        "Start-up: `%load_ext` in a fresh IPython",
        "load_ext",
        "s",
        extra_columns=["modules imported", "heavy imports", "magic registered"],
    )
    notes: list[str] = []
    contenders: list[tuple[str, str, str, str]] = [
        ("%load_ext nvnb", python, "nvnb", "nvchat"),
    ]
    if ctx.quick:
        skipped = Row(
            "%load_ext jupyter_ai_magics",
            role="peer",
            skipped="quick mode (needs its own venv; the full run makes it)",
        )
    else:
        skipped = None
        try:
            jai = jupyter_ai_python(notes)
            contenders.append(
                (
                    f"%load_ext jupyter_ai_magics {_version(jai, 'jupyter-ai-magics')}",
                    str(jai),
                    "jupyter_ai_magics",
                    "ai",
                )
            )
        except (subprocess.SubprocessError, OSError) as exc:
            skipped = Row(
                "%load_ext jupyter_ai_magics",
                role="peer",
                error=f"could not make its venv: {exc}"[:300],
            )
    for label, py, extension, magic in contenders:
        _load_ext(py, extension, magic)  # warm
        found = [_load_ext(py, extension, magic) for _ in range(repeats)]
        row = Row.of(
            label,
            [float(f["seconds"]) for f in found],  # type: ignore[arg-type]
            "nvnb" if extension == "nvnb" else "peer",
        )
        last = found[-1]
        row.extras["modules imported"] = str(last["modules"])
        row.extras["heavy imports"] = ", ".join(last["heavy"]) or "none"  # type: ignore[arg-type]
        row.extras["magic registered"] = f"%{magic}: {'yes' if last['registered'] else 'NO'}"
        if not last["registered"]:
            row.error = f"%{magic} was not registered"
        load.rows.append(row)
    if skipped is not None:
        load.rows.append(skipped)
    load.notes.append(
        f"time of the load_ext call alone, in a new process each ({repeats} per "
        f"row); target for nvnb: under {LOAD_EXT_TARGET * 1000:.0f} ms (issue 5); "
        f"heavy imports checked: {', '.join(HEAVY)}"
    )
    load.notes += notes
    _headline(ctx, imports, load)
    return [imports, load]


def _headline(ctx: Context, imports: Table, load: Table) -> None:
    ours, theirs = imports.find('python -c "import nvnb"'), imports.role("official")
    if ours and theirs and ours.value and theirs.value:
        ctx.headlines.append(
            f"start-up: `import nvnb` {fmt(ours.value, 's')} vs importing the official package "
            f"{fmt(theirs.value, 's')} ({theirs.value / ours.value:.1f}×)"
        )
    ext, jai = load.find("%load_ext nvnb"), load.find("%load_ext jupyter_ai")
    if ext and ext.value:
        verdict = "within" if ext.value < LOAD_EXT_TARGET else "OVER"
        text = (
            f"`%load_ext nvnb` {fmt(ext.value, 's')} ({verdict} the 150 ms target; heavy "
            f"imports: {ext.extras.get('heavy imports', '?')})"
        )
        if jai and jai.value:
            text += (
                f" vs `%load_ext jupyter_ai_magics` {fmt(jai.value, 's')} "
                f"({jai.value / ext.value:.0f}×)"
            )
        ctx.headlines.append(text)
