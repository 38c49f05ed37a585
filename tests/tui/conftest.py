"""Fixtures for the chat-app tests: a small real library (ten papers, the real MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.library import Library
from rag.llm.fake import ScriptedChat
from rag.sources import iter_records

SEEDS = Path("/work/shared/seeds")
SEED_SOURCE = "seed-003.jsonl"
HOSTILE_SOURCE = "hostile.jsonl"
EVIL_TITLE = "Evil [bold]x[/] [link=http://e.vil]y[/link] [/] \x1b[31mred\x1b[0m tokens"
EVIL_ABSTRACT = (
    "We study hostile markup in paper metadata. "
    "Terminal escapes like \x1b]8;;http://e.vil\x07 and [bold]x[/] must show literally. "
    "Injection attacks on terminal user interfaces are a real risk."
)


@pytest.fixture(scope="session")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with nine seed papers and one with hostile markup in its title and abstract."""
    root = tmp_path_factory.mktemp("tui-library")
    seed = next(SEEDS.glob("003_*.txt"))
    rows = []
    for i, rec in enumerate(iter_records(seed, lambda problem: None)):
        if i >= 9:
            break
        rows.append({"title": rec.title, "abstract": rec.abstract, "year": 2023})
    evil = {"title": EVIL_TITLE, "abstract": EVIL_ABSTRACT, "year": 2024, "arxiv_id": "2401.00001"}
    # Two source pages, so filtering by source has something to tell apart.
    corpus = root / SEED_SOURCE
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    hostile = root / HOSTILE_SOURCE
    hostile.write_text(json.dumps(evil) + "\n")
    lib = Library.open(root / "store")
    lib.ingest([corpus, hostile])
    lib.close()
    return root / "store"


@pytest.fixture(scope="session")
def shared_library(library_dir: Path) -> Library:
    lib = Library.open(library_dir)
    lib.storage.embedder.embed(["warm up"])
    return lib


@pytest.fixture
def library(shared_library: Library) -> Library:
    """The shared library with no chat models cached (each test scripts its own)."""
    shared_library.__dict__["_chat_models"] = {}
    return shared_library


def script(library: Library, *replies: str, delay_s: float = 0.0) -> ScriptedChat:
    chat = ScriptedChat(delay_s=delay_s).enqueue(*replies)
    library.__dict__["_chat_models"] = {"scripted": chat}
    return chat
