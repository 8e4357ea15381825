"""01 · Quickstart, as a marimo notebook: `marimo edit notebooks/01_quickstart_marimo.py`."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        # 01 · Quickstart (marimo)

        nvnb makes NVIDIA's model catalog — the NVIDIA API catalog at build.nvidia.com and
        self-hosted NIM servers — easy to use from a notebook. This is the quickstart of the
        Jupyter tutorials, as a marimo notebook: the same calls, and the chat panel at the end.

        **No key yet?** It runs as it is: without `NVIDIA_API_KEY`, nvnb starts its own local
        server on this machine, which speaks the same API and answers by fixed rules. Its answers
        say so: they are there to show what the code does, not what a large model would say.

        **Not in marimo:** the IPython magics (`%%nvchat`, `%nvchat …`) need IPython, and marimo
        cells are plain Python. Ask through `nvnb.session().ask(...)` or `ChatNVIDIA` instead.
        """
    )
    return


@app.cell
def _():
    import marimo as mo

    import nvnb
    import nvnb.settings

    print(nvnb.settings.resolve_settings().describe())
    return mo, nvnb


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## Your API key

        1. Create a free account at [build.nvidia.com](https://build.nvidia.com/).
        2. Open any model, choose **Get API Key**, then **Generate Key**. Keys begin with `nvapi-`.
        3. Set `NVIDIA_API_KEY` in the environment before you start marimo, or run
           `nvnb.settings.ask_for_key()` in marimo's console. The key lives in this process's
           memory only: it never appears in the notebook, a repr, an error message or a log line.
        """
    )
    return


@app.cell
def _():
    import os

    if os.environ.get("NVIDIA_API_KEY", "").startswith("nvapi-"):
        print("NVIDIA_API_KEY is set: requests go to NVIDIA's hosted catalog.")
    else:
        print("No NVIDIA_API_KEY: requests go to nvnb's local server (or NVIDIA_BASE_URL).")
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## A first call

        `nvnb.ChatNVIDIA` is a LangChain chat model. If you know `langchain-nvidia-ai-endpoints`,
        you know it already: only the import changes.
        """
    )
    return


@app.cell
def _(nvnb):
    llm = nvnb.ChatNVIDIA(model="mistralai/mixtral-8x7b-instruct-v0.1")
    result = llm.invoke("Write a ballad about LangChain.")
    print(result.content)
    return (result,)


@app.cell
def _(result):
    print(result.usage_metadata)
    print(result.response_metadata["model_name"], result.response_metadata["finish_reason"])
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## The chat panel

        nvnb's widgets are anywidgets, which marimo shows through `mo.ui.anywidget`.
        `nvnb.widgets.in_marimo.chat_panel(session)` lays out the ChatPanel's parts for marimo.
        Cells share the session as they share any variable: a question asked in the panel is in
        `session.history` in the next cell, and the model you pick is the one `session.ask` uses.

        The session is made here, not taken from `nvnb.session()`: an app served with
        `marimo run` runs every visitor's copy in one Python process, and the default session
        would be shared between them.

        Several models answering one prompt side by side: `16_arena_marimo.py`.
        """
    )
    return


@app.cell
def _(nvnb):
    from nvnb.widgets.in_marimo import chat_panel

    session = nvnb.Session()
    chat = chat_panel(session)
    chat
    return (session,)


@app.cell
def _(session):
    answer = session.ask("What does a GPU do?", chat=True)
    print(f"{session.model}: {answer.text[:120]}")
    print(f"{len(session.history)} messages in the session the panel shows")
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(
        r"""
        ## An answer streamed into a pane

        `nvnb.widgets.in_marimo.stream_pane(session)` is a StreamPane on its own: pass its
        `.pane` as `sink=` to `session.ask` and the answer streams into it as it arrives, with
        its speed and request id at the end.
        """
    )
    return


@app.cell
def _(session):
    from nvnb.widgets.in_marimo import stream_pane

    pane = stream_pane(session)
    pane
    return (pane,)


@app.cell
def _(pane, session):
    streamed = session.ask("Explain streaming in two sentences.", sink=pane.pane)
    print(f"streamed {streamed.stats.output_tokens} tokens into the pane")
    return


if __name__ == "__main__":
    app.run()
