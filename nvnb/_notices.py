"""One-time notices for a notebook user: shown once per process, never through ``warnings``.

``warnings`` messages carry file paths and line numbers that change from run to run, which makes
saved notebooks differ on every execution; a notice is plain text, shown once.
"""

from __future__ import annotations

import sys
import threading

_shown: set[str] = set()
_lock = threading.Lock()


def notify_once(key: str, text: str) -> bool:
    """Show ``text`` once per process for ``key``; return whether it was shown now."""
    with _lock:
        if key in _shown:
            return False
        _shown.add(key)
    _show(text)
    return True


def reset(key: str | None = None) -> None:
    """Forget that a notice (or every notice) was shown, so it shows again."""
    with _lock:
        if key is None:
            _shown.clear()
        else:
            _shown.discard(key)


def _show(text: str) -> None:
    shell = _ipython_kernel_shell()
    if shell is not None:
        from IPython.display import display

        display({"text/plain": text, "text/markdown": f"> {text}"}, raw=True)
    else:
        print(f"nvnb: {text}", file=sys.stderr)


def _ipython_kernel_shell() -> object | None:
    """The running IPython *kernel* shell (rich display available), if any."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return None
    shell = ipython_module.get_ipython()
    # Only a kernel has a front end that renders displays; a terminal or a bare
    # InteractiveShell (as in tests and scripts) gets plain text on stderr.
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell
