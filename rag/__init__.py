"""papers: answer questions about research papers from their abstracts, with verified citations.

The public API::

    from rag import Library
    lib = Library.open("~/my-library")
    lib.ingest(["abstracts.jsonl"])
    hits = lib.search("post-training quantization of LLMs", k=5)
"""

from rag.errors import (
    BackendUnavailable,
    ConfigError,
    EmbedderMismatch,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    PapersError,
    SourceError,
    StoreBusy,
    StoreError,
    StreamInterrupted,
)
from rag.ingest import IngestReport
from rag.library import Library
from rag.retrieve import Filters
from rag.settings import Settings
from rag.types import Answer, Chunk, Citation, Hit, Paper, Timings

__all__ = [
    "Answer",
    "BackendUnavailable",
    "Chunk",
    "Citation",
    "ConfigError",
    "EmbedderMismatch",
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
