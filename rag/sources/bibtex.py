"""BibTeX: reading a reference manager's .bib export with bibtexparser 2, and writing one entry
as BibTeX (so a paper read from RIS or CSL-JSON can be cited too).

Also the parts the three reference formats share: a ``Reference`` (what a reference manager
says about one paper) becomes a ``Record`` or one problem line, names read "First Last",
and an arXiv id is found in an arXiv DOI or URL.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.middlewares import (
    LatexDecodingMiddleware,
    LatexEncodingMiddleware,
    NormalizeFieldKeys,
    RemoveEnclosingMiddleware,
    ResolveStringReferencesMiddleware,
)
from bibtexparser.middlewares.middleware import BlockMiddleware
from bibtexparser.middlewares.names import (
    parse_single_name_into_parts,
    split_multiple_persons_names,
)
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, Field, ParsingFailedBlock
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from rag.sources.fields import ABSTRACT_MAX_CHARS, TITLE_MAX_CHARS, clean, surrogate, too_long
from rag.sources.record import MissingAbstract, Problem, ProblemSink, Record
from rag.sources.textfile import Encoding, read_whole, unreadable

# bibtexparser logs each broken block at WARNING; with no handler anywhere Python prints that to
# stderr, next to (and unlike) our own one-line problem for the same block. A library's logger
# gets a NullHandler; whoever configures logging still sees the records.
logging.getLogger("bibtexparser").addHandler(logging.NullHandler())

# Parsed whole: bibtexparser 2 has no streaming interface (its splitter works on one string,
# and @string macros and crossrefs reach across the file). Measured on
# tests/fixtures/library/zotero-export.bib (60 entries, 35 KB): 0.15 s and 0.53 MB peak
# (tracemalloc, records included), i.e. about 25 s and 90 MB per 10,000 entries -- a large
# Zotero library is 5,000-20,000 entries. Peak memory is ~16x the file, so a file beyond this
# size (~90,000 entries, ~800 MB) is refused in one line instead of taking the machine's memory.
MAX_WHOLE_FILE_BYTES = 50_000_000

# Fields copied before LaTeX decoding: in a URL or DOI `%` and `_` are characters, not LaTeX
# (decoding cut `https://x.org/a%20b` at the `%`).
_VERBATIM = frozenset({"url", "doi", "eprint", "file"})
_VERBATIM_KEY = "papers.verbatim"
# A parent's fields a crossref child does not inherit: those that name the paper itself. A
# proceedings' DOI or URL taken over by each of its papers would make them one paper.
_NOT_INHERITED = frozenset(
    {"title", "abstract", "doi", "url", "eprint", "archiveprefix", "eprinttype",
     "primaryclass", "keywords", "ids", "crossref", "file", "note", "shorthand"}
)  # fmt: skip
_LATEXY = re.compile(r"[\\{}$~%&#^_]|--|``|''|[?!]`")
_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^?#\s]+?)(?:\.pdf)?$", re.I)


@dataclass(frozen=True)
class Reference:
    """What a reference manager says about one paper, before it is checked."""

    key: str | None
    line: int
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    doi: str | None = None
    url: str | None = None
    arxiv_id: str | None = None
    keywords: tuple[str, ...] = field(default_factory=tuple)


def to_record(
    ref: Reference, where: str, source: str, bibtex: str | None, report: ProblemSink
) -> Record | None:
    """The record, or None after reporting the one problem that cost it."""
    name = f"`{ref.key}`" if ref.key else f"entry {clean(ref.title)[:60]!r}"
    title, abstract = clean(ref.title), clean(ref.abstract)
    why = ""
    if bad := surrogate(title + abstract):
        why = f"{name} holds a lone surrogate ({bad}), not text; skipped"
    elif not title:
        why = f"{name} has no title; skipped"
    elif not abstract:
        missing = f"{name} has no abstract; skipped (papers answers from abstracts)"
        rec = to_record(replace(ref, abstract="-"), where, source, bibtex, report)
        rec = rec and replace(rec, abstract="")
        report(MissingAbstract(where, ref.line, missing, rec))
        return None
    elif len(title) > TITLE_MAX_CHARS:
        why = too_long("title", title, TITLE_MAX_CHARS)
    elif len(abstract) > ABSTRACT_MAX_CHARS:
        why = too_long("abstract", abstract, ABSTRACT_MAX_CHARS)
    if why:
        report(Problem(where, ref.line, why))
        return None

    def text(value: str | None) -> str | None:
        return clean(value) or None if value and not surrogate(value) else None

    def texts(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in map(text, values) if t)

    doi, url = text(ref.doi), text(ref.url)
    return Record(
        title=title,
        abstract=abstract,
        source=source,
        line=ref.line,
        authors=texts(ref.authors),
        year=ref.year if ref.year is None or 1800 <= ref.year < 2100 else None,
        arxiv_id=text(ref.arxiv_id) or arxiv_id_in(doi, url),
        doi=doi,
        url=url,
        categories=texts(ref.keywords),
        citekey=text(ref.key),
        bibtex=bibtex if bibtex and not surrogate(bibtex) and "\x00" not in bibtex else None,
    )


def arxiv_id_in(doi: str | None, url: str | None) -> str | None:
    """The arXiv id an arXiv DOI (10.48550/arXiv.X) or abstract URL names, else None."""
    for pattern, value in ((_ARXIV_DOI, doi), (_ARXIV_URL, url)):
        if value and (m := pattern.search(value.strip())):
            return arxiv_id(m.group(1))
    return None


def arxiv_id(text: str) -> str | None:
    """``2306.00978`` from ``arXiv:2306.00978 [cs]``, ``2306.00978v2``; None if none is there."""
    m = _ARXIV_ID.search(text)
    return m.group(1) if m else None


def person_name(name: str) -> str:
    """ "Last, First" (or "von Last, Jr, First") as "First von Last, Jr"; other names as given."""
    name = clean(name)
    if "," not in name:
        return name
    try:
        return clean(parse_single_name_into_parts(name, strict=False).merge_first_name_first)
    except ValueError:  # InvalidNameError, e.g. more commas than BibTeX allows
        return name


def made_key(ref: Reference) -> str:
    """A key for an entry its manager gave none, as Better BibTeX makes them: last name, year,
    first long title word, in ASCII."""
    last = ref.authors[0].split()[-1] if ref.authors else "anon"
    word = next((w for w in re.findall(r"\w{4,}", ref.title)), "paper")
    ascii_ = unicodedata.normalize("NFKD", f"{last}{ref.year or ''}{word}").encode(
        "ascii", "ignore"
    )
    return re.sub(r"[^a-z0-9]", "", ascii_.decode().lower()) or "paper"


def keywords_in(text: str) -> tuple[str, ...]:
    return tuple(k for k in (clean(s) for s in re.split(r"[,;]", text)) if k)


def render_bibtex(entry_type: str, key: str, fields: Mapping[str, str]) -> str:
    """One entry as BibTeX, written by bibtexparser: text fields LaTeX-encoded (so `%`, `&`, `{`
    and accents are safe for BibTeX), URL/DOI/eprint fields as they are."""
    text = [Field(k, v) for k, v in fields.items() if v and k not in _VERBATIM]
    encoded = LatexEncodingMiddleware().transform(Library([Entry(entry_type, key, text)]))
    latex = {f.key: f.value for f in encoded.entries[0].fields}
    entry = Entry(entry_type, key, [Field(k, latex.get(k, v)) for k, v in fields.items() if v])
    return bibtexparser.write_string(Library([entry])).strip() + "\n"


# -- reading .bib ----------------------------------------------------------------------


class _KeepVerbatim(BlockMiddleware):
    """Keeps URL/DOI/eprint fields as written, before LaTeX decoding sees them."""

    def transform_entry(self, entry: Entry, library: Library) -> Entry:
        kept = {f.key: f.value for f in entry.fields if f.key in _VERBATIM}
        entry.parser_metadata[_VERBATIM_KEY] = {k: v for k, v in kept.items() if isinstance(v, str)}
        return entry


class _Decoder(LatexNodes2Text):
    """pylatexenc's LaTeX-to-text, skipped for text with nothing LaTeX would change.

    Decoding is 95% of reading a .bib (measured: 0.95 s for the 60-entry fixture, 4 ms a
    field, most of it building pylatexenc's parser per field), and most fields are plain
    text. A value with no backslash, brace, math, tie, special character, dash pair or
    quote pair decodes to itself, so it is returned as it is: 3x faster on the fixture, with
    the same records (tests/sources/test_reference_formats.py).
    """

    def latex_to_text(self, latex: str, **kwargs: object) -> str:
        if not _LATEXY.search(latex):
            return latex
        return super().latex_to_text(latex, **kwargs)


def _decoder() -> LatexNodes2Text:
    # As LatexDecodingMiddleware builds its own when given none (URLs not wrapped in <>).
    context = get_default_latex_context_db()
    context.add_context_category(
        "bibtexparse-default-context",
        prepend=True,
        macros=[MacroTextSpec("url", simplify_repl="%s")],
    )
    return _Decoder(latex_context=context, keep_braced_groups=False, math_mode="verbatim")


def _parse_stack() -> list:
    return [
        NormalizeFieldKeys(),
        ResolveStringReferencesMiddleware(),
        RemoveEnclosingMiddleware(),
        _KeepVerbatim(),
        LatexDecodingMiddleware(decoder=_decoder()),
    ]


@dataclass(frozen=True)
class BibEntry:
    """One parsed entry: its key, 1-based line, fields as read (decoded, macros resolved, crossref
    fields inherited) and its text exactly as in the file."""

    key: str
    entry_type: str
    line: int
    fields: dict[str, str]
    raw: str


def parse_bibtex(text: str, where: str, report: ProblemSink) -> list[BibEntry]:
    """The entries of a BibTeX text; each broken block or duplicate key costs one problem."""
    try:
        library = bibtexparser.parse_string(text, parse_stack=_parse_stack())
    except (Exception, RecursionError) as exc:  # noqa: BLE001
        # bibtexparser's own internal errors ("please report this issue") cost the file, not
        # the run; its errors about the input come back as failed blocks, below.
        report(Problem(where, 0, f"bibtexparser could not read this file ({exc}); skipped"))
        return []
    for block in library.failed_blocks:
        report(Problem(where, (block.start_line or 0) + 1, _failure(block)))
    entries = []
    by_key = {e.key.casefold(): e for e in library.entries}
    for e in library.entries:
        fields = {f.key: f.value for f in e.fields if isinstance(f.value, str)}
        fields.update(e.parser_metadata.get(_VERBATIM_KEY, {}))
        line = (e.start_line or 0) + 1
        if parent_key := fields.get("crossref"):
            parent = by_key.get(parent_key.strip().casefold())
            if parent is None:
                report(
                    Problem(
                        where,
                        line,
                        f"`{e.key}`: crossref `{parent_key}` is not in this file; read without it",
                    )
                )
            else:
                _inherit(fields, parent)
        entries.append(BibEntry(e.key, e.entry_type.lower(), line, fields, e.raw or ""))
    return entries


def _failure(block: ParsingFailedBlock) -> str:
    if isinstance(block, DuplicateBlockKeyBlock):
        first = getattr(block.previous_block, "start_line", None)
        at = f" (first at line {first + 1})" if first is not None else ""
        return f"duplicate key `{block.key}`{at}; entry skipped"
    why = getattr(block.error, "abort_reason", "") or str(block.error)
    why = clean(why.split("\n")[-1] if why else "not BibTeX")
    return f"broken BibTeX entry ({why[:200]}); entry skipped"


def _inherit(fields: dict[str, str], parent: Entry) -> None:
    """Crossref as BibTeX does it: a field the child lacks comes from the parent; the
    parent's title is the child's booktitle. bibtexparser 2.1 leaves crossref unresolved
    (a TODO in its interpolate middleware), hence done here."""
    for f in parent.fields:
        if isinstance(f.value, str) and f.key not in _NOT_INHERITED:
            fields.setdefault(f.key, f.value)
    title = parent.fields_dict.get("title")
    if title is not None and isinstance(title.value, str):
        fields.setdefault("booktitle", title.value)


def reference_of(entry: BibEntry) -> Reference:
    f = entry.fields
    eprint = f.get("eprint", "")
    prefix = (f.get("archiveprefix") or f.get("eprinttype") or "").strip().casefold()
    arxiv = arxiv_id(eprint) if prefix == "arxiv" or eprint.lower().startswith("arxiv:") else None
    year_text = f.get("year") or f.get("date") or ""
    year = re.search(r"(1[89]|20)\d\d", year_text)
    return Reference(
        key=entry.key,
        line=entry.line,
        title=f.get("title", ""),
        abstract=f.get("abstract", ""),
        authors=tuple(person_name(n) for n in split_multiple_persons_names(f.get("author", ""))),
        year=int(year.group(0)) if year else None,
        doi=f.get("doi"),
        url=f.get("url"),
        arxiv_id=arxiv,
        keywords=keywords_in(f.get("keywords", "")),
    )


def read_bibtex(
    path: Path, encoding: Encoding, source: str, report: ProblemSink
) -> Iterator[Record]:
    """A .bib file: one record per entry with an abstract; each entry's text is kept as is."""
    where = str(path)
    text = read_whole(path, encoding, "BibTeX", MAX_WHOLE_FILE_BYTES, report)
    if text is None:
        return
    for entry in parse_bibtex(text, where, report):
        if why := unreadable(entry.raw, encoding):
            report(Problem(where, entry.line, f"`{entry.key}`: {why}; entry skipped"))
            continue
        rec = to_record(reference_of(entry), where, source, entry.raw, report)
        if rec is not None:
            yield rec
