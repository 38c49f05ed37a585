"""Untrusted text loses its control codes and keeps its brackets."""

from tui.safe import one_line, plain


def test_plain_removes_escapes_and_controls():
    assert plain("\x1b[31mred\x1b[0m") == "red"
    assert plain("a\x1b]8;;http://e.vil\x07link\x1b]8;;\x07b") == "alinkb"
    assert plain("x\x00y\x07z\x9b31mw\x85") == "xyzw"
    assert plain("line\nnext\ttab\r\n") == "line\nnext\ttab\n"


def test_plain_keeps_markup_like_text():
    s = "[bold]x[/] [link=http://e.vil]y[/link] [/]"
    assert plain(s) == s
    assert one_line(" a\n b ") == "a b"
    assert plain(None) == ""
