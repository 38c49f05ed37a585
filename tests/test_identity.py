"""One paper wherever it comes from: a listing page (title only), a .bib (DOI, arXiv id), a
Zotero library, an API. Real Chroma and MiniLM through ``Library``; records built directly."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from rag.ids import normalise_title
from rag.sources import Record
from tests.conftest import seed_records, write_jsonl

AWQ_DOI = "10.5555/MLSys.2024.awq"  # made up: the test needs a DOI, not the real one
AWQ_ARXIV = "2306.00978"


@pytest.fixture(scope="module")
def seeds() -> list[Record]:
    """Four seed papers of page 003, AWQ first (titles and abstracts only)."""
    recs = seed_records("003")
    awq = next(r for r in recs if r.title.startswith("AWQ:"))
    return [awq, *[r for r in recs if r is not awq][:3]]


def bib_awq(**changes) -> Record:
    """AWQ as a .bib entry gives it: braces in the title, DOI, versioned eprint, citekey."""
    rec = Record(
        title="{AWQ}: Activation-aware Weight Quantization for {LLM} Compression and Acceleration",
        abstract="Large language models are big. AWQ protects salient weights by activation.",
        source="refs.bib",
        line=7,
        authors=("Lin, Ji", "Tang, Jiaming"),
        year=2024,
        arxiv_id=f"{AWQ_ARXIV}v5",
        doi=AWQ_DOI,
        url="https://proceedings.mlsys.org/awq",
        citekey="lin2024awq",
        bibtex="@inproceedings{lin2024awq,\n  title = {{AWQ}: ...},\n}",
    )
    return replace(rec, **changes)


def stored(lib) -> dict:
    return {p.paper_id: p for p in lib.storage.catalogue.iter_papers()}


def consistent(lib) -> None:
    counts = lib.storage.catalogue.counts()
    assert lib.storage.vectors.count() == counts["chunks"]
    assert sorted(lib.storage.vectors.all_ids()) == lib.storage.catalogue.chunk_texts()[0]


def test_bib_zotero_and_api_records_merge_into_the_stored_seed_paper(library, tmp_path, seeds):
    library.ingest([write_jsonl(tmp_path / "seeds.jsonl", seeds)])
    before = stored(library)
    (seed_id,) = [pid for pid, p in before.items() if p.title == seeds[0].title]
    assert seed_id.startswith("t:")

    rep = library.ingest(records=[("refs.bib", bib_awq())])
    assert (rep.added, rep.merged, rep.chunks_embedded) == (0, 1, 0), rep.summary()
    assert "1 merged" in rep.summary() and not rep.problems
    after = stored(library)
    assert set(after) == set(before)  # ids never change, nothing stored twice
    awq = after[seed_id]
    assert awq.title == seeds[0].title and awq.abstract == seeds[0].abstract  # stored stays
    assert (awq.doi, awq.arxiv_id, awq.year) == (AWQ_DOI, f"{AWQ_ARXIV}v5", 2024)
    assert awq.authors == ("Lin, Ji", "Tang, Jiaming")
    assert awq.url == "https://proceedings.mlsys.org/awq"
    assert awq.citekey == "lin2024awq" and awq.bibtex == bib_awq().bibtex
    assert awq.sources == ("seeds.jsonl", "refs.bib")

    # Zotero knows it by arXiv id (another version, another title); an API by DOI only.
    zotero = Record(
        title="AWQ (preprint)",
        abstract="x",
        source="zotero:1",
        line=0,
        arxiv_id=f"arXiv:{AWQ_ARXIV}v2",
        categories=("cs.CL",),
    )
    api = Record(
        title="AWQ: on-device LLM compression",
        abstract="y",
        source="openalex",
        line=0,
        doi=f"https://doi.org/{AWQ_DOI.upper()}",
    )
    rep = library.ingest(records=[("zotero.sqlite", zotero), ("openalex", api)])
    assert (rep.added, rep.merged, rep.chunks_embedded) == (0, 2, 0), rep.summary()
    awq = stored(library)[seed_id]
    assert awq.sources == ("seeds.jsonl", "refs.bib", "zotero:1", "openalex")
    assert awq.categories == ("cs.CL",)  # filled: the stored paper had none
    assert awq.abstract == seeds[0].abstract
    assert library.paper_count() == 4
    consistent(library)

    # Everything again, and the seeds too: nothing changes, nothing is embedded.
    rep = library.ingest(
        [tmp_path / "seeds.jsonl"],
        records=[("refs.bib", bib_awq()), ("zotero.sqlite", zotero), ("openalex", api)],
    )
    assert (rep.added, rep.updated, rep.sources_updated, rep.chunks_embedded) == (0, 0, 0, 0)
    assert stored(library)[seed_id] == awq


def test_a_conflicting_doi_or_arxiv_id_prevents_a_title_match(library, tmp_path, seeds):
    library.ingest([write_jsonl(tmp_path / "seeds.jsonl", seeds)])
    library.ingest(records=[("refs.bib", bib_awq())])
    same_title = dict(title=seeds[0].title, abstract="Another paper, same title.", line=1)
    other_doi = Record(**same_title, source="a.bib", doi="10.1000/another")
    other_arxiv = Record(**same_title, source="b.bib", arxiv_id="2401.00001")
    for where, rec in (("a.bib", other_doi), ("b.bib", other_arxiv)):
        # One run each: in one run the two would be one paper (neither contradicts the other).
        rep = library.ingest(records=[(where, rec)])
        assert (rep.added, rep.merged) == (1, 0), rep.summary()
    ids = set(stored(library))
    assert {"doi:10.1000/another", "arxiv:2401.00001"} <= ids and len(ids) == 6
    # Without a DOI or arXiv id, the title decides: the first stored paper of that title
    # (the seed's, whose id is this record's too: not a merge across ids).
    plain = Record(**{**same_title, "abstract": seeds[0].abstract}, source="c.jsonl")
    rep = library.ingest(records=[("c.jsonl", plain)])
    assert (rep.added, rep.merged, rep.sources_updated) == (0, 0, 1)
    awq = next(p for p in stored(library).values() if p.doi == AWQ_DOI)
    assert awq.sources[-1] == "c.jsonl"
    consistent(library)


def test_a_record_matching_two_papers_merges_with_the_dois_and_says_so(library, tmp_path, seeds):
    library.ingest([write_jsonl(tmp_path / "seeds.jsonl", seeds)])
    library.ingest(records=[("refs.bib", bib_awq())])
    by_title = {p.title: p.paper_id for p in stored(library).values()}
    awq_id, other_id = by_title[seeds[0].title], by_title[seeds[1].title]
    # DOI says AWQ, the title says another seed paper (which has no DOI to contradict it).
    mixed = Record(title=seeds[1].title, abstract="z", source="mixed.bib", line=12, doi=AWQ_DOI)
    rep = library.ingest(records=[("mixed.bib", mixed)])
    assert (rep.added, rep.merged) == (0, 1)
    assert [str(p) for p in rep.problems] == [
        f"mixed.bib:12: matches {awq_id} by DOI but its title matches {other_id}; "
        f"merged with {awq_id}"
    ]
    papers = stored(library)
    assert "mixed.bib" in papers[awq_id].sources
    assert "mixed.bib" not in papers[other_id].sources


def test_the_first_stored_id_stays_whichever_source_came_first(library, tmp_path, seeds):
    rep = library.ingest(records=[("refs.bib", bib_awq())])
    (bib_id,) = stored(library)
    assert bib_id == f"arxiv:{AWQ_ARXIV}"
    chunks = library.storage.catalogue.chunk_ids_of([bib_id])
    rep = library.ingest([write_jsonl(tmp_path / "seeds.jsonl", seeds)])
    assert (rep.added, rep.merged) == (3, 1), rep.summary()
    awq = stored(library)[bib_id]
    assert awq.abstract == bib_awq().abstract  # the stored abstract stays
    assert awq.sources == ("refs.bib", "seeds.jsonl")
    assert library.storage.catalogue.chunk_ids_of([bib_id]) == chunks
    assert library.paper_count() == 4
    hits = library.search("activation-aware weight quantization salient weights", k=2)
    assert hits[0].paper.paper_id == bib_id and hits[0].paper.citekey == "lin2024awq"
    consistent(library)


def test_one_run_merges_its_own_records_files_first(library, tmp_path, seeds):
    path = write_jsonl(tmp_path / "seeds.jsonl", seeds)
    rep = library.ingest([path], records=[("refs.bib", bib_awq())])
    assert (rep.added, rep.merged, rep.records) == (4, 1, 5), rep.summary()
    awq = next(p for p in stored(library).values() if p.doi == AWQ_DOI)
    assert awq.paper_id.startswith("t:") and awq.abstract == seeds[0].abstract
    assert awq.sources == ("seeds.jsonl", "refs.bib") and awq.citekey == "lin2024awq"


def test_an_edited_input_updates_the_paper_under_its_first_id(library):
    first = bib_awq(arxiv_id=None)
    library.ingest(records=[("refs.bib", first)])
    (pid,) = stored(library)
    assert pid == f"doi:{AWQ_DOI.lower()}"
    # The user added the eprint (a record id of arxiv:...) and rewrote the abstract.
    edited = bib_awq(abstract="A rewritten abstract about activation-aware quantization.")
    rep = library.ingest(records=[("refs.bib", edited)])
    assert (rep.added, rep.updated, rep.merged) == (0, 1, 1), rep.summary()
    (paper,) = stored(library).values()
    assert paper.paper_id == pid and paper.abstract == edited.abstract
    assert paper.arxiv_id == f"{AWQ_ARXIV}v5"
    consistent(library)


# -- a store made before alias keys and citekeys opens, and merges ------------------------

# The catalogue's schema as papers wrote it before this change, word for word.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    paper_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    authors TEXT NOT NULL DEFAULT '[]',
    year INTEGER,
    arxiv_id TEXT,
    doi TEXT,
    url TEXT,
    categories TEXT NOT NULL DEFAULT '[]',
    sources TEXT NOT NULL DEFAULT '[]',
    content_hash TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL REFERENCES papers(paper_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_id);
"""
OLD_COLUMNS = (
    "paper_id, title, abstract, authors, year, arxiv_id, doi, url, categories, sources, "
    "content_hash, updated_at"
)


