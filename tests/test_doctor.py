"""`Library.check()` (papers doctor): every disagreement between the catalogue, Chroma and
BM25 is reported in one line saying what to do, and ``repair`` fixes it."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.errors import StoreBusy
from tests.conftest import seed_records


@pytest.fixture
def lib(library, slice_file):
    library.ingest([slice_file(8)])
    return library


def exact(lib) -> None:
    cat = lib.storage.catalogue
    ids = lib.storage.vectors.all_ids()
    assert len(ids) == len(set(ids)) and sorted(ids) == cat.chunk_ids()


def test_a_fresh_store_is_healthy(lib):
    report = lib.check()
    assert report.healthy and report.problems() == []
    assert (report.papers, report.vectors) == (8, report.chunks)
    assert report.bm25 == "current" and not report.interrupted
    assert report.lines()[-1] == "healthy"
    d = report.to_dict()
    assert d["healthy"] and d["missing_vectors"] == 0 and d["collection"].startswith("papers-")


def test_missing_vectors_are_reported_and_re_embedded(lib):
    lost = lib.storage.catalogue.chunk_ids()[:2]
    lib.storage.vectors.delete(lost)
    report = lib.check()
    assert not report.healthy and report.missing_vectors == tuple(lost)
    (line,) = report.problems()
    assert line.startswith("2 chunks have no vector in ") and "papers doctor --repair" in line
    fixed = lib.repair()
    assert fixed.healthy and fixed.repaired == ("re-embedded 2 chunks that had no vector",)
    exact(lib)
    pid, text = lib.storage.catalogue.chunk_rows(lost[:1])[lost[0]]
    assert lib.search(text, k=1, mode="dense")[0].paper.paper_id == pid


def test_orphan_vectors_are_reported_and_deleted(lib):
    lib.storage.vectors.upsert(["t:ghost#0-abc"], [[0.1] * 384], ["t:ghost"])
    report = lib.check()
    assert report.orphan_vectors == ("t:ghost#0-abc",)
    assert "belong to no paper" in report.problems()[0]
    fixed = lib.check(repair=True)
    assert fixed.healthy and fixed.repaired == ("deleted 1 vectors that belong to no paper",)
    exact(lib)


def test_bm25_from_an_older_tokenizer_is_reported_and_rebuilt(lib):
    meta_path = lib.store_dir / "bm25" / "ids.json"
    meta = json.loads(meta_path.read_text())
    meta["tokenizer"] = "words+parts+snowball-en/1"
    meta_path.write_text(json.dumps(meta))
    report = lib.check()
    assert report.bm25 == "outdated"
    assert report.problems() == [
        "the BM25 index is from an older version of papers (it splits words differently); "
        "`papers doctor --repair` rebuilds it"
    ]
    fixed = lib.repair()
    assert fixed.healthy and fixed.repaired == ("rebuilt the BM25 index from the catalogue",)


def test_missing_or_stale_bm25_is_rebuilt(lib):
    shutil.rmtree(lib.store_dir / "bm25")
    report = lib.check()
    assert report.bm25 == "missing"
    assert report.problems() == ["the BM25 index is missing; `papers doctor --repair` rebuilds it"]
    assert lib.repair().healthy
    # The catalogue moves on (a new source for a paper) without the index being saved.
    pid = next(iter(lib.storage.catalogue.hashes()))
    lib.storage.catalogue.update_sources({pid: ["elsewhere.jsonl"]})
    assert lib.check().bm25 == "stale"
    fixed = lib.repair()
    assert fixed.healthy and fixed.repaired == ("rebuilt the BM25 index from the catalogue",)
    title = seed_records("000")[3].title
    assert lib.search(title, k=1, mode="bm25")[0].paper.title == title


def test_an_interrupted_ingest_is_reported_and_finished(lib):
    lib.storage.catalogue.set_meta("pending", "1")
    lib.storage.vectors.upsert(["t:half-written#0-abc"], [[0.2] * 384], ["t:half-written"])
    report = lib.check()
    assert report.interrupted and len(report.problems()) == 2
    fixed = lib.repair()
    assert fixed.healthy and not fixed.interrupted
    assert lib.storage.catalogue.get_meta("pending") == "0"
    exact(lib)


def test_check_waits_for_no_writer(lib, open_library):
    other = open_library(lib.store_dir)
    with other.storage.writing():
        with pytest.raises(StoreBusy):
            lib.check()


def test_another_embedders_store_is_reported_not_repaired(lib):
    lib.storage.catalogue.set_meta("embedder", "ollama:other")
    report = lib.repair()
    assert not report.healthy and report.repaired == ()
    assert "papers ingest --rebuild" in report.embedder_problem


def test_next_ingest_re_embeds_vectors_lost_since(lib, slice_file):
    lib.storage.vectors.reopen()
    shutil.rmtree(lib.store_dir / "chroma")
    rep = lib.ingest([slice_file(8)])
    assert (rep.added, rep.unchanged) == (0, 8)
    exact(lib)
    assert lib.check().healthy


@pytest.mark.slow
def test_papers_doctor_command_reports_and_repairs(tmp_path, slice_file):
    import subprocess
    import sys

    def papers(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rag", *args], capture_output=True, text=True, timeout=300
        )

    store = tmp_path / "store"
    assert papers("ingest", "--store", str(store), str(slice_file(5))).returncode == 0
    healthy = papers("doctor", "--store", str(store))
    assert healthy.returncode == 0 and healthy.stdout.strip().endswith("healthy"), healthy
    shutil.rmtree(store / "bm25")
    sick = papers("doctor", "--store", str(store))
    assert sick.returncode == 3, sick
    assert "problem     the BM25 index is missing" in sick.stdout
    fixed = papers("doctor", "--repair", "--store", str(store))
    assert fixed.returncode == 0 and "repaired" in fixed.stdout, fixed
    assert papers("doctor", "--json", "--store", str(store)).returncode == 0
