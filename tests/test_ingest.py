"""Ingest with real Chroma and real MiniLM on small slices of the seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import EmbedderMismatch, SourceError, StoreBusy, StoreError
from tests.conftest import seed_records, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def papers_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def consistent(lib) -> dict:
    """Chroma holds exactly the catalogue's chunks."""
    counts = lib.storage.catalogue.counts()
    assert lib.storage.vectors.count() == counts["chunks"]
    assert sorted(lib.storage.vectors.all_ids()) == lib.storage.catalogue.chunk_texts()[0]
    return counts


def test_rerun_adds_nothing_and_embeds_nothing(library, slice_file):
    path = slice_file(12)
    first = library.ingest([path])
    assert (first.added, first.updated, first.unchanged) == (12, 0, 0)
    assert first.chunks_embedded >= 12
    again = library.ingest([path])
    assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 12, 0)
    counts = consistent(library)
    assert counts["papers"] == 12 and counts["chunks"] == first.chunks_embedded


def test_changed_abstract_replaces_its_chunks(library, tmp_path):
    recs = seed_records("003")[:8]
    path = write_jsonl(tmp_path / "p.jsonl", recs)
    library.ingest([path])
    target = library.storage.catalogue.find_titles(recs[0].title)[0]
    old_chunks = set(library.storage.catalogue.chunk_ids_of([target.paper_id]))
    changed = [{"title": r.title, "abstract": r.abstract} for r in recs]
    changed[0]["abstract"] = "A rewritten abstract. " + changed[0]["abstract"]
    write_jsonl(path, changed)
    rep = library.ingest([path])
    assert (rep.added, rep.updated, rep.unchanged) == (0, 1, 7)
    new_chunks = set(library.storage.catalogue.chunk_ids_of([target.paper_id]))
    assert new_chunks and not (new_chunks & old_chunks)
    assert not set(library.storage.vectors.all_ids()) & old_chunks
    counts = consistent(library)
    assert counts["papers"] == 8
    assert library.papers([target.paper_id])[target.paper_id].abstract.startswith("A rewritten")


def test_same_paper_from_two_files_is_one_paper_with_both_sources(library, tmp_path):
    recs = seed_records("001")[:5]
    a = write_jsonl(tmp_path / "a.jsonl", recs[:3])
    b = write_jsonl(tmp_path / "b.jsonl", recs[2:])
    rep = library.ingest([a, b])
    assert rep.added == 5 and rep.records == 6
    shared = library.storage.catalogue.find_titles(recs[2].title)
    assert [p.sources for p in shared] == [("a.jsonl", "b.jsonl")]
    consistent(library)
    # Met again later from a third file: only the sources change, nothing is embedded.
    c = write_jsonl(tmp_path / "c.jsonl", recs[:1])
    rep = library.ingest([c])
    assert (rep.unchanged, rep.sources_updated, rep.chunks_embedded) == (1, 1, 0)
    assert library.storage.catalogue.find_titles(recs[0].title)[0].sources == ("a.jsonl", "c.jsonl")


def test_remove_by_source_and_by_paper_id(library, tmp_path):
    recs = seed_records("003")[:6]
    a = write_jsonl(tmp_path / "a.jsonl", recs[:4])
    b = write_jsonl(tmp_path / "b.jsonl", recs[3:])
    library.ingest([a, b])
    gone = library.remove(source="b.jsonl")
    assert sorted(p.title for p in gone) == sorted(r.title for r in recs[4:])
    kept = library.storage.catalogue.find_titles(recs[3].title)[0]
    assert kept.sources == ("a.jsonl",)
    assert consistent(library)["papers"] == 4
    target = library.storage.catalogue.find_titles(recs[0].title)[0]
    gone = library.remove(paper_ids=[target.paper_id])
    assert [p.paper_id for p in gone] == [target.paper_id]
    assert consistent(library)["papers"] == 3
    assert target.paper_id not in {h.paper.paper_id for h in library.search(recs[0].title, k=3)}


