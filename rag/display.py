"""Untrusted text (titles, abstracts, file names, model output) made safe to show in a terminal.

Everything the CLI and the chat print from stored or generated text goes through here, so a
title holding ``\\x1b[2J`` or an OSC title-setting sequence is shown as text, never obeyed.
"""

from __future__ import annotations

import re

__all__ = ["one_line", "plain"]

# ESC sequences first (CSI, OSC, DCS/PM/APC strings, two-byte escapes), then the single
# 8-bit C1 introducers, then every remaining C0/C1 control but newline and tab.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, ended by BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # other escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"  # 8-bit OSC
)
# Besides the C0/C1 controls: the bidirectional embeddings, overrides and isolates, which
# reorder what follows them on screen (a title could make "[arxiv:1]" read as another id),
# and lone surrogates (undecodable bytes smuggled in by ``surrogateescape``), which a UTF-8
# terminal stream refuses to encode at all.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def plain(text: str | None) -> str:
    """``text`` without terminal escape sequences or control characters (bar newline and tab)."""
    if not text:
        return ""
    # A lone carriage return would move the cursor back over what is already shown: it is
    # taken as the line break that old files meant by it.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def one_line(text: str | None) -> str:
    """:func:`plain`, folded onto one line (for titles in lists and for error messages)."""
    return " ".join(plain(text).split())
