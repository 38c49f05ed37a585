"""Untrusted text (titles, abstracts, model output) made safe to show in a terminal.

The sanitiser is rag's (``rag.plain``, ``rag.one_line``), so that the chat and the `papers`
command strip the same things. It is imported on first use rather than here: the chat's first
screen imports no rag module at all (tests/tui/test_entry.py).
"""

from __future__ import annotations


def plain(text: str | None) -> str:
    """``text`` without terminal escape sequences or control characters (bar newline and tab)."""
    from rag import plain as _plain

    return _plain(text)


def one_line(text: str | None) -> str:
    """:func:`plain`, folded onto one line (for titles in lists)."""
    from rag import one_line as _one_line

    return _one_line(text)