def test_embedder_mismatch_is_one_line_naming_the_rebuild(tmp_path, open_library):
    store = tmp_path / "store"
    lib = open_library(store)
    lib.storage.catalogue.set_meta("embedder", "ollama:other")
    lib.storage.catalogue.set_meta("dim", "768")
    with pytest.raises(EmbedderMismatch) as err:
        lib.search("anything")
    msg = str(err.value)
    assert "\n" not in msg
    assert "ollama:other" in msg and "papers ingest --rebuild --embedder minilm" in msg
    with pytest.raises(EmbedderMismatch):
        lib.ingest([write_jsonl(tmp_path / "one.jsonl", seed_records("000")[:1])])


def test_search_finds_a_paper_by_its_title(library, slice_file):
    library.ingest([slice_file(10, "003")])
    awq = "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"
    for mode in ("hybrid", "dense", "bm25"):
        hits = library.search(
            "activation-aware weight quantization for LLM compression", k=3, mode=mode
        )
        assert hits and hits[0].paper.title == awq, mode


@pytest.mark.slow
def test_cli_ingest_reports_bad_lines_and_stats_json(tmp_path):
    recs = seed_records("002")[:4]
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"title": r.title, "abstract": r.abstract}) for r in recs]
    lines.insert(1, '{"title": "broken')
    lines.insert(3, json.dumps({"title": "No abstract here", "abstract": ""}))
    path.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"

    # (A missing path now refuses the whole run before anything is read: rag/sources.)
    run = papers_cli("ingest", "--store", str(store), str(path))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    problem_lines = [ln for ln in run.stderr.splitlines() if ln.startswith("papers: ")]
    assert problem_lines[0].startswith(f"papers: {path}:2: broken JSON")
    assert (
        problem_lines[1] == f"papers: {path}:4: title 'No abstract here' has no abstract; skipped"
    )
    assert len(problem_lines) == 2
    assert any(f"{path}:2:" in ln for ln in problem_lines)
    assert any(f"{path}:4:" in ln for ln in problem_lines)
    assert (
        run.stdout.strip()
        .splitlines()[-1]
        .startswith("ingest: 4 added, 0 updated, 0 unchanged, 2 skipped")
    )

    stats = papers_cli("stats", "--store", str(store), "--json")
    assert stats.returncode == 0, stats.stderr
    st = json.loads(stats.stdout)
    assert {"papers", "chunks", "max_chunk_tokens", "embedder"} <= st.keys()
    assert st["papers"] == 4 and st["chunks"] >= 4
    assert 0 < st["max_chunk_tokens"] <= 254
    assert st["embedder"] == "minilm:all-MiniLM-L6-v2"


@pytest.mark.slow
def test_cli_embedder_mismatch_is_one_line_exit_2(tmp_path, open_library):
    store = tmp_path / "store"
    lib = open_library(store)
    lib.storage.catalogue.set_meta("embedder", "ollama:other")
    lib.close()
    run = papers_cli("search", "--store", str(store), "anything")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("papers: ") and "papers ingest --rebuild --embedder minilm" in line


# -- rebuild takes the writer lock first ----------------------------------------------------


def test_rebuild_under_a_running_ingest_refuses_and_keeps_the_store(
    tmp_path, open_library, slice_file
):
    store = tmp_path / "store"
    path = slice_file(12)
    lib = open_library(store)
    lib.ingest([path])
    before = consistent(lib)
    writer = open_library(store)  # stands for another `papers ingest`, holding the lock
    with writer.storage.writing():
        with pytest.raises(StoreBusy) as err:
            lib.rebuild()
        assert "another `papers ingest` is writing to" in str(err.value)
        with pytest.raises(StoreBusy):
            lib.ingest([path], rebuild=True)
    assert open_library(store).paper_count() == 12
    assert consistent(lib) == before
    assert lib.search(seed_records("000")[0].title, k=1, mode="bm25")


def test_ingest_with_rebuild_replaces_the_store(tmp_path, open_library, slice_file):
    lib = open_library(tmp_path / "store")
    lib.ingest([slice_file(6)])
    rep = lib.ingest([slice_file(4, "003")], rebuild=True)
    assert (rep.added, rep.unchanged) == (4, 0)
    assert consistent(lib)["papers"] == 4
    assert lib.check().healthy


