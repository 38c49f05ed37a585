"""What a reader yields: a record as read, and a problem with one place of an input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """Something wrong with one place of an input; the rest of the input still counts."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else f"{self.path}: {self.message}"
        )


@dataclass(frozen=True)
class Record:
    """One title/abstract pair as read, before it becomes a ``Paper``."""

    title: str
    abstract: str
    source: str
    line: int
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    # The key the user's reference manager gave the entry (BibTeX citekey, RIS ID, CSL id).
    citekey: str | None = None
    # The user's original entry as BibTeX, every field kept, to write back for citing.
    bibtex: str | None = None


ProblemSink = Callable[[Problem], None]


@dataclass(frozen=True)
class MissingAbstract(Problem):
    """An entry read whole but without an abstract: skipped, and carried so that
    ``papers ingest --enrich`` can look its abstract up (OpenAlex) and store it then."""

    record: Record | None = None
