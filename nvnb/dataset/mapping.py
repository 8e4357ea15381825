"""``nvnb.map`` and ``nvnb.amap``: one prompt over many rows; ``nvnb.mapper`` for a distributed
engine (a picklable function of a partition, without the key).

``map`` runs the requests on an event loop in its own thread, so it works the same in a script
and in a notebook cell (where ipykernel's loop is already running); the calling thread draws the
progress bar and turns the kernel interrupt (Ctrl-C, ■) into a Stop: requests in flight are
cancelled, finished rows are kept, and the result says it was stopped. ``amap`` is the coroutine,
for code already inside a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from nvnb.dataset import progress as progress_display
from nvnb.dataset.answer_schema import AnswerSchema
from nvnb.dataset.limiter import RateLimiter
from nvnb.dataset.outcomes import MapResult
from nvnb.dataset.row_requests import RequestBuilder, Template
from nvnb.dataset.rows import RowSource
from nvnb.dataset.run import Run
from nvnb.dataset.runfile import RunFile, RunStore
from nvnb.errors import InvalidInputError

HOSTED_RPM = 40.0
"""The free tier's pace on the hosted service, requests per minute (the default there)."""

HOSTED_CONCURRENCY = 8
LOCAL_CONCURRENCY = 32
"""Default concurrency: a few requests suffice at 40 per minute; a local server takes more."""

_END = object()


def map(
    rows: Any,
    template: Template,
    *,
    model: str | None = None,
    schema: Any = None,
    concurrency: int | None = None,
    rpm: float | None = None,
    cache: str | os.PathLike[str] | RunStore | None = None,
    system: str | None = None,
    images: str | Sequence[str] | None = None,
    client: Any = None,
    progress: bool | None = None,
    retries: int | None = None,
    **params: Any,
) -> MapResult:
    """Send ``template`` filled from each row to ``model``; one :class:`Outcome` per row.

    - ``rows``: a pandas DataFrame, a list of dicts or any iterable of mappings (read lazily).
    - ``template``: a prompt with ``{column}`` references (``%%nvchat``'s rules: other braces
      are sent as written, ``{{column}}`` is literal), or a function row → prompt or messages.
    - ``model``: defaults to the session's model (``%nvchat model``), else nvnb's default.
    - ``schema``: a pydantic class, TypedDict or JSON schema: structured output, parsed into
      ``.value``; an answer that does not fit is that row's error.
    - ``concurrency``: requests in flight (default 8 on the hosted service, 32 elsewhere).
    - ``rpm``: requests per minute (default 40, the free tier's limit, on the hosted service;
      unlimited on a local or self-hosted server; ``math.inf`` for none). A 429 slows the whole
      run down and the row is sent again.
    - ``cache``: a run file path: finished rows are kept there, so running the same map again
      sends only the rows not yet done.
    - ``system``: a system prompt; ``images``: column(s) holding an image URL, data URI or path.
    - ``client``: an ``nvnb.Client``/``AsyncClient`` whose settings to use (default: the
      process's: ``NVIDIA_API_KEY``, ``NVIDIA_BASE_URL`` or the local server).
    - ``progress``: the bar (default on; ``NVNB_PROGRESS=off`` turns it off).
    - ``retries``: sends again after 502/503/504 or a broken connection (default: the client's).
    - other keywords go into each request body (``temperature``, ``max_tokens``, ``seed``, …).

    Interrupting the kernel stops the run and returns what finished (``result.stopped``).
    Memory does not grow with the rows: beyond the latest 5 000 (or 4 MB of answers), outcomes
    wait in a temporary file (``result.spill_path``), removed by ``result.close()``, ``with``,
    garbage collection or the end of the process.
    """
    plan = _plan(
        rows,
        template,
        model,
        schema,
        concurrency,
        rpm,
        cache,
        system,
        images,
        client,
        retries,
        params,
    )
    run, result, bar = plan.run, plan.result, plan.progress(progress)
    box: dict[str, Any] = {}
    ready = threading.Event()
    # Waited on instead of thread.join(): a join interrupted by KeyboardInterrupt then returned
    # at once here while the thread still ran (and wrote to the run file after it was closed).
    finished = threading.Event()

    def worker() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        try:
            box["task"] = loop.create_task(run.execute())
            ready.set()
            try:
                loop.run_until_complete(box["task"])
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # an error reading the rows: raised in the caller
                box["error"] = exc
            finally:
                loop.run_until_complete(plan.client.aclose())
        finally:
            ready.set()
            loop.close()
            finished.set()

    def cancel() -> None:  # from the main thread, or the kernel's as a Stop click arrives
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: nothing to stop
                loop.call_soon_threadsafe(task.cancel)

    thread = threading.Thread(target=worker, name="nvnb-map", daemon=True)
    try:
        thread.start()
        ready.wait()
        bar.offer_stop(cancel)  # the bar's Stop button, where a click is heard at once
        while not finished.wait(progress_display.REFRESH_S):
            bar.update(result.stats, run.rpm())
    except KeyboardInterrupt:
        cancel()
        finished.wait()
        result.stopped = True
    finally:
        bar.close(result.stats, run.rpm())
        if finished.is_set():  # a second interrupt leaves the thread to finish on its own
            plan.close()
    if "error" in box:
        raise box["error"]
    if result.stopped:
        _say_stopped(result, plan.cache_given)
    return result


