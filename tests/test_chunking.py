"""Chunking the whole seed corpus with the real MiniLM tokenizer (no model load)."""

from __future__ import annotations

import pytest

from rag.chunking import Chunker
from rag.embedders import MiniLMEmbedder
from rag.ids import paper_id
from rag.sources import expand_paths, iter_records
from rag.types import Paper


@pytest.fixture(scope="module")
def chunked(seeds_dir):
    emb = MiniLMEmbedder()
    chunker = Chunker(emb.count_tokens, max_tokens=emb.max_tokens, count_many=emb.count_many)
    papers: dict[str, Paper] = {}
    for f in expand_paths([seeds_dir], print):
        for r in iter_records(f, print):
            papers.setdefault(paper_id(r.title), Paper(paper_id(r.title), r.title, r.abstract))
    assert len(papers) == 742
    return emb, chunker, [(p, chunker.chunk(p)) for p in papers.values()]


def test_every_chunk_fits_the_window_title_included(chunked):
    emb, _, pairs = chunked
    for paper, chunks in pairs:
        assert chunks, paper.title
        for c in chunks:
            n = emb.count_tokens(c.embed_text)
            assert n == c.n_tokens
            assert n <= 254, f"{paper.title}: chunk {c.index} has {n} word pieces"


def test_every_chunk_starts_with_the_title(chunked):
    _, _, pairs = chunked
    for paper, chunks in pairs:
        for i, c in enumerate(chunks):
            assert c.embed_text.startswith(paper.title + "\n")
            assert c.embed_text == f"{paper.title}\n{c.text}"
            assert (c.index, c.paper_id) == (i, paper.paper_id)
            assert c.chunk_id.startswith(f"{paper.paper_id}#") and c.chunk_id.endswith(f"#{i}")


def test_all_abstract_text_is_covered(chunked):
    _, chunker, pairs = chunked
    split = sum(len(chunks) > 1 for _, chunks in pairs)
    assert split > 100  # the corpus does exercise multi-chunk abstracts
    for paper, chunks in pairs:
        body = " ".join(c.text for c in chunks)
        for sentence in chunker.sentences(paper.abstract):
            assert sentence in body, f"{paper.title}: lost {sentence[:60]!r}"


def test_a_long_title_and_a_sentence_longer_than_the_window():
    emb = MiniLMEmbedder()
    chunker = Chunker(emb.count_tokens, max_tokens=254, count_many=emb.count_many)
    title = " ".join(["Extraordinarily"] * 200)
    abstract = " ".join(f"token{i}" for i in range(300)) + ". A short end."
    chunks = chunker.chunk(Paper("t:x", title, abstract))
    assert len(chunks) > 2
    assert all(emb.count_tokens(c.embed_text) <= 254 for c in chunks)
    words = {w.rstrip(".") for c in chunks for w in c.text.split()}
    assert all(f"token{i}" in words for i in range(300))
