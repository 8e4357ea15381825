"""Fixtures of the reliability and security tests (helpers live in ``rel_helpers``)."""

from __future__ import annotations

from rel_helpers import clean_env, srv, thread_guard

__all__ = ["clean_env", "srv", "thread_guard"]
