"""The one sanitiser for terminal output: escape sequences and controls go, text stays."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tui.safe
from rag import one_line, plain


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[HTitle", "Title"),  # clear screen, cursor home
        ("\x1b]0;owned\x07Title", "Title"),  # set the window title (OSC ... BEL)
        ("\x1b]8;;http://e.vil\x1b\\link\x1b]8;;\x1b\\", "link"),  # hyperlink, ended by ST
        ("\x9b31mred\x9b0m", "red"),  # 8-bit CSI
        ("\x1bP+q\x1b\\Title", "Title"),  # DCS string
        ("a\x00b\x07c\x7fd\x85e", "abcde"),  # stray C0 and C1 controls
        ("abc\u202edcba", "abcdcba"),  # right-to-left override
        ("q \udcff\udcfe w", "q  w"),  # lone surrogates (undecodable argv bytes)
        ("Über Café — 東京 [1]", "Über Café — 東京 [1]"),  # text is text
    ],
)
def test_plain_removes_what_a_terminal_would_obey(raw, shown):
    assert plain(raw) == shown


def test_carriage_returns_become_line_breaks_not_overwrites():
    assert plain("safe\rEVIL") == "safe\nEVIL"
    assert plain("a\r\nb") == "a\nb"
    assert one_line("Carriage\rOverwrite") == "Carriage Overwrite"


def test_one_line_folds_everything_onto_one_line():
    assert one_line(" a\n\tb \x1b[2J c\n") == "a b c"
    assert one_line(None) == "" and plain("") == ""


def test_the_chat_uses_the_same_sanitiser():
    for raw in ("\x1b[31mred\x1b[0m", "x\x9b31my", "t\rx", "a\n b"):
        assert tui.safe.plain(raw) == plain(raw)
        assert tui.safe.one_line(raw) == one_line(raw)


def test_tui_safe_imports_no_rag_until_used():
    # The chat's first screen imports tui.safe and must not wait for rag (test_entry.py).
    code = "import sys, tui.safe; print([m for m in sys.modules if m.split('.')[0] == 'rag'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
