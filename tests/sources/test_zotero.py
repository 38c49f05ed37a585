"""The Zotero reader on a real ``zotero.sqlite`` layout: items, collections, locks, damage."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import bibtexparser
import pytest

from rag.sources.record import Problem, Record
from rag.sources.zotero import NOT_ZOTERO, is_sqlite, looks_like_zotero, read_zotero
from tests.fixtures.zotero.make_zotero import build

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "zotero" / "zotero.sqlite"
READ_ITEMS = {1, 2, 3, 8, 9, 11, 12, 14}  # the fixture's papers with an abstract


def read(path: Path) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    records = list(read_zotero(path, None, path.name, problems.append))
    return records, problems


def by_item(records: list[Record]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {}
    for r in records:
        out.setdefault(r.line, []).append(r)
    return out


@pytest.fixture
def library_file(tmp_path: Path) -> Path:
    """A private copy of the fixture, as the user's ``~/Zotero/zotero.sqlite``."""
    dest = tmp_path / "Zotero" / "zotero.sqlite"
    dest.parent.mkdir()
    shutil.copyfile(FIXTURE, dest)
    return dest


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_committed_fixture_is_what_the_script_builds(tmp_path: Path) -> None:
    def dump(p: Path) -> list[str]:
        conn = sqlite3.connect(p)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    assert dump(build(tmp_path / "fresh.sqlite")) == dump(FIXTURE)


def test_reads_papers_and_passes_over_notes_attachments_trash_and_feeds() -> None:
    records, problems = read(FIXTURE)
    items = by_item(records)
    assert set(items) == READ_ITEMS
    # Item 2 is in two collections: one record per collection, 9 in all.
    assert len(records) == 9
    assert [str(p) for p in problems] == [
        f"{FIXTURE}:item 7: title 'An Article Without an Abstract' has no abstract; skipped"
    ]
    titles = {r.title for r in records}
    assert "Full Text PDF" not in titles  # attachment
    assert "A Paper the User Threw Away" not in titles  # trash
    assert "A Feed Item" not in titles  # RSS feed library


def test_collections_are_sources() -> None:
    items = by_item(read(FIXTURE)[0])
    sources = {i: sorted(r.source for r in rs) for i, rs in items.items()}
    assert sources == {
        1: ["zotero:Vision"],
        2: ["zotero:Language Models/Quantization", "zotero:To Read"],
        3: ["zotero:Chemistry"],
        8: ["zotero:Language Models"],
        9: ["zotero:Library"],  # in no collection
        11: ["zotero:Language Models/Quantization"],
        12: ["zotero:Lab Group/Shared Reading"],  # a group library's collection
        14: ["zotero:Library"],  # its only collection is in the trash
    }
    # The two records of one item are the same paper.
    a, b = items[2]
    assert (a.title, a.abstract, a.citekey, a.bibtex) == (b.title, b.abstract, b.citekey, b.bibtex)


def test_authors_in_zotero_order_and_only_authors() -> None:
    items = {i: rs[0] for i, rs in by_item(read(FIXTURE)[0]).items()}
    assert items[1].authors == ("Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun")
    # Stored with orderIndex running against insertion order.
    assert items[11].authors == (
        "Elias Frantar",
        "Saleh Ashkboos",
        "Torsten Hoefler",
        "Dan Alistarh",
    )
    # Non-ASCII names, and a single-field name as stored.
    assert items[3].authors == ("Jörg Müller", "Zoë Çelik", "李明")
    # The editor is not an author; an institutional author keeps its one name.
    assert items[9].authors == ("OpenAI", "Tom Brown")


def test_fields_tags_years_and_ids() -> None:
    items = {i: rs[0] for i, rs in by_item(read(FIXTURE)[0]).items()}
    he = items[1]
    assert he.title == "Deep Residual Learning for Image Recognition"
    assert he.abstract.startswith("Deeper neural networks are more difficult to train.")
    assert (he.year, he.doi, he.url) == (
        2016,
        "10.1109/CVPR.2016.90",
        "https://doi.org/10.1109/CVPR.2016.90",
    )
    assert he.categories == ("residual networks", "vision")
    assert he.arxiv_id is None
    assert items[2].arxiv_id == "2306.00978"  # archiveID, extra and DOI agree
    assert items[8].arxiv_id == "2106.09685"  # only the "arXiv:" line in extra
    assert items[3].year == 2020  # typed as 15/03/2020
    assert items[9].year == 2020  # only a year


def test_citekey_from_better_bibtex_else_item_key() -> None:
    items = {i: rs[0] for i, rs in by_item(read(FIXTURE)[0]).items()}
    assert items[3].citekey == "muller2020graphs"
    assert items[1].citekey == "RESN4X7K"
    assert items[2].citekey == "AWQ9QZ3M"


