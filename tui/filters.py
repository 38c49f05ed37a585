"""rag's paper filters with a year range, for the chat's year filter."""

from __future__ import annotations

from dataclasses import dataclass

from rag.retrieve import Filters
from rag.types import Paper


@dataclass(frozen=True)
class ChatFilters(Filters):
    """rag's ``Filters`` with a year range instead of one year (one year is a range of one)."""

    years: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        return super().active or self.years is not None

    def accepts(self, p: Paper) -> bool:
        if self.years is not None:
            lo, hi = self.years
            if p.year is None or not lo <= p.year <= hi:
                return False
        return super().accepts(p)
