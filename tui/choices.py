"""What the user chose for the next answers: the model backend and the paper filters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rag loads after the first screen (rag.retrieve itself is light)
    from rag import Filters

# The backends every library offers; Ollama models are added when a server answers.
BASE_BACKENDS = ("auto", "embedded", "none")

Years = tuple[int | None, int | None]


class ChoiceError(ValueError):
    """Input the settings cannot use; the message says what to type instead."""


def parse_years(text: str | None) -> Years | None:
    """``"2023"`` -> (2023, 2023), ``"2020-2024"``, ``"2020-"`` (since), ``""`` -> None.

    Raises:
        ChoiceError: for anything else ("abc", "2024-2020", "20"), with rag's message.
    """
    from rag import FilterError
    from rag import parse_years as parse

    try:
        return parse(text)
    except FilterError as exc:
        raise ChoiceError(str(exc)) from None


def years_text(years: Years | None) -> str:
    """What to put in the years box so that ``parse_years`` reads it back: "2020-", "-2019"."""
    if years is None:
        return ""
    lo, hi = years
    if lo is not None and lo == hi:
        return str(lo)
    return f"{'' if lo is None else lo}-{'' if hi is None else hi}"


def years_label(years: Years | None) -> str:
    from rag import years_label as label

    return "" if years is None else label(*years)


@dataclass(frozen=True)
class Choices:
    """The backend (``None``: the library's default) and the filters the next answer uses."""

    llm: str | None = None
    source: str | None = None
    years: Years | None = None
    # Keep the model's sentences no abstract supports, marked, instead of removing them.
    show_unsupported: bool = False
    # Answer even when the relevance rule finds no paper that answers (`papers ask --no-floor`).
    no_floor: bool = False

    @property
    def filters(self) -> Filters | None:
        """The filters to pass to ``Library.astream``, or None when nothing is filtered."""
        from rag import Filters

        lo, hi = self.years or (None, None)
        f = Filters(source=self.source or None, year_from=lo, year_to=hi)
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
