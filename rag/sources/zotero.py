"""Read a Zotero library straight from its ``zotero.sqlite``, without exporting it first.

Zotero keeps its database locked while it runs (``locking_mode=EXCLUSIVE``, and recent
versions keep new changes in a ``-wal`` file until a checkpoint), so the file is copied,
with its ``-wal``, to a temporary folder and the copy is opened read-only. The user's file is
never written: ``read_zotero`` only copies its bytes, ``looks_like_zotero`` opens it read-only.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import bibtexparser
from bibtexparser import model

from rag.ids import normalise_arxiv_id
from rag.sources.fields import ABSTRACT_MAX_CHARS, TITLE_MAX_CHARS, clean, too_long, year_in
from rag.sources.record import MissingAbstract, Problem, ProblemSink, Record
from rag.sources.textfile import Encoding

__all__ = ["NO_COLLECTION", "NOT_ZOTERO", "is_sqlite", "looks_like_zotero", "read_zotero"]

SQLITE_HEADER = b"SQLite format 3\x00"
NO_COLLECTION = "Library"
NOT_ZOTERO = (
    "an SQLite database but not a Zotero library (no items/itemData tables); "
    "papers reads Zotero's zotero.sqlite"
)
# Every Zotero since 2.0 has these; item types and fields are joined by name because Zotero
# numbers them as it loads its global schema, so ids differ between databases.
_NEEDED = frozenset({"items", "itemData", "itemDataValues", "fields", "itemTypes"})
# Child items and annotations hang off a paper; they are not papers.
_NOT_PAPERS = ("note", "attachment", "annotation")

_EXTRA_ARXIV = re.compile(r"^\s*arxiv\s*:\s*(\S+)\s*$", re.I | re.M)
_EXTRA_CITEKEY = re.compile(r"^\s*citation key\s*:\s*(\S+)\s*$", re.I | re.M)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(\S+)$", re.I)
_MULTIPART_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (.*)$", re.S)
# Characters BibTeX ends or splits a key at.
_CITEKEY = re.compile(r"^[^\s,{}()=\"#%'~\\]+$")

# Zotero item type -> BibTeX entry type (Better BibTeX's choices for the common ones).
_ENTRY_TYPES = {
    "journalArticle": "article",
    "magazineArticle": "article",
    "newspaperArticle": "article",
    "conferencePaper": "inproceedings",
    "book": "book",
    "bookSection": "incollection",
    "thesis": "phdthesis",
    "report": "techreport",
    "manuscript": "unpublished",
    "preprint": "misc",
}
# Zotero field -> BibTeX field; any other field keeps its Zotero name, lower-cased.
_BIBTEX_FIELDS = {
    "abstractNote": "abstract",
    "DOI": "doi",
    "publicationTitle": "journal",
    "proceedingsTitle": "booktitle",
    "bookTitle": "booktitle",
    "issue": "number",
    "place": "address",
    "ISSN": "issn",
    "ISBN": "isbn",
    "shortTitle": "shorttitle",
    "accessDate": "urldate",
    "university": "school",
    "repository": "publisher",
    "journalAbbreviation": "shortjournal",
    "conferenceName": "eventtitle",
}


@dataclass(frozen=True)
class _Creator:
    role: str  # Zotero's creatorType: "author", "editor", ...
    first: str
    last: str
    single_field: bool  # fieldMode 1: one name ("OpenAI", "李明")

    @property
    def name(self) -> str:
        return self.last if self.single_field or not self.first else f"{self.first} {self.last}"

    @property
    def bibtex(self) -> str:
        if self.single_field or not self.first:
            return f"{{{self.last}}}"
        return f"{self.last}, {self.first}"


@dataclass(frozen=True)
class _Item:
    item_id: int
    key: str
    type_name: str
    fields: dict[str, str]
    creators: tuple[_Creator, ...]
    tags: tuple[str, ...]
    sources: tuple[str, ...]


def is_sqlite(path: Path) -> bool:
    """True if ``path`` starts with SQLite's 16-byte header (any SQLite database)."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def looks_like_zotero(path: Path) -> bool:
    """True if ``path`` is an SQLite database with Zotero's item tables.

    Opened ``immutable``: SQLite then takes no lock, so this works while Zotero holds its
    exclusive lock, and writes nothing. Immutable mode skips the ``-wal``, which is fine for
    the table list (Zotero creates its tables once) but not for reading items.
    """
    if not is_sqlite(path):
        return False
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            return _NEEDED <= _tables(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def read_zotero(
    path: Path, encoding: Encoding | None, source: str, report: ProblemSink
) -> Iterator[Record]:
    """Yield one record per paper and collection from a Zotero ``zotero.sqlite``.

    Notes, attachments, annotations, items in the trash and RSS feed items are passed over.
    Each collection an item is in is a source, ``"zotero:" + path`` with parent collections
    joined by "/" ("zotero:Language Models/Quantization"), one record each so the paper keeps
    them all; an item in no collection gets ``"zotero:Library"``. Group libraries' names
    come first ("zotero:Lab Group/Shared Reading", or "zotero:Lab Group" for no collection).

    For Zotero the record's ``line`` is the item's ``itemID``, and problems name it:
    ``zotero.sqlite:item 123: title '...' has no abstract; skipped``. The citekey is Better
    BibTeX's "Citation Key:" line in Extra, else the item key; ``bibtex`` renders every
    field read. ``encoding`` and ``source`` are unused: SQLite text is UTF-8 and the
    collections name the sources.
    """
    where = str(path)
    if path.is_file() and not is_sqlite(path):
        report(Problem(where, 0, "not an SQLite database, so not Zotero's zotero.sqlite"))
        return
    with tempfile.TemporaryDirectory(prefix="papers-zotero-") as tmp:
        try:
            copy = _copy(path, Path(tmp))
        except OSError as exc:
            report(Problem(where, 0, f"cannot copy the Zotero database to read it: {_why(exc)}"))
            return
        conn = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)
        # Text that is not UTF-8 costs its characters, not the library.
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
        try:
            if not _NEEDED <= _tables(conn):
                report(Problem(where, 0, NOT_ZOTERO))
                return
            for item in _items(conn):
                yield from _records(item, where, report)
        except sqlite3.DatabaseError as exc:
            report(
                Problem(
                    where,
                    0,
                    f"cannot read this Zotero database ({exc}); the rest of it was skipped. "
                    "Zotero's Settings > Advanced > Files and Folders > Check Database "
                    "Integrity can repair it",
                )
            )
        finally:
            conn.close()


