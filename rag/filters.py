"""Search filters: source, author, category and a year range, read from what a researcher types.

Light on purpose (no model, no store): the chat imports it before the library loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.errors import FilterError
from rag.types import Paper

__all__ = ["Filters", "parse_years", "years_label"]

_YEARS = re.compile(r"^\s*(\d{4})?\s*(?:(-|–|\.\.|to)\s*(\d{4})?\s*)?$")


def parse_years(text: str | int | None) -> tuple[int | None, int | None] | None:
    """``"2023"`` -> (2023, 2023); ``"2020-2024"``; ``"2020-"`` (since); ``"-2019"`` (until).

    ``None`` or ``""`` -> None. En dashes, ``..`` and ``to`` work as the dash does.

    Raises:
        FilterError: for anything else ("abc", "2024-2020", "20").
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, int):
        return text, text
    m = _YEARS.match(text)
    if not m or not (m.group(1) or m.group(3)):
        raise FilterError(
            f"year {text.strip()!r} is not a year; type one (2023), a range (2020-2024), "
            "or an open range (2020- or -2019)"
        )
    lo = int(m.group(1)) if m.group(1) else None
    hi = int(m.group(3)) if m.group(3) else None
    if m.group(2) is None:  # one year
        hi = lo
    if lo is not None and hi is not None and hi < lo:
        raise FilterError(f"years {lo}-{hi} run backwards; type {hi}-{lo}")
    return lo, hi


def years_label(lo: int | None, hi: int | None) -> str:
    """(2023, 2023) -> "2023", (2020, 2024) -> "2020–2024", (2020, None) -> "2020 on"."""
    if lo is not None and lo == hi:
        return str(lo)
    if hi is None:
        return f"{lo} on" if lo is not None else ""
    if lo is None:
        return f"up to {hi}"
    return f"{lo}–{hi}"


@dataclass(frozen=True)
class Filters:
    """Keep only papers matching every given field (case-insensitive substring for text).

    Years are a closed range ``year_from``..``year_to``, either end open; ``year`` is the
    one-year shorthand and may be given as text (``"2020-2024"``, ``"2020-"``). A paper with
    no year never passes a year filter.
    """

    source: str | None = None
    year: int | str | None = None
    author: str | None = None
    category: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def __post_init__(self) -> None:
        if self.year is not None:
            span = parse_years(self.year)
            if span is not None:
                object.__setattr__(self, "year_from", span[0])
                object.__setattr__(self, "year_to", span[1])
            object.__setattr__(self, "year", None)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> Filters | None:
        if not m:
            return None
        f = cls(**{k: v for k, v in m.items() if v not in (None, "")})
        return f if f.active else None

    @property
    def years(self) -> tuple[int | None, int | None] | None:
        if self.year_from is None and self.year_to is None:
            return None
        return self.year_from, self.year_to

    @property
    def active(self) -> bool:
        return any(
            v is not None
            for v in (self.source, self.author, self.category, self.year_from, self.year_to)
        )

    def accepts(self, p: Paper) -> bool:
        if self.source and not any(self.source.lower() in s.lower() for s in p.sources):
            return False
        if self.years is not None:
            if p.year is None:
                return False
            if self.year_from is not None and p.year < self.year_from:
                return False
            if self.year_to is not None and p.year > self.year_to:
                return False
        if self.author and not any(self.author.lower() in a.lower() for a in p.authors):
            return False
        if self.category and not any(self.category.lower() == c.lower() for c in p.categories):
            return False
        return True
