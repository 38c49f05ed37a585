"""Typed access to one record's fields as a JSON line or CSV row gave them.

A field of the wrong type (a list where a title goes, ``null`` in a list of versions) or
with text that is not text (a lone surrogate from a ``\\ud800`` escape) is never guessed at:
a title or abstract like that costs the record, any other field is left out and noted, and
nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SPACES = re.compile(r"[\s\x00]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_YEAR = re.compile(r"(1[89]|20)\d\d")

# Longer than any real title or abstract (arXiv caps abstracts at 1,920 characters); the
# chunker's cost grows with the title's length, so a runaway field is refused here.
TITLE_MAX_CHARS = 2_000
ABSTRACT_MAX_CHARS = 100_000


def too_long(name: str, text: str, limit: int) -> str:
    """The problem with a title or abstract over its limit."""
    return f"{name} is {len(text):,} characters, longer than any {name} ({limit:,}); record skipped"


def clean(text: str) -> str:
    """Runs of white space (and NUL characters) become one space; ends are trimmed."""
    return _SPACES.sub(" ", text).strip()


def kind(value: object) -> str:
    """What a JSON value is, in words: "a list", "a number", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def surrogate(text: str) -> str:
    """``\\udxxx`` for the first lone surrogate in ``text``, or ''."""
    m = _SURROGATE.search(text)
    return f"\\u{ord(m.group(0)):04x}" if m else ""


class Fields:
    """One record's fields; what cannot be used is collected in ``notes``, never raised."""

    def __init__(self, obj: Mapping[str, object]) -> None:
        self.obj = obj
        self.notes: list[str] = []

    def note(self, name: str, why: str) -> None:
        self.notes.append(f"{name} ({why})")

    def required_text(self, name: str) -> tuple[str, str]:
        """``(text, why)``: the cleaned text, or '' and why it cannot be used ('' if absent)."""
        value = self.obj.get(name)
        if value is None:
            return "", ""
        if not isinstance(value, str):
            return "", f"{name} is {kind(value)}, not text"
        if bad := surrogate(value):
            return "", f"{name} holds a lone surrogate ({bad}), not text"
        return clean(value), ""

    def text(self, name: str) -> str | None:
        """An optional text field (numbers are taken as written), or None."""
        value = self.obj.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            self.note(name, f"{kind(value)}, not text")
            return None
        if bad := surrogate(value):
            self.note(name, f"a lone surrogate {bad}")
            return None
        return clean(value) or None

    def names(self, name: str, *, split: str) -> tuple[str, ...]:
        """A list of names: text split at ``split``, or a list of texts."""
        value = self.obj.get(name)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            if bad := surrogate(value):
                self.note(name, f"a lone surrogate {bad}")
                return ()
            return tuple(p for p in (clean(s) for s in re.split(split, value)) if p)
        if not isinstance(value, (list, tuple)):
            self.note(name, f"{kind(value)}, not a list of names")
            return ()
        if any(not isinstance(v, str) or surrogate(v) for v in value):
            self.note(name, "an entry that is not a name")
        return names_from(value)

    def year(self, name: str) -> int | None:
        """A year found in text or a number ("2021-05-01", 2021, "Wed, 15 Mar 2023")."""
        value = self.obj.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.note(name, f"{kind(value)}, not a year")
            return None
        return year_in(value)


def names_from(values: list[object] | tuple[object, ...]) -> tuple[str, ...]:
    """The usable names in a list: texts without lone surrogates, cleaned, blanks dropped."""
    out = []
    for v in values:
        if isinstance(v, str) and not surrogate(v) and (name := clean(v)):
            out.append(name)
    return tuple(out)


def year_in(value: str | int | float) -> int | None:
    if isinstance(value, (int, float)) and not 1000 <= value <= 9999:
        return None  # also keeps str() away from integers too long to print
    m = _YEAR.search(str(value))
    return int(m.group(0)) if m else None
