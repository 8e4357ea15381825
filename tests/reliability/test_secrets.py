"""The API key appears nowhere it could be seen or saved: reprs, errors and their tracebacks, logs
(DEBUG, httpx and the transports under it included), widget state, ``%nvchat config``, pickles,
and the saved JSON of every notebook executed against a local server that requires that very key."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import pickle
import shutil
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from rel_helpers import MODEL, PROMPT

import nvnb.session as session_module
from nvnb import errors as E
from nvnb.chat import ChatNVIDIA
from nvnb.client import Client
from nvnb.server import LocalServer
from nvnb.session import Session
from nvnb.settings import resolve_settings

SENTINEL = "nvapi-SENTINEL-" + uuid.uuid4().hex
SECRET_PART = SENTINEL.removeprefix("nvapi-")  # the part that must never show, even masked
WRONG = "nvapi-WRONGKEY-" + uuid.uuid4().hex
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keyed() -> Iterator[LocalServer]:
    """A local server with auth on for the sentinel key."""
    with LocalServer(auth_key=SENTINEL) as server:
        yield server


def assert_clean(text: str, *keys: str) -> None:
    for key in (SENTINEL, SECRET_PART, *keys):
        assert key not in text, f"the key leaked into: {text[:300]!r}"


def everything_about(err: BaseException) -> str:
    """Every way an error shows itself: str, repr, args, attributes, the whole traceback."""
    parts = [str(err), repr(err), repr(err.args), repr(vars(err))]
    parts += traceback.format_exception(type(err), err, err.__traceback__)
    parts.append(pickle.dumps(err).decode("latin-1"))
    return "\n".join(parts)


def test_reprs_of_every_object_holding_the_key_hide_it(keyed: LocalServer) -> None:
    client = Client(api_key=SENTINEL, base_url=keyed.base_url)
    llm = ChatNVIDIA(model=MODEL, api_key=SENTINEL, base_url=keyed.base_url)
    session = Session(MODEL, api_key=SENTINEL, base_url=keyed.base_url)
    settings = resolve_settings(api_key=SENTINEL, base_url=keyed.base_url)
    for obj in (client, client.aio, llm, llm.client, session, settings, settings.api_key):
        assert_clean(repr(obj))
        assert_clean(str(obj))
    assert_clean(str(llm.model_dump()) + llm.model_dump_json())
    assert_clean(repr(vars(client)) + repr(vars(llm.client)))


def test_errors_and_their_tracebacks_never_carry_the_key(keyed: LocalServer) -> None:
    for key, spec, cls in (
        (WRONG, "", E.AuthenticationError),
        (SENTINEL, "status=500", E.ServerError),
        (SENTINEL, "drop-after=2", E.StreamInterrupted),
    ):
        llm = ChatNVIDIA(
            model=MODEL,
            api_key=key,
            base_url=keyed.base_url,
            max_retries=0,
            default_headers={"X-NVNB-Fault": spec} if spec else {},
        )
        with pytest.raises(cls) as info:
            list(llm.stream(PROMPT))
        assert_clean(everything_about(info.value), WRONG)


def test_errors_pickled_with_their_whole_chain_never_carry_the_key(keyed: LocalServer) -> None:
    """tblib's pickler (dask.distributed installs it for every exception class) follows
    ``__cause__``, ``__context__`` and the traceback: the httpx and aiohttp errors down there
    must not bring the request's headers along."""
    pickling_support = pytest.importorskip("tblib.pickling_support")
    for spec, cls in (("drop-after=2", E.StreamInterrupted), ("status=500", E.ServerError)):
        for use_async in (False, True):
            llm = ChatNVIDIA(
                model=MODEL,
                api_key=SENTINEL,
                base_url=keyed.base_url,
                max_retries=0,
                default_headers={"X-NVNB-Fault": spec},
            )
            with pytest.raises(cls) as info:
                if use_async:
                    asyncio.run(_drain(llm.astream(PROMPT)))
                else:
                    list(llm.stream(PROMPT))
            pickling_support.install(info.value)  # as distributed does for a task's error
            data = pickle.dumps(info.value)
            assert_clean(data.decode("latin-1"))
            assert type(pickle.loads(data)) is cls


async def _drain(chunks: Any) -> None:
    async for _ in chunks:
        pass