def test_bibtex_keeps_every_field_read() -> None:
    items = {i: rs[0] for i, rs in by_item(read(FIXTURE)[0]).items()}
    [muller] = bibtexparser.parse_string(items[3].bibtex or "").entries
    assert (muller.entry_type, muller.key) == ("article", "muller2020graphs")
    f = {k: v.value for k, v in muller.fields_dict.items()}
    assert f["author"] == "Müller, Jörg and Çelik, Zoë and {李明}"
    assert f["journal"] == "Journal of Chemical Learning"
    assert (f["volume"], f["number"], f["year"], f["date"]) == ("12", "3", "2020", "2020-03-15")
    assert f["note"] == "tex.shorttitle: Graph networks"  # the citekey line became the key
    assert f["keywords"] == "chemistry"

    [awq] = bibtexparser.parse_string(items[2].bibtex or "").entries
    f = {k: v.value for k, v in awq.fields_dict.items()}
    assert (awq.entry_type, f["eprint"], f["archiveprefix"]) == ("misc", "2306.00978", "arXiv")
    assert (f["doi"], f["publisher"], f["urldate"]) == (
        "10.48550/arXiv.2306.00978",
        "arXiv",
        "2024-01-15 10:00:00",
    )
    assert f["abstract"] == items[2].abstract
    assert "note" not in f  # extra held only the arXiv line

    [gpt3] = bibtexparser.parse_string(items[9].bibtex or "").entries
    f = {k: v.value for k, v in gpt3.fields_dict.items()}
    assert gpt3.entry_type == "inproceedings"
    assert (f["author"], f["editor"]) == ("{OpenAI} and Brown, Tom", "Larochelle, Hugo")
    assert f["booktitle"] == "Advances in Neural Information Processing Systems"


def test_unbalanced_braces_and_bad_utf8_do_not_spoil_the_item(library_file: Path) -> None:
    conn = sqlite3.connect(library_file)
    conn.execute(
        "UPDATE itemDataValues SET value = 'A {Broken Title' WHERE valueID = "
        "(SELECT valueID FROM itemData WHERE itemID = 1 AND fieldID = 1)"
    )
    # Latin-1 bytes stored as TEXT, which sqlite3 cannot decode as UTF-8 by default.
    conn.execute(
        "UPDATE itemDataValues SET value = CAST(X'4dfc6c6c6572' AS TEXT) WHERE valueID = "
        "(SELECT valueID FROM itemData WHERE itemID = 3 AND fieldID = 38)"
    )
    conn.commit()
    conn.close()
    records, problems = read(library_file)
    items = {i: rs[0] for i, rs in by_item(records).items()}
    assert set(items) == READ_ITEMS and len(problems) == 1
    assert items[1].title == "A {Broken Title"
    [entry] = bibtexparser.parse_string(items[1].bibtex or "").entries
    assert entry.fields_dict["title"].value == "A Broken Title"
    assert entry.fields_dict["doi"].value == "10.1109/CVPR.2016.90"  # the rest of the entry
    [entry] = bibtexparser.parse_string(items[3].bibtex or "").entries
    assert entry.fields_dict["journal"].value == "M\ufffdller"


def test_reads_while_zotero_holds_a_write_lock_and_leaves_the_file_alone(
    library_file: Path,
) -> None:
    before = snapshot(library_file.parent)
    zotero = sqlite3.connect(library_file, isolation_level=None)
    try:
        zotero.execute("BEGIN EXCLUSIVE")
        zotero.execute("DELETE FROM itemData WHERE itemID = 1")  # not committed
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(library_file, timeout=0).execute("SELECT 1 FROM items").fetchall()
        assert looks_like_zotero(library_file)
        records, problems = read(library_file)
        assert set(by_item(records)) == READ_ITEMS and len(problems) == 1
        during = snapshot(library_file.parent)
    finally:
        zotero.execute("ROLLBACK")
        zotero.close()
    # The journal Zotero's transaction made is its own; the database file was not touched.
    assert during["zotero.sqlite"] == before["zotero.sqlite"]
    assert snapshot(library_file.parent) == before


def test_reads_changes_still_in_the_write_ahead_log(library_file: Path) -> None:
    # Recent Zotero (db.js): WAL with an exclusive lock, so no -shm; new writes only in -wal.
    zotero = sqlite3.connect(library_file, isolation_level=None)
    try:
        zotero.execute("PRAGMA journal_mode=WAL")
        zotero.execute("PRAGMA locking_mode=EXCLUSIVE")
        zotero.execute(
            "UPDATE itemDataValues SET value = 'Residual Learning, Renamed' WHERE valueID = "
            "(SELECT valueID FROM itemData WHERE itemID = 1 AND fieldID = 1)"
        )
        assert (library_file.parent / "zotero.sqlite-wal").stat().st_size > 0
        before = snapshot(library_file.parent)
        records, _ = read(library_file)
        assert snapshot(library_file.parent) == before
    finally:
        zotero.close()
    assert by_item(records)[1][0].title == "Residual Learning, Renamed"


