"""16 · Arena, as a marimo notebook: `marimo edit notebooks/16_arena_marimo.py`."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        # 16 · Arena (marimo)

        One prompt, two to four models at once, their answers side by side with their speed:
        the Arena of tutorial 16, in marimo. Type a prompt in the box (Ctrl+Enter sends) and
        every model answers at once; each column shows its first-token time, tokens per second,
        tokens and request id. **☆ Best** marks the answer you prefer, **Code** shows that
        column's request as Python, `%%nvchat` and `curl`, **■ Stop all** stops every answer
        and keeps the text so far.

        Without `NVIDIA_API_KEY`, nvnb's local server answers (deterministic, no model runs),
        so this notebook runs anywhere; with the key, the same cells ask NVIDIA's hosted models.
        """
    )
    return


@app.cell
def _():
    import marimo as mo

    import nvnb
    from nvnb.widgets.in_marimo import arena

    return arena, mo, nvnb


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## Two models, one prompt

        `nvnb.widgets.in_marimo.arena(models, session)` is `nvnb.Arena` as a marimo element;
        `.arena` is the Arena itself. The session is made here, not taken from
        `nvnb.session()`: an app served with `marimo run` runs every visitor's copy in one
        Python process, and the default session would be shared between them.
        """
    )
    return


@app.cell
def _(arena, nvnb):
    session = nvnb.Session()
    duel = arena(["meta/llama-3.3-70b-instruct", "openai/gpt-oss-20b"], session)
    duel
    return (duel,)


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        From Python, `.arena.ask(...)` returns at once (the answers stream into the Arena
        above); `.wait()` blocks until both are done and gives one record per model.
        `.arena.results` keeps every round (`.arena.to_dataframe()` makes a pandas DataFrame).
        """
    )
    return


@app.cell
def _(duel):
    results = duel.arena.ask("In one sentence: why do GPUs speed up deep learning?").wait()
    for r in results:
        print(f"{r.model:30} {r.status:5} {r.output_tokens:3} tokens")
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## One model failing does not stop the other

        This Arena's session asks the local server to break the first answer it streams after
        four chunks (an injected fault, with a new id each run). Ask anything: one column keeps
        the text it got and says what went wrong, with the request id; the other answers as
        usual.
        """
    )
    return


@app.cell
def _(arena, nvnb):
    import uuid

    fault = {"X-NVNB-Fault": f"stream-error=4;times=1;id=marimo-{uuid.uuid4().hex[:8]}"}
    flaky = nvnb.Session(max_retries=0, default_headers=fault)
    shaky = arena(["meta/llama-3.1-8b-instruct", "mistralai/mistral-nemotron"], flaky)
    shaky
    return


if __name__ == "__main__":
    app.run()
