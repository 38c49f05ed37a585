"""Fixtures for the answer tests: real seed papers and the real MiniLM embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.embedders import MiniLMEmbedder
from rag.ids import paper_id
from rag.sources import iter_records
from rag.types import Hit, Paper

SEEDS = Path("/work/shared/seeds")


def _seed_papers() -> dict[str, Paper]:
    problems: list = []
    path = next(SEEDS.glob("003_*.txt"))
    papers = {}
    for rec in iter_records(path, problems.append):
        papers[rec.title.split(":")[0]] = Paper(paper_id(rec.title), rec.title, rec.abstract)
    return papers


@pytest.fixture(scope="module")
def papers() -> dict[str, Paper]:
    """Seed papers keyed by the title up to its colon: "AWQ", "PB-LLM", "AdamP", ..."""
    return _seed_papers()


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    emb = MiniLMEmbedder()
    emb.embed(["warm up"])
    return emb


def hits_of(papers: dict[str, Paper], *names: str) -> list[Hit]:
    return [
        Hit(p, score=1.0 - i / 10, chunks=[p.abstract[:200]])
        for i, p in enumerate(papers[n] for n in names)
    ]
