"""``%%nvchat`` and ``%nvchat …``: the magic (:mod:`nvnb.magics.nvchat`) and what only it uses.

* :mod:`~nvnb.magics.ask_cell`: a cell's question asked, its answer stored and shown;
* :mod:`~nvnb.magics.line_commands`: ``%nvchat models``, ``use``, ``labels`` and the others;
* :mod:`~nvnb.magics.cell_options`: a line's options read (quotes, ``-o`` names, labels);
* :mod:`~nvnb.magics.arena_cell`: ``-m A -m B``, one prompt to several models in an Arena;
* :mod:`~nvnb.magics.map_cell`: ``--map ROWS``, one prompt per row through ``nvnb.map``;
* :mod:`~nvnb.magics.calls`: ``%nvchat log`` and ``%nvchat cache``;
* :mod:`~nvnb.magics.settings_rows`: what ``%nvchat config`` shows;
* :mod:`~nvnb.magics.answer_output`: how an answer is shown (text, Markdown, code) and stored;
* :mod:`~nvnb.magics.cell_failure`: short, readable failures of a cell;
* :mod:`~nvnb.magics.kernel_errors`: the errors a kernel raised, by cell (for ``%nvchat fix``).

Only IPython and the standard library load with it, so ``%load_ext nvnb`` stays instant.
"""

from __future__ import annotations

from nvnb.magics.nvchat import NVChatMagics, load_ipython_extension

__all__ = ["NVChatMagics", "load_ipython_extension"]