def test_rebuild_from_paths_without_papers_leaves_the_store(tmp_path, open_library, slice_file):
    lib = open_library(tmp_path / "store")
    lib.ingest([slice_file(5)])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SourceError) as err:
        lib.ingest([empty], rebuild=True)
    assert "left as it is" in str(err.value) and "\n" not in str(err.value)
    assert consistent(lib)["papers"] == 5


# -- a reader sees every committed paper in BM25 --------------------------------------------


def test_bm25_finds_papers_committed_by_an_ingest_that_died_before_saving_it(
    tmp_path, open_library, slice_file, monkeypatch
):
    store = tmp_path / "store"
    first = open_library(store)
    first.ingest([slice_file(4)])
    recs = seed_records("003")[:8]

    def killed(self):
        raise KeyboardInterrupt  # the process dies after the batches, before BM25 is saved

    monkeypatch.setattr("rag.storage.Storage.rebuild_lexical", killed)
    with pytest.raises(KeyboardInterrupt):
        first.ingest([write_jsonl(tmp_path / "more.jsonl", recs)])
    monkeypatch.undo()

    reader = open_library(store)
    assert reader.paper_count() == 12
    for r in recs:
        hits = reader.search(r.title, k=3, mode="bm25")
        assert hits and hits[0].paper.title == r.title
    # The writer's own process, too, sees them.
    assert first.search(recs[0].title, k=1, mode="bm25")[0].paper.title == recs[0].title


# -- unusable --store paths are one line naming the path -------------------------------------


@pytest.mark.parametrize("kind", ["file", "under a file"])
def test_store_that_cannot_be_a_folder_is_one_line(tmp_path, open_library, slice_file, kind):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    store = blocker if kind == "file" else blocker / "store"
    lib = open_library(store)
    for call in (
        lambda: lib.ingest([slice_file(2)]),
        lambda: lib.search("quantization"),
        lambda: lib.stats(),
        lambda: lib.check(),
    ):
        with pytest.raises(StoreError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and str(store) in msg and "--store" in msg
    assert blocker.read_text() == "a file\n"


# -- one collection per library ---------------------------------------------------------------


def test_new_store_names_its_collection_from_its_library_id(library, slice_file):
    library.ingest([slice_file(3)])
    lid, name = library.storage.identity
    assert lid and name == f"papers-{lid}"
    meta = library.storage.vectors.collection().metadata
    assert meta["library_id"] == lid


def test_store_from_before_library_ids_keeps_its_papers_collection(
    tmp_path, open_library, slice_file
):
    store = tmp_path / "store"
    old = open_library(store, chroma={"collection": "papers"})
    old.ingest([slice_file(5)])
    # Make it look like a store written by be5e778: no library id, an unclaimed collection.
    col = old.storage.vectors.collection()
    col.modify(metadata={"embedder": old.storage.embedder.name, "dim": 384})
    cat = old.storage.catalogue
    cat.db.execute("DELETE FROM meta WHERE key IN ('library_id', 'collection')")
    ids_json = store / "bm25" / "ids.json"
    saved = json.loads(ids_json.read_text())
    del saved["library_id"]
    ids_json.write_text(json.dumps(saved))
    old.close()
    old.storage.vectors.reopen()

    lib = open_library(store)
    lid, name = lib.storage.identity
    assert name == "papers" and lid
    title = seed_records("000")[1].title
    assert lib.search(title, k=1, mode="dense")[0].paper.title == title
    assert lib.storage.vectors.collection().metadata["library_id"] == lid  # claimed
    assert lib.check().healthy


def test_a_reader_open_across_a_rebuild_sees_the_new_store(tmp_path, open_library, slice_file):
    store = tmp_path / "store"
    open_library(store).ingest([slice_file(5)])
    reader = open_library(store)
    old = seed_records("000")[0].title
    assert reader.search(old, k=1)[0].paper.title == old
    open_library(store).ingest([slice_file(4, "003")], rebuild=True)  # another process, say
    new = seed_records("003")[0].title
    for mode in ("hybrid", "dense", "bm25"):
        hits = reader.search(new, k=5, mode=mode)
        assert hits[0].paper.title == new, mode
        assert old not in [h.paper.title for h in hits], mode
    assert reader.paper_count() == 4
