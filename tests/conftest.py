"""Shared fixtures: the seed corpus, small slices of it, and libraries that share one MiniLM."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS


def seed_file(prefix: str) -> Path:
    """The seed page whose name starts with ``prefix`` ("000" ... "004")."""
    return next(SEEDS.glob(f"{prefix}_*.txt"))


def seed_records(prefix: str = "000") -> list:
    from rag.sources import iter_records

    return list(iter_records(seed_file(prefix), lambda p: None))


def write_jsonl(path: Path, records) -> Path:
    """Write records (``Record`` objects or dicts with title/abstract) one JSON object a line."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            obj = r if isinstance(r, dict) else {"title": r.title, "abstract": r.abstract}
            fh.write(json.dumps(obj) + "\n")
    return path


@pytest.fixture
def slice_file(tmp_path: Path) -> Callable[..., Path]:
    """``slice_file(n, prefix="000", start=0, name=None)``: papers ``start..start+n`` of a seed
    page as JSONL."""

    def make(n: int, prefix: str = "000", *, start: int = 0, name: str | None = None) -> Path:
        recs = seed_records(prefix)[start : start + n]
        assert len(recs) == n, f"seed {prefix} has fewer than {start + n} papers"
        return write_jsonl(tmp_path / (name or f"slice_{prefix}_{start}_{n}.jsonl"), recs)

    return make


@pytest.fixture(scope="session")
def minilm():
    """One MiniLM for the whole session; the model loads on first ``embed``."""
    from rag.embedders import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def open_library(minilm) -> Callable[..., object]:
    """``open_library(store, **overrides)``: a ``Library`` that reuses the session's MiniLM."""
    from rag.library import Library

    opened = []

    def make(store: Path, **overrides):
        lib = Library.open(store, **overrides)
        if lib.settings.embedder in ("minilm", minilm.name):
            lib.storage.__dict__["embedder"] = minilm
        opened.append(lib)
        return lib

    yield make
    for lib in opened:
        lib.close()


@pytest.fixture
def library(tmp_path: Path, open_library):
    """An empty library in ``tmp_path``."""
    return open_library(tmp_path / "store")


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory, open_library) -> Path:
    """A store holding the whole seed corpus, built once per session (slow tests only)."""
    store = tmp_path_factory.mktemp("seed_store") / "store"
    lib = open_library(store)
    rep = lib.ingest([SEEDS])
    assert rep.added == 742 and not rep.problems, rep.summary()
    lib.close()
    lib.storage.vectors.reopen()
    return store


@pytest.fixture
def seed_store_copy(seed_store: Path, tmp_path: Path) -> Path:
    """A private copy of ``seed_store`` for tests that change it."""
    dest = tmp_path / "seed_store_copy"
    shutil.copytree(seed_store, dest)
    return dest