def _copy(path: Path, folder: Path) -> Path:
    """Copy the database and its write-ahead log; Zotero's lock is advisory, so bytes copy.

    A rollback ``-journal`` is not copied: it holds pages of an unfinished write to undo,
    and the copy, read-only, could not undo them; the database as last committed is read.
    """
    copy = folder / "zotero.sqlite"
    shutil.copyfile(path, copy)
    wal = path.with_name(path.name + "-wal")
    if wal.is_file():
        shutil.copyfile(wal, folder / "zotero.sqlite-wal")
    return copy


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _items(conn: sqlite3.Connection) -> Iterator[_Item]:
    tables = _tables(conn)
    creators = _creators(conn) if {"creators", "itemCreators", "creatorTypes"} <= tables else {}
    tags = _tags(conn) if {"tags", "itemTags"} <= tables else {}
    sources = _sources(conn, tables)
    skip = ", ".join(f"'{t}'" for t in _NOT_PAPERS)
    where = [f"t.typeName NOT IN ({skip})"]
    if "deletedItems" in tables:
        where.append("i.itemID NOT IN (SELECT itemID FROM deletedItems)")
    if "feedItems" in tables:
        where.append("i.itemID NOT IN (SELECT itemID FROM feedItems)")
    # One pass over the item data in itemID order, so a large library streams.
    rows = conn.execute(
        "SELECT i.itemID, i.key, t.typeName, i.libraryID, f.fieldName, v.value "
        "FROM items i JOIN itemTypes t ON t.itemTypeID = i.itemTypeID "
        "LEFT JOIN itemData d ON d.itemID = i.itemID "
        "LEFT JOIN fields f ON f.fieldID = d.fieldID "
        "LEFT JOIN itemDataValues v ON v.valueID = d.valueID "
        f"WHERE {' AND '.join(where)} ORDER BY i.itemID"
    )
    libraries = _library_names(conn, tables)
    for item_id, group in groupby(rows, key=lambda r: r[0]):
        first, *rest = list(group)
        fields = {
            name: str(value) for *_, name, value in (first, *rest) if name and value is not None
        }
        library = libraries.get(first[3], "")
        in_collections = sources.get(item_id) or [library or NO_COLLECTION]
        yield _Item(
            item_id=item_id,
            key=first[1],
            type_name=first[2],
            fields=fields,
            creators=tuple(creators.get(item_id, ())),
            tags=tuple(tags.get(item_id, ())),
            sources=tuple(f"zotero:{s}" for s in sorted(set(in_collections))),
        )


