"""``%%nvchat`` and ``%nvchat …``: the magic (:mod:`nvnb.magics.nvchat`) and what only it uses.

* :mod:`~nvnb.prompt_template`: ``{name}`` references in a prompt, filled from the namespace;
* :mod:`~nvnb.magics.answer_output`: how an answer is shown (text, Markdown, code) and stored;
* :mod:`~nvnb.magics.cell_failure`: short, readable failures of a cell;
* :mod:`~nvnb.magics.kernel_errors`: the errors a kernel raised, by cell (for ``%nvchat fix``).

Only IPython and the standard library load with it, so ``%load_ext nvnb`` stays instant.
"""

from __future__ import annotations

from nvnb.magics.nvchat import NVChatMagics, load_ipython_extension

__all__ = ["NVChatMagics", "load_ipython_extension"]