def make_old_store(store: Path, open_library, seeds, tmp_path) -> None:
    """A store as the previous papers left it: its vectors, and a catalogue of the old schema
    holding the same rows (copied over from one built now)."""
    lib = open_library(store)
    lib.ingest([write_jsonl(tmp_path / "seeds.jsonl", seeds)])
    lib.close()
    lib.storage.vectors.reopen()
    new = store / "library.sqlite"
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.executescript(OLD_SCHEMA)
    db.execute("ATTACH ? AS new", (str(new),))
    db.execute(f"INSERT INTO papers SELECT {OLD_COLUMNS} FROM new.papers")
    db.execute("INSERT INTO chunks SELECT * FROM new.chunks")
    db.execute("INSERT INTO meta SELECT * FROM new.meta WHERE key != 'schema'")
    db.commit()
    db.execute("DETACH new")
    db.close()
    for leftover in store.glob("library.sqlite*"):
        leftover.unlink()
    shutil.copy(old, new)


def test_a_store_from_before_opens_with_citekeys_and_aliases(tmp_path, open_library, seeds, minilm):
    store = tmp_path / "store"
    make_old_store(store, open_library, seeds, tmp_path)
    db = sqlite3.connect(store / "library.sqlite")
    assert "citekey" not in {r[1] for r in db.execute("PRAGMA table_info(papers)")}
    db.close()

    lib = open_library(store)
    assert lib.check().healthy
    papers = stored(lib)
    assert len(papers) == 4
    keys = [p.citekey for p in papers.values()]
    assert all(keys) and len({k.casefold() for k in keys}) == 4
    awq = next(p for p in papers.values() if p.title == seeds[0].title)
    assert awq.citekey == "awqactivation"  # no authors, no year: two title words
    aliases = lib.storage.catalogue.lookup_aliases([f"title:{normalise_title(awq.title)}"])
    assert list(aliases.values()) == [awq.paper_id]

    rep = lib.ingest(records=[("refs.bib", bib_awq())])
    assert (rep.added, rep.merged, rep.chunks_embedded) == (0, 1, 0), rep.summary()
    awq = stored(lib)[awq.paper_id]
    # The user's citekey replaces the generated one; the rest of the paper is merged.
    assert (awq.citekey, awq.doi) == ("lin2024awq", AWQ_DOI)
    assert lib.search(seeds[2].title, k=1)[0].paper.title == seeds[2].title
    assert lib.check().healthy
