"""The ``nvnb`` command: ``serve``, ``lab``, ``models``, ``chat``, ``tutorials``, ``log``,
``cache``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from nvnb._version import __version__

# In a wheel the tutorials ship inside the package; in a source checkout they sit beside it.
_PACKAGED_TUTORIALS = Path(__file__).parent / "tutorials"
_CHECKOUT_TUTORIALS = Path(__file__).parent.parent / "notebooks"


def tutorials_source() -> Path:
    """Where this installation's tutorial notebooks are."""
    for candidate in (_PACKAGED_TUTORIALS, _CHECKOUT_TUTORIALS):
        if candidate.is_dir() and any(candidate.glob("*.ipynb")):
            return candidate
    raise SystemExit("nvnb: this installation carries no tutorial notebooks")


def _cmd_serve(args: argparse.Namespace, rest: list[str]) -> int:
    from nvnb.server import serve

    return serve(rest) or 0


def _cmd_models(args: argparse.Namespace, rest: list[str]) -> int:
    from nvnb.catalog.table import format_table, matching_models

    models = matching_models(args.filter, include_all=args.all)
    if args.json:
        import json

        print(json.dumps([m.to_dict() for m in models], indent=1))
    else:
        print(format_table(models))
    return 0


def _cmd_chat(args: argparse.Namespace, rest: list[str]) -> int:
    from nvnb.chat import ChatNVIDIA
    from nvnb.errors import NVNBError

    kwargs = {"model": args.model} if args.model else {}
    llm = ChatNVIDIA(**kwargs)
    prompt = args.prompt if args.prompt != "-" else sys.stdin.read()
    try:
        for chunk in llm.stream(prompt, labels=_parse_labels(args.labels)):
            print(chunk.content, end="", flush=True)
    except NVNBError as err:
        print(f"\nnvnb: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nnvnb: stopped", file=sys.stderr)
        return 130
    print()
    return 0


def _parse_labels(text: str | None) -> dict[str, int] | None:
    """``--labels creativity=9,verbosity=0`` (:func:`nvnb.catalog.parse_labels`); ``None`` when
    not given. A malformed pair exits with a one-line message."""
    from nvnb.catalog import parse_labels
    from nvnb.errors import InvalidInputError

    try:
        return parse_labels(text) or None
    except InvalidInputError as exc:
        raise SystemExit(f"nvnb: --labels takes name=integer pairs: {exc}") from None


def _cmd_tutorials(args: argparse.Namespace, rest: list[str]) -> int:
    target = Path(args.directory).expanduser()
    copy_tutorials(target, overwrite=args.overwrite)
    print(f"nvnb: tutorials copied to {target}")
    return 0


def copy_tutorials(target: Path, *, overwrite: bool = False) -> Path:
    """Copy the tutorial notebooks (and their data) into ``target``; keep edited copies."""
    source = tutorials_source()
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if ".ipynb_checkpoints" in path.parts or path.is_dir():
            continue
        dest = target / path.relative_to(source)
        if dest.exists() and not overwrite:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return target


def lab_command(
    directory: str | None = None,
    *,
    port: int | None = None,
    no_browser: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """The JupyterLab command line ``nvnb lab`` runs (copying the tutorials first if needed)."""
    if directory:
        root = Path(directory).expanduser()
        if not root.exists():
            copy_tutorials(root)
    elif _CHECKOUT_TUTORIALS.is_dir():
        root = _CHECKOUT_TUTORIALS
    else:
        root = copy_tutorials(Path.home() / "nvnb-tutorials")
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}"]
    if port:
        command.append(f"--port={port}")
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command + list(extra)


def _cmd_lab(args: argparse.Namespace, rest: list[str]) -> int:
    command = lab_command(args.directory, port=args.port, no_browser=args.no_browser, extra=rest)
    if not os.environ.get("NVIDIA_API_KEY"):
        print(
            "nvnb: no NVIDIA_API_KEY: the notebooks' answers come from nvnb's local server "
            "(enter a key in a notebook with %nvchat key to use NVIDIA's hosted models).",
            file=sys.stderr,
        )
    # Kernels pick the backend themselves (the embedded local server without a key), so no
    # NVIDIA_BASE_URL is set here.
    try:
        os.execv(sys.executable, command)
    except OSError as err:  # pragma: no cover - exec failure is environment-specific
        raise SystemExit(f"nvnb: could not start JupyterLab: {err}") from err
    return 0  # pragma: no cover


def _cmd_log(args: argparse.Namespace, rest: list[str]) -> int:
    from nvnb.calls.cli import run_log

    return run_log(args)


def _cmd_cache(args: argparse.Namespace, rest: list[str]) -> int:
    from nvnb.calls.cli import run_cache

    return run_cache(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nvnb", description="NVIDIA's model catalog in Jupyter, and a local server."
    )
    parser.add_argument("--version", action="version", version=f"nvnb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the local NIM-compatible server",
        add_help=False,
        description="Run the local NIM-compatible server (see `nvnb serve --help`).",
    )
    serve.set_defaults(run=_cmd_serve)

    lab = sub.add_parser("lab", help="open JupyterLab on the tutorials")
    lab.add_argument("directory", nargs="?", help="folder to open (copies the tutorials if new)")
    lab.add_argument("--port", type=int)
    lab.add_argument("--no-browser", action="store_true")
    lab.set_defaults(run=_cmd_lab)

    models = sub.add_parser("models", help="list the model catalog")
    models.add_argument("filter", nargs="?", default="", help="text or type to filter by")
    models.add_argument("--all", action="store_true", help="include embedding/ranking models")
    models.add_argument("--json", action="store_true", help="print JSON records")
    models.set_defaults(run=_cmd_models)

    chat = sub.add_parser("chat", help="stream one answer to the terminal")
    chat.add_argument("prompt", help="the prompt, or - to read it from standard input")
    chat.add_argument("-m", "--model")
    chat.add_argument("--labels", help="SteerLM labels, e.g. creativity=9,verbosity=0")
    chat.set_defaults(run=_cmd_chat)

    tutorials = sub.add_parser("tutorials", help="copy the tutorial notebooks into DIR")
    tutorials.add_argument("directory")
    tutorials.add_argument("--overwrite", action="store_true")
    tutorials.set_defaults(run=_cmd_tutorials)

    from nvnb.calls.cli import add_cache_parser, add_log_parser

    add_log_parser(sub).set_defaults(run=_cmd_log)
    add_cache_parser(sub).set_defaults(run=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nvnb`` console script and ``python -m nvnb``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["serve"]:  # the server parses its own options
        return _cmd_serve(argparse.Namespace(), argv[1:])
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "lab":
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    return int(args.run(args, rest) or 0)
