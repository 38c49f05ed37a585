"""The relevance rule that decides when to decline, through the real parts: a library of seed
page 003 (74 papers, AWQ among them), `papers ask` / `papers search` and ``Library.ask``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.lexical import TOKENIZER, LexicalIndex, tokenize
from rag.prompts import NOT_IN_LIBRARY
from rag.retrieve import fuse_convex
from tests.conftest import seed_file

AWQ = "How does AWQ decide which weights to protect?"
AWQ_TITLE = "AWQ: Activation-aware Weight Quantization"
OFF = "How does AlphaFold predict protein structures from amino acid sequences?"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def store(tmp_path_factory, open_library) -> Path:
    path = tmp_path_factory.mktemp("abstain") / "store"
    lib = open_library(path)
    rep = lib.ingest([seed_file("003")])
    assert rep.added == 74 and not rep.problems, rep.summary()
    lib.close()
    return path


@pytest.fixture
def lib(store, open_library):
    return open_library(store)


def test_awq_question_is_answered_with_the_awq_paper(lib):
    # Declined by the old dense-only floor: MiniLM's cosine with the AWQ paper is ~0.37.
    hits = lib.search(AWQ, k=5)
    assert hits[0].paper.title.startswith(AWQ_TITLE)
    assert (hits[0].dense_score or 0) < 0.4
    answer = lib.ask(AWQ, llm="none")
    assert not answer.declined and answer.closest == []
    assert any(c.title.startswith(AWQ_TITLE) for c in answer.citations), answer.citations


def test_off_corpus_question_declines_naming_the_closest_papers(lib):
    answer = lib.ask(OFF, llm="none")
    assert answer.declined and answer.citations == []
    assert answer.text.startswith(NOT_IN_LIBRARY[:-1] + " (closest: ")
    assert "similarity 0." in answer.text and "\n" not in answer.text
    assert 1 <= len(answer.closest) <= 3
    assert answer.closest[0].paper.title[:20] in answer.text
    assert answer.note.startswith("declined: ") and "AlphaFold" in answer.note
    assert answer.to_dict()["closest"][0]["title"] == answer.closest[0].paper.title


def test_no_floor_hands_the_closest_papers_to_the_answer(lib):
    answer = lib.ask(OFF, llm="none", floor=False)
    assert answer.sources and answer.closest == []
    assert "(closest: " not in answer.text


def test_papers_ask_cites_awq(store, capsys):
    assert main(["ask", AWQ, "--store", str(store), "--llm", "none", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["declined"] and data["closest"] == []
    assert any(c["title"].startswith(AWQ_TITLE) for c in data["citations"])


def test_papers_ask_declines_and_no_floor_answers_anyway(store, capsys):
    assert main(["ask", OFF, "--store", str(store), "--llm", "none"]) == 0
    out = capsys.readouterr()
    assert "(closest: " in out.out and "Note: declined: " in out.out
    assert main(["ask", OFF, "--store", str(store), "--llm", "none", "--no-floor"]) == 0
    out = capsys.readouterr()
    assert "(closest: " not in out.out and "[1]" in out.err  # the sources were listed


def test_papers_search_says_when_no_paper_answers(store, capsys):
    assert main(["search", OFF, "--store", str(store), "-k", "2"]) == 0
    out = capsys.readouterr()
    assert "no paper seems to answer this" in out.err and out.out.count("\n") == 2
    assert main(["search", OFF, "--store", str(store), "-k", "2", "--no-floor"]) == 0
    assert "no paper seems" not in capsys.readouterr().err
    assert main(["search", AWQ, "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["declined"] == ""


def test_convex_fusion_keeps_a_standout_bm25_match():
    # Dense ranks the acronym's paper nowhere; BM25 puts it far above the rest.
    dense = [(f"c{i}", f"p{i}", 0.5 - 0.01 * i) for i in range(10)]
    lexical = [("cx", "px", 20.0)] + [(f"c{i}", f"p{i}", 3.0 - 0.1 * i) for i in range(9, 0, -1)]
    fused = fuse_convex(dense, lexical, dense_share=0.6, depth=40)
    assert fused[0].paper_id == "px" and fused[0].dense_rank is None
    assert fused[0].bm25_score == 20.0
    # With no BM25 evidence at all, the dense order stands.
    assert [c.paper_id for c in fuse_convex(dense, [], dense_share=0.6, depth=40)][:3] == [
        "p0",
        "p1",
        "p2",
    ]


def test_tokenizer_stems_and_splits_compounds():
    tokens = tokenize("Pre-trained quantization of the weights")
    assert {"pre", "train", "quantiz", "weight"} <= set(tokens) and "the" not in tokens


def test_an_index_built_by_another_tokenizer_is_not_loaded(tmp_path):
    index = LexicalIndex(tmp_path / "bm25")
    index.build(["c1"], ["p1"], ["quantization of weights"], 3)
    index.save()
    assert LexicalIndex(tmp_path / "bm25").load() and index.saved_stamp()[1] == 3
    meta = json.loads((tmp_path / "bm25" / "ids.json").read_text())
    assert meta["tokenizer"] == TOKENIZER
    meta["tokenizer"] = "older"
    (tmp_path / "bm25" / "ids.json").write_text(json.dumps(meta))
    assert not LexicalIndex(tmp_path / "bm25").load()
    assert index.saved_stamp() == (None, -1)  # so doctor --repair rebuilds it
