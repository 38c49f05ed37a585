"""Untrusted text (titles, abstracts, model output) made safe to show in a terminal."""

from __future__ import annotations

import re

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
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str | None) -> str:
    """``text`` without terminal escape sequences or control characters (bar newline and tab)."""
    if not text:
        return ""
    return _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n")))


def one_line(text: str | None) -> str:
    """:func:`plain`, folded onto one line (for titles in lists)."""
    return " ".join(plain(text).split())