def _creators(conn: sqlite3.Connection) -> dict[int, list[_Creator]]:
    out: dict[int, list[_Creator]] = defaultdict(list)
    rows = conn.execute(
        "SELECT ic.itemID, ct.creatorType, c.firstName, c.lastName, c.fieldMode "
        "FROM itemCreators ic JOIN creators c ON c.creatorID = ic.creatorID "
        "JOIN creatorTypes ct ON ct.creatorTypeID = ic.creatorTypeID "
        "ORDER BY ic.itemID, ic.orderIndex"
    )
    for item_id, role, first, last, mode in rows:
        first, last = clean(first or ""), clean(last or "")
        if first or last:
            out[item_id].append(_Creator(role or "author", first, last or first, mode == 1))
    return out


def _tags(conn: sqlite3.Connection) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    rows = conn.execute(
        "SELECT it.itemID, t.name FROM itemTags it JOIN tags t ON t.tagID = it.tagID "
        "ORDER BY it.itemID, t.name"
    )
    for item_id, name in rows:
        if tag := clean(name or ""):
            out[item_id].append(tag)
    return out


def _library_names(conn: sqlite3.Connection, tables: set[str]) -> dict[int, str]:
    """Group libraries' names by libraryID; the user's own library has none."""
    if "groups" not in tables:
        return {}
    return {
        lib: clean(name or "") for lib, name in conn.execute("SELECT libraryID, name FROM groups")
    }


def _sources(conn: sqlite3.Connection, tables: set[str]) -> dict[int, list[str]]:
    """Collection paths ("Parent/Child", under a group's name) each item is in, by itemID.

    Collections in the trash are left out, so an item only in those is in no collection.
    """
    if not {"collections", "collectionItems"} <= tables:
        return {}
    libraries = _library_names(conn, tables)
    trashed: set[int] = set()
    if "deletedCollections" in tables:
        trashed = {r[0] for r in conn.execute("SELECT collectionID FROM deletedCollections")}
    rows = conn.execute(
        "SELECT collectionID, collectionName, parentCollectionID, libraryID FROM collections"
    )
    parent: dict[int, int | None] = {}
    name: dict[int, str] = {}
    library: dict[int, int] = {}
    for cid, cname, pid, lib in rows:
        parent[cid], name[cid], library[cid] = pid, clean(cname or "") or "?", lib
    paths: dict[int, str] = {}
    for cid in name:
        chain: list[str] = []
        node: int | None = cid
        # A parent chain that loops (a damaged database) stops where it comes round again.
        while node is not None and node in name and len(chain) <= len(name):
            if node in trashed:
                chain = []
                break
            chain.append(name[node])
            node = parent[node]
        if chain:
            group = libraries.get(library[cid])
            paths[cid] = "/".join(([group] if group else []) + chain[::-1])
    out: dict[int, list[str]] = defaultdict(list)
    for cid, item_id in conn.execute("SELECT collectionID, itemID FROM collectionItems"):
        if cid in paths:
            out[item_id].append(paths[cid])
    return out


