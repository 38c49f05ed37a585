"""Opening an input file as text: the encoding from its byte-order mark, and numbered lines in
which undecodable bytes cost that line, not the file."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Enough of a file to tell its encoding and format: a seed page shows its header and a dozen
# papers in the first 64 KiB.
HEAD_BYTES = 65536
# A record is a few KB (the longest abstract in the seeds is under 2,000 characters); a line
# this long is not a record, and reading it whole would put an unbounded line in memory.
MAX_LINE_CHARS = 1_000_000

# Undecodable bytes become this lone surrogate. No decoder yields a lone surrogate for valid
# input, so a line that holds one had bytes that are not text in the file's encoding.
_UNDECODABLE = "\udcff"
_ERRORS = "papers.undecodable"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return _UNDECODABLE, exc.end
    raise exc


codecs.register_error(_ERRORS, _mark_undecodable)

# UTF-32's marks first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
# A file is binary when control characters other than layout (NUL, \x01, ...) are more than
# 5% of its first characters, and at least 16 of them: compressed data, images and PDFs are
# about a tenth control characters, text has none but a stray bad line. Undecodable bytes do
# not count: Latin-1 read as UTF-8 is still text, whose bad lines are reported one by one.
_BINARY_SHARE = 0.05
_BINARY_MIN = 16
_LAYOUT = frozenset("\t\n\r\f\x1b")


@dataclass(frozen=True)
class Encoding:
    """How to decode a file: the codec, and its name as a user knows it."""

    codec: str
    label: str


UTF8 = Encoding("utf-8", "UTF-8")


@dataclass(frozen=True)
class Head:
    """The decoded start of a file, or why it is not text."""

    encoding: Encoding | None
    text: str
    whole: bool  # the head is the whole file

    @property
    def lines(self) -> list[str]:
        """The head's complete lines (the last one may be cut unless the head is the file)."""
        lines = self.text.split("\n")
        if not self.whole:
            lines.pop()
        return [line.rstrip("\r") for line in lines]


def read_head(path: Path) -> Head:
    """Decode the first ``HEAD_BYTES`` of ``path``; ``encoding`` is None for binary files."""
    with path.open("rb") as fh:
        raw = fh.read(HEAD_BYTES + 1)
    whole = len(raw) <= HEAD_BYTES
    raw = raw[:HEAD_BYTES]
    encoding = _encoding_of(raw)
    if encoding is None:
        return Head(None, "", whole)
    text = codecs.getincrementaldecoder(encoding.codec)(_ERRORS).decode(raw, final=whole)
    if _looks_binary(text):
        return Head(None, "", whole)
    return Head(encoding, text, whole)


def _encoding_of(raw: bytes) -> Encoding | None:
    for bom, codec, label in _BOMS:
        if raw.startswith(bom):
            return Encoding(codec, label)
    if b"\x00" in raw:
        # UTF-16 without a mark, or else text with some binary lines, or binary: the share
        # of unreadable characters decides between the last two.
        return _utf16_without_bom(raw) or UTF8
    return UTF8


def _utf16_without_bom(raw: bytes) -> Encoding | None:
    """UTF-16 with no byte-order mark: mostly-ASCII text has a zero in every other byte."""
    units = len(raw) // 2
    if units < 2:
        return None
    zeros_even = raw[0 : units * 2 : 2].count(0)
    zeros_odd = raw[1 : units * 2 : 2].count(0)
    if zeros_odd >= units * 0.3 and zeros_even <= units * 0.01:
        return Encoding("utf-16-le", "UTF-16")
    if zeros_even >= units * 0.3 and zeros_odd <= units * 0.01:
        return Encoding("utf-16-be", "UTF-16")
    return None


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ch < " " and ch not in _LAYOUT)
    return controls >= _BINARY_MIN and controls > len(text) * _BINARY_SHARE


def numbered_lines(path: Path, encoding: Encoding) -> Iterator[tuple[int, str, str]]:
    """``(number, text, why)`` for each line; ``why`` says what makes a line unreadable.

    Lines end at ``\\n`` only (a stray ``\\r`` inside a line stays there, as in the byte
    stream). An unreadable line still comes with its text, so that a reader can tell what it
    was (a title or an abstract) and account for the record it spoils.
    """
    with path.open("rb") as raw:
        fh = io.TextIOWrapper(raw, encoding=encoding.codec, errors=_ERRORS, newline="\n")
        n = 0
        while line := fh.readline(MAX_LINE_CHARS):
            n += 1
            if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
                while (rest := fh.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                    pass
                yield n, line, f"line longer than {MAX_LINE_CHARS:,} characters"
                continue
            text = line.rstrip("\r\n")
            yield n, text, unreadable(text, encoding)


def open_text(raw: io.BufferedReader, encoding: Encoding) -> io.TextIOWrapper:
    """``raw`` as text for the csv module (which wants ``newline=""``)."""
    return io.TextIOWrapper(raw, encoding=encoding.codec, errors=_ERRORS, newline="")


def unreadable(text: str, encoding: Encoding) -> str:
    """Why ``text`` (decoded by this module) cannot be used, or ''."""
    if "\x00" in text:
        return "binary data (NUL bytes) in a text file"
    if _UNDECODABLE in text:
        return f"not {encoding.label}"
    return ""


def read_whole(
    path: Path, encoding: Encoding, kind: str, limit: int, report: Callable[[Any], None]
) -> str | None:
    """The whole text of a file whose parser needs it all at once (BibTeX, CSL-JSON), with
    its line ends as written; None after one problem line when it is larger than ``limit``."""
    from rag.sources.record import Problem

    size = path.stat().st_size
    if size > limit:
        report(
            Problem(
                str(path),
                0,
                f"{kind} file of {size / 1e6:,.0f} MB is larger than papers reads at once "
                f"({limit / 1e6:,.0f} MB); split it",
            )
        )
        return None
    with path.open("rb") as raw:
        # newline="" keeps each entry's line ends, so its text is written back as it was.
        return open_text(raw, encoding).read()
