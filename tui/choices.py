"""What the user chose for the next answers: the model backend and the paper filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rag loads in the background, after the first screen
    from tui.filters import ChatFilters

# The backends every library offers; Ollama models are added when a server answers.
BASE_BACKENDS = ("auto", "embedded", "none")

_YEARS = re.compile(r"^\s*(\d{4})\s*(?:(?:-|–|\.\.|to)\s*(\d{4})\s*)?$")


class ChoiceError(ValueError):
    """Input the settings cannot use; the message says what to type instead."""


def parse_years(text: str | None) -> tuple[int, int] | None:
    """``"2023"`` -> (2023, 2023), ``"2020-2024"`` -> (2020, 2024), ``""`` -> None.

    Raises:
        ChoiceError: for anything else ("abc", "2024-2020", "20").
    """
    if text is None or not text.strip():
        return None
    m = _YEARS.match(text)
    if not m:
        raise ChoiceError(
            f"year {text.strip()!r} is not a year; type one (2023) or a range (2020-2024)"
        )
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if hi < lo:
        raise ChoiceError(f"years {lo}-{hi} run backwards; type {hi}-{lo}")
    return lo, hi


def years_label(years: tuple[int, int] | None) -> str:
    if years is None:
        return ""
    lo, hi = years
    return str(lo) if lo == hi else f"{lo}–{hi}"


@dataclass(frozen=True)
class Choices:
    """The backend (``None``: the library's default) and the filters the next answer uses."""

    llm: str | None = None
    source: str | None = None
    years: tuple[int, int] | None = None

    @property
    def filters(self) -> ChatFilters | None:
        """The filters to pass to ``Library.astream``, or None when nothing is filtered."""
        from tui.filters import ChatFilters

        f = ChatFilters(source=self.source or None, years=self.years)
        return f if f.active else None

    def filters_label(self) -> str:
        """``"source 003_x.txt, 2020–2024"``, or ``""`` when nothing is filtered."""
        parts = []
        if self.source:
            parts.append(f"source {self.source}")
        if self.years:
            parts.append(f"year {years_label(self.years)}")
        return ", ".join(parts)

    def with_(self, **changes) -> Choices:
        return replace(self, **changes)