async def amap(
    rows: Any,
    template: Template,
    *,
    model: str | None = None,
    schema: Any = None,
    concurrency: int | None = None,
    rpm: float | None = None,
    cache: str | os.PathLike[str] | RunStore | None = None,
    system: str | None = None,
    images: str | Sequence[str] | None = None,
    client: Any = None,
    progress: bool | None = None,
    retries: int | None = None,
    **params: Any,
) -> MapResult:
    """:func:`map` as a coroutine, on the running loop (same arguments, same result).
    Cancelling it cancels the requests in flight; finished rows stay in the run file."""
    plan = _plan(
        rows,
        template,
        model,
        schema,
        concurrency,
        rpm,
        cache,
        system,
        images,
        client,
        retries,
        params,
    )
    run, result, bar = plan.run, plan.result, plan.progress(progress)

    async def draw() -> None:
        while True:
            await asyncio.sleep(progress_display.REFRESH_S)
            bar.update(result.stats, run.rpm())

    drawing = asyncio.ensure_future(draw())
    try:
        return await run.execute()
    finally:
        drawing.cancel()
        bar.close(result.stats, run.rpm())
        await plan.client.aclose()
        plan.close()


class _Plan:
    """Everything a run needs, decided before the first request."""

    def __init__(
        self,
        run: Run,
        client: Any,
        store: RunStore | None,
        owns_store: bool,
        cache_given: bool,
        total: int | None,
    ) -> None:
        self.run = run
        self.result = run.result
        self.client = client
        self.store = store
        self.owns_store = owns_store
        self.cache_given = cache_given
        self.total = total

    def progress(self, enabled: bool | None) -> progress_display.Progress:
        return progress_display.Progress(self.total, enabled=progress_display.wanted(enabled))

    def close(self) -> None:
        if self.store is not None and self.owns_store:
            self.store.close()


def _plan(
    rows: Any,
    template: Template,
    model: str | None,
    schema: Any,
    concurrency: int | None,
    rpm: float | None,
    cache: Any,
    system: str | None,
    images: str | Sequence[str] | None,
    client: Any,
    retries: int | None,
    params: Mapping[str, Any],
) -> _Plan:
    from nvnb import catalog
    from nvnb.client import AsyncClient
    from nvnb.settings import RetryPolicy

    source = RowSource(rows)
    aclient, given_policy = _run_client(client, AsyncClient, RetryPolicy)
    hosted = aclient.settings.is_hosted
    policy = given_policy
    if retries is not None:
        count = _count(retries, "retries", minimum=0)
        policy = RetryPolicy(**{**given_policy.__dict__, "max_retries": count})
    name = model or _default_model()
    record = catalog.find_model(name)
    answer_schema = AnswerSchema(schema) if schema is not None else None
    image_columns = (images,) if isinstance(images, str) else tuple(images or ())
    builder = RequestBuilder(
        template,
        model=record.id if record is not None else name,
        system=system,
        images=image_columns,
        response_format=answer_schema.response_format if answer_schema else None,
        params=params,
        flatten_images=record is not None and record.type == "nv-vlm",
    )
    feed = iter(source)
    first = next(feed, _END)
    if first is not _END:
        builder.check_first_row(first)
        feed = itertools.chain([first], feed)
    pace = HOSTED_RPM if rpm is None and hosted else rpm
    if pace is not None and math.isinf(pace):
        pace = None
    result = MapResult(source.kept, model=builder.model, keep_rows=source.one_shot)
    if answer_schema is not None:
        result.value_fields = list(answer_schema.json_schema.get("properties") or {})
        result._store.reparse = answer_schema.parse
    result.stats.total = source.total
    store, owns = _store(cache)
    run = Run(
        feed,
        builder,
        aclient,
        result=result,
        concurrency=_count(
            concurrency
            if concurrency is not None
            else (HOSTED_CONCURRENCY if hosted else LOCAL_CONCURRENCY),
            "concurrency",
        ),
        limiter=RateLimiter(pace),
        retry=policy,
        schema=answer_schema,
        store=store,
    )
    return _Plan(run, aclient, store, owns, cache is not None, source.total)


