"""papers: answer questions about research papers from their abstracts, with verified citations.

The public API::

    from rag import Library
    lib = Library.open("~/my-library")
    lib.ingest(["abstracts.jsonl"])
    hits = lib.search("post-training quantization of LLMs", k=5)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from rag.errors import (
    BackendUnavailable,
    ConfigError,
    EmbedderMismatch,
    FilterError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    PapersError,
    SourceError,
    StoreBusy,
    StoreError,
    StreamInterrupted,
)

if TYPE_CHECKING:
    from rag.ingest import IngestReport
    from rag.library import Library
    from rag.retrieve import Filters
    from rag.settings import Settings
    from rag.types import Answer, Chunk, Citation, Hit, Paper, Timings

# The heavy parts (Chroma, llama-index, pydantic) load on first use, so that a light module
# such as ``rag.retrieve`` (the chat's filters) can be imported without them.
_LAZY = {
    "IngestReport": "rag.ingest",
    "Library": "rag.library",
    "Filters": "rag.retrieve",
    "Settings": "rag.settings",
    **{name: "rag.types" for name in ("Answer", "Chunk", "Citation", "Hit", "Paper", "Timings")},
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "Answer",
    "BackendUnavailable",
    "Chunk",
    "Citation",
    "ConfigError",
    "EmbedderMismatch",
    "FilterError",
    "Filters",
    "Hit",
    "IngestReport",
    "LLMError",
    "LLMTimeout",
    "Library",
    "ModelNotFound",
    "Paper",
    "PapersError",
    "Settings",
    "SourceError",
    "StoreBusy",
    "StoreError",
    "StreamInterrupted",
    "Timings",
]