def _records(item: _Item, where: str, report: ProblemSink) -> Iterator[Record]:
    at = f"{where}:item {item.item_id}"
    f = item.fields
    title = clean(f.get("title", ""))
    abstract = clean(f.get("abstractNote", ""))
    why = ""
    if not title:
        why = "no title; skipped"
    elif len(title) > TITLE_MAX_CHARS:
        why = too_long("title", title, TITLE_MAX_CHARS)
    elif len(abstract) > ABSTRACT_MAX_CHARS:
        why = too_long("abstract", abstract, ABSTRACT_MAX_CHARS)
    if why:
        report(Problem(at, 0, why))
        return
    extra = f.get("extra", "")
    arxiv_id = _arxiv_id(f, extra)
    citekey = _citekey(f, extra) or item.key
    year, date = _date(f.get("date", ""))
    authors = tuple(c.name for c in item.creators if c.role == "author")
    bibtex = _bibtex(item, citekey, arxiv_id, year, date, extra)
    for i, source in enumerate(item.sources):
        rec = Record(
            title=title,
            abstract=abstract,
            source=source,
            line=item.item_id,
            authors=authors,
            year=year,
            arxiv_id=arxiv_id,
            doi=clean(f.get("DOI", "")) or None,
            url=clean(f.get("url", "")) or None,
            categories=item.tags,
            citekey=citekey,
            bibtex=bibtex,
        )
        if abstract:
            yield rec
        elif i == 0:
            # Skipped, but carried for `papers ingest --enrich` (rag.remote.enrich).
            why = f"title {title[:60]!r} has no abstract; skipped"
            report(MissingAbstract(at, 0, why, rec))


def _arxiv_id(f: dict[str, str], extra: str) -> str | None:
    """From the preprint's Archive ID, an "arXiv:" line in Extra, or an arXiv DOI."""
    candidates = [f.get("archiveID", ""), *_EXTRA_ARXIV.findall(extra)]
    if m := _ARXIV_DOI.match(f.get("DOI", "").strip()):
        candidates.append(m.group(1))
    for raw in candidates:
        if aid := normalise_arxiv_id(raw):
            return aid
    return None


def _citekey(f: dict[str, str], extra: str) -> str | None:
    # Newer Zotero schemas have a citationKey field; Better BibTeX writes Extra's line.
    for raw in (f.get("citationKey", ""), *_EXTRA_CITEKEY.findall(extra)):
        if _CITEKEY.match(raw.strip()):
            return raw.strip()
    return None


def _date(stored: str) -> tuple[int | None, str]:
    """``(year, date)`` from Zotero's stored date.

    Zotero stores "2016-06-00 June 2016": the parsed date (zeros where unknown), a space,
    and the date as typed. ``date`` is the parsed part trimmed of unknowns ("2016-06"), or
    the typed text if Zotero could not parse it ("0000-00-00 Spring term").
    """
    stored = stored.strip()
    m = _MULTIPART_DATE.match(stored)
    if not m:
        return year_in(stored) if stored else None, clean(stored)
    y, mo, d, typed = m.groups()
    if y == "0000":
        return year_in(typed), clean(typed)
    parts = [y] if mo == "00" else [y, mo] if d == "00" else [y, mo, d]
    return int(y), "-".join(parts)


def _bibtex(
    item: _Item, citekey: str, arxiv_id: str | None, year: int | None, date: str, extra: str
) -> str:
    """The item as one BibTeX entry, every field read kept, for writing back when citing."""
    fields: dict[str, str] = {}
    roles: dict[str, list[str]] = defaultdict(list)
    for c in item.creators:
        roles[c.role].append(c.bibtex)
    for role, names in roles.items():
        fields[role.lower()] = " and ".join(names)
    for name, value in sorted(item.fields.items()):
        if name in ("date", "extra", "archiveID"):
            continue
        key = _BIBTEX_FIELDS.get(name, name.lower())
        if key in fields:  # two Zotero fields with one BibTeX name: keep both
            key = name.lower()
        fields[key] = clean(value)
    if year is not None:
        fields["year"] = str(year)
    if date:
        fields["date"] = date
    if arxiv_id:
        fields["eprint"] = arxiv_id
        fields["archiveprefix"] = "arXiv"
    rest = _EXTRA_ARXIV.sub("", _EXTRA_CITEKEY.sub("", extra)).strip()
    if rest:
        fields["note"] = rest
    if item.tags:
        fields["keywords"] = ", ".join(item.tags)
    entry = model.Entry(
        _ENTRY_TYPES.get(item.type_name, "misc"),
        citekey,
        [model.Field(k, _braced(v)) for k, v in fields.items() if v],
    )
    return bibtexparser.write_string(bibtexparser.Library([entry])).strip()


def _braced(value: str) -> str:
    """``value`` safe inside BibTeX's braces: unbalanced braces would end the field early
    or swallow the rest of the entry, so those (and only those) are dropped."""
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth == 0:
        return value
    return value.replace("{", "").replace("}", "")