def _run_client(client: Any, async_client: type, retry_policy: type) -> tuple[Any, Any]:
    """An AsyncClient that does not retry on its own (the run decides, so that a 429 is
    shared), and the retry policy the caller's client (or the default) asked for."""
    no_retries = retry_policy(max_retries=0)
    if client is None:
        return async_client(retry=no_retries), retry_policy()
    if getattr(client, "_core", None) is None:
        raise InvalidInputError(
            f"client must be an nvnb.Client or nvnb.AsyncClient, not {type(client).__name__}"
        )
    settings = client.settings
    run_client = async_client(
        settings=settings,
        retry=no_retries,
        payload_fn=client.payload_fn,
        default_headers=client.default_headers,
    )
    return run_client, settings.retry


def _store(cache: Any) -> tuple[RunStore | None, bool]:
    if cache is None:
        return None, False
    if isinstance(cache, (str, os.PathLike)):
        return RunFile(cache), True
    if all(hasattr(cache, name) for name in ("get", "put", "close")):
        return cache, False
    raise InvalidInputError(
        f"cache must be a run file path or a store with get/put/close, not {type(cache).__name__}"
    )


def _default_model() -> str:
    from nvnb.session import DEFAULT_MODEL

    # The %%nvchat session's model when one exists (never made here: workers have none).
    existing = getattr(sys.modules.get("nvnb.session"), "_default", None)
    return getattr(existing, "model", None) or DEFAULT_MODEL


def _count(value: Any, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{what} must be a whole number ≥ {minimum}, not {value!r}")
    return value


def _say_stopped(result: MapResult, cache_given: bool) -> None:
    done = len(result) - len(result.errors)
    then = (
        "run it again with the same cache= to send the rest"
        if cache_given
        else "pass cache='run.sqlite' next time to be able to resume"
    )
    print(f"nvnb.map stopped: {done} of {len(result)} rows read are done; {then}.", file=sys.stderr)


class Mapper:
    """A picklable function partition → DataFrame running :func:`map` on it (for dask's
    ``map_partitions``, Spark's ``mapInPandas``, …). It holds no client and no key: each worker
    reads its own ``NVIDIA_API_KEY`` / ``NVIDIA_BASE_URL``. ``rpm`` applies per worker."""

    def __init__(self, template: Template, **options: Any) -> None:
        if "client" in options:
            raise InvalidInputError(
                "a Mapper carries no client (it would carry its key to every worker); each "
                "worker reads its own NVIDIA_API_KEY / NVIDIA_BASE_URL"
            )
        options.setdefault("progress", False)
        self.template = template
        self.options = options

    def __call__(self, rows: Any) -> Any:
        return map(rows, self.template, **self.options).to_dataframe()

    def meta(self, rows: Any) -> Any:
        """The output's empty frame (columns and dtypes) for ``rows``' columns, sending
        nothing: pass it as ``map_partitions(mapper, meta=mapper.meta(ddf._meta))``."""
        result = MapResult(rows.iloc[:0] if hasattr(rows, "iloc") else [])
        schema = self.options.get("schema")
        if schema is not None:
            props = AnswerSchema(schema).json_schema.get("properties") or {}
            result.value_fields = list(props)
        return result.to_dataframe()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Mapper({self.template!r}{', ' + shown if shown else ''})"


def mapper(template: Template, **options: Any) -> Mapper:
    """A picklable :class:`Mapper`: ``ddf.map_partitions(nvnb.mapper(template, ...))``."""
    return Mapper(template, **options)
