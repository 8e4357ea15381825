"""Notices: once per process, plain text outside a kernel, a display inside one."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nvnb import _notices as notices


def test_a_notice_is_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    notices.reset("test:once")
    assert notices.notify_once("test:once", "hello once")
    assert not notices.notify_once("test:once", "hello once")
    assert capsys.readouterr().err.count("hello once") == 1


def test_outside_a_kernel_notices_go_to_stderr_even_with_an_ipython_shell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    InteractiveShell.instance()  # a shell without a kernel, as in scripts and tests
    notices.reset("test:shell")
    notices.notify_once("test:shell", "plain words")
    assert "nvnb: plain words" in capsys.readouterr().err


def test_reset_lets_a_notice_show_again(capsys: pytest.CaptureFixture[str]) -> None:
    notices.reset("test:again")
    notices.notify_once("test:again", "again")
    notices.reset()
    notices.notify_once("test:again", "again")
    assert capsys.readouterr().err.count("again") == 2