def test_sqlite_that_is_not_zotero_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.commit()
    conn.close()
    assert is_sqlite(other) and not looks_like_zotero(other)
    records, problems = read(other)
    assert records == []
    assert problems == [Problem(str(other), 0, NOT_ZOTERO)]
    assert "not a Zotero library (no items/itemData tables)" in str(problems[0])


def test_text_file_is_not_zotero(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("SQLite format 3 is what this line says\n")
    assert not is_sqlite(text) and not looks_like_zotero(text)
    records, problems = read(text)  # as with --format zotero
    assert records == []
    assert [p.message for p in problems] == [
        "not an SQLite database, so not Zotero's zotero.sqlite"
    ]


@pytest.mark.parametrize("keep", [100, 8 * 1024, 30 * 1024])
def test_damaged_database_costs_one_problem(library_file: Path, keep: int) -> None:
    with library_file.open("r+b") as fh:
        fh.truncate(keep)
    records, problems = read(library_file)
    assert len(problems) == 1, problems
    assert "cannot read this Zotero database" in problems[0].message
    assert "Check Database Integrity" in problems[0].message
    assert len(records) < 9


def test_missing_file_costs_one_problem(tmp_path: Path) -> None:
    records, problems = read(tmp_path / "zotero.sqlite")
    assert records == []
    assert len(problems) == 1 and "cannot copy the Zotero database" in problems[0].message


def test_stopping_early_removes_the_copy(library_file: Path, tmp_path: Path) -> None:
    import tempfile

    def copies() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("papers-zotero-*"))

    before = copies()
    it: Iterator[Record] = read_zotero(library_file, None, "z", lambda p: None)
    next(it)
    ours = copies() - before
    assert len(ours) == 1 and (next(iter(ours)) / "zotero.sqlite").is_file()
    it.close()  # type: ignore[attr-defined]
    assert not any(c.exists() for c in ours)


def test_ingest_and_search_by_collection(tmp_path: Path, open_library) -> None:
    """Records from the reader through the real ingest, Chroma and a source filter."""
    lib = open_library(tmp_path / "store")
    problems: list[Problem] = []
    pairs = ((str(FIXTURE), r) for r in read_zotero(FIXTURE, None, "", problems.append))
    rep = lib.ingest(records=pairs)
    assert rep.added == 8 and rep.records == 9 and len(problems) == 1
    assert_collection_search(lib)


def assert_collection_search(lib) -> None:
    hits = lib.search(
        "weight quantization of language models",
        k=10,
        filters={"source": "zotero:Language Models/Quantization"},
    )
    assert {h.paper.title.split(":")[0] for h in hits} == {"AWQ", "GPTQ"}
    awq = next(h.paper for h in hits if h.paper.title.startswith("AWQ"))
    assert set(awq.sources) == {"zotero:Language Models/Quantization", "zotero:To Read"}
    assert awq.citekey == "AWQ9QZ3M" and awq.bibtex and awq.arxiv_id == "2306.00978"
    to_read = lib.search("quantization", k=10, filters={"source": "zotero:To Read"})
    assert [h.paper.title.split(":")[0] for h in to_read] == ["AWQ"]
    # A parent collection's name finds its sub-collections' papers too.
    parent = lib.search("language models", k=10, filters={"source": "zotero:Language Models"})
    assert {h.paper.title.split(":")[0] for h in parent} == {"AWQ", "GPTQ", "LoRA"}


def test_papers_ingest_zotero_sqlite(library_file: Path, tmp_path: Path, open_library) -> None:
    """``papers ingest ~/Zotero/zotero.sqlite``: detection and dispatch in the readers."""
    from rag.sources import readers

    assert readers.detect_format(library_file) == "zotero"
    lib = open_library(tmp_path / "store")
    rep = lib.ingest([library_file])
    assert rep.added == 8 and rep.records == 9
    assert [p.message for p in rep.problems] == [
        "title 'An Article Without an Abstract' has no abstract; skipped"
    ]
    assert_collection_search(lib)


def test_the_zotero_copy_of_a_seed_paper_merges_with_it(
    library_file: Path, tmp_path: Path, open_library
) -> None:
    # The seed page has AWQ by title only; Zotero has it with its arXiv id and two collections.
    from tests.conftest import seed_file

    lib = open_library(tmp_path / "store")
    lib.ingest([seed_file("003")])
    (seed_awq,) = lib.storage.catalogue.find_titles("Activation-aware Weight Quantization")
    rep = lib.ingest([library_file])
    assert (rep.added, rep.merged) == (7, 1)
    (awq,) = lib.storage.catalogue.find_titles("Activation-aware Weight Quantization")
    assert awq.paper_id == seed_awq.paper_id and awq.arxiv_id == "2306.00978"
    assert set(awq.sources) == {
        seed_file("003").name,
        "zotero:Language Models/Quantization",
        "zotero:To Read",
    }