def test_debug_logs_of_nvnb_httpx_and_the_transports_never_show_the_key(
    keyed: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("nvnb", "httpx", "httpcore", "urllib3", "aiohttp", "nvnb.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    llm = ChatNVIDIA(
        model=MODEL,
        api_key=SENTINEL,
        base_url=keyed.base_url,
        max_retries=1,
        default_headers={"X-NVNB-Fault": f"status=503;retry-after=0;times=1;id={uuid.uuid4().hex}"},
    )
    llm.invoke(PROMPT)
    list(llm.stream(PROMPT))
    asyncio.run(llm.ainvoke(PROMPT))
    Session(MODEL, api_key=SENTINEL, base_url=keyed.base_url).ask(PROMPT)
    with pytest.raises(E.AuthenticationError):
        ChatNVIDIA(model=MODEL, api_key=WRONG, base_url=keyed.base_url).invoke(PROMPT)
    records = caplog.records
    assert any(r.name.startswith("urllib3") for r in records)  # DEBUG really was on
    assert any(r.name.startswith("nvnb") for r in records)
    for record in records:
        assert_clean(record.getMessage() + repr(record.args) + repr(vars(record)), WRONG)


def test_widget_state_never_carries_the_key_from_the_environment(
    keyed: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nvnb.widgets import ChatPanel, ImageDrop, ModelPicker, SteerSliders, StreamPane

    monkeypatch.setenv("NVIDIA_API_KEY", SENTINEL)
    monkeypatch.setenv("NVIDIA_BASE_URL", keyed.base_url)
    session = Session(MODEL)
    panel = ChatPanel(session=session, live=True)
    panel.send(PROMPT).join(30)
    failing = StreamPane(session=session)
    broken = Session(MODEL, max_retries=0, default_headers={"X-NVNB-Fault": "status=500"})
    with pytest.raises(E.ServerError):
        broken.ask(PROMPT, sink=failing)  # the error banner is state too
    assert failing.error
    widgets: list[Any] = [
        panel,
        *panel.children,
        panel.picker,
        panel.sliders,
        panel.image_drop,
        panel.pane,
        panel.history_view,
        panel.composer,
        failing,
        ModelPicker(session=session, live=True),
        SteerSliders(session=session),
        ImageDrop(session=session),
    ]
    assert panel.pane.text  # a real answer came back with the key
    for widget in widgets:
        state = json.dumps(widget.get_state(), default=str)
        assert_clean(state)
        assert_clean(json.dumps(widget._repr_mimebundle_(), default=str))


def test_nvchat_config_and_history_never_show_the_key(
    keyed: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", SENTINEL)
    monkeypatch.setenv("NVIDIA_BASE_URL", keyed.base_url)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nvnb")
    monkeypatch.setattr(session_module, "_default", Session(MODEL))
    shown = []
    for source in (f"%%nvchat\n{PROMPT}", "%nvchat config", "%nvchat history"):
        with capture_output() as captured:
            result = shell.run_cell(source)
        assert result.success, source
        shown.append(captured.stdout + captured.stderr)
        shown += [json.dumps(o.data) for o in captured.outputs]
    text = "\n".join(shown)
    assert "api key" in text and "set" in text  # config did speak about the key
    assert_clean(text)
    assert_clean(json.dumps(list(shell.user_ns.get("Out", {}).values()), default=str))


def test_pickles_of_clients_and_settings_never_carry_the_key(keyed: LocalServer) -> None:
    client = Client(api_key=SENTINEL, base_url=keyed.base_url)
    client.chat({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]})
    objects: list[Any] = [
        client,
        client.aio,
        client.settings,
        resolve_settings(api_key=SENTINEL, base_url=keyed.base_url),
    ]
    for obj in objects:
        data = pickle.dumps(obj)
        assert SENTINEL.encode() not in data and SECRET_PART.encode() not in data


# --- every notebook, executed with the sentinel key ---------------------------------------------


def notebooks() -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "tests" / "notebooks").glob("*.ipynb")
    )
    return [p for p in found if ".ipynb_checkpoints" not in p.parts]


def execute(path: Path, workdir: Path, env: dict[str, str]) -> tuple[Path, list[str]]:
    """Execute a copy of ``path`` in ``workdir`` (widget state stored) and save it; returns the
    saved path and the errors raised by cells (allowed: the grep is what matters)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=True,
        resources={"metadata": {"path": workdir}},
    )
    saved_env = os.environ.copy()
    client.execute(env=env)
    out = workdir / path.name
    nbformat.write(nb, out)
    errors = [
        o.get("ename", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert os.environ == saved_env
    return out, errors


def test_every_notebook_executed_with_a_sentinel_key_saves_no_trace_of_it(
    keyed: LocalServer, tmp_path: Path
) -> None:
    pytest.importorskip("nbclient")
    paths = notebooks()
    assert paths, "no notebooks found"
    workdir = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", workdir, ignore=shutil.ignore_patterns("*.ipynb"))
    env = {
        **os.environ,
        "NVIDIA_API_KEY": SENTINEL,
        "NVIDIA_BASE_URL": keyed.base_url,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    env.pop("NVNB_HOSTED_ORIGIN", None)
    env.pop("NVNB_LOCAL", None)
    keyed.clear()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: execute(p, workdir, env), paths))
    authorised = [r for r in keyed.requests if r.has_auth]
    assert authorised, "the notebooks sent no authorised request to the keyed server"
    for saved, _errors in results:
        text = saved.read_text(encoding="utf-8")
        assert SENTINEL not in text and SECRET_PART not in text, f"the key is saved in {saved.name}"
        data = json.loads(text)
        assert any(c.get("outputs") for c in data["cells"] if c["cell_type"] == "code")
    print(sys.version, {r[0].name: r[1] for r in results})
