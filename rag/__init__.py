"""papers: answer questions about research papers from their abstracts, with verified citations.

The public API::

    from rag import Library
    lib = Library.open("~/my-library")
    lib.ingest(["abstracts.jsonl"])
    hits = lib.search("post-training quantization of LLMs", k=5)
    answer = lib.ask("Which papers quantize LLM weights?", llm="none")

Front-ends (the CLI, the chat, the eval) import what they need from here, not from the
modules behind it; ``tests/test_layering.py`` keeps it so.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rag.errors import (
    BackendUnavailable,
    CollectionMismatch,
    ConfigError,
    EmbedderMismatch,
    FilterError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    PapersError,
    QueryError,
    RemoteError,
    SourceError,
    StoreBusy,
    StoreError,
    StreamInterrupted,
)

if TYPE_CHECKING:
    from rag.answer import AnswerDone, AnswerEvent, SourcesReady, TextDelta
    from rag.citations import UNSUPPORTED_MARK
    from rag.conversation import Conversation
    from rag.display import one_line, plain
    from rag.doctor import HealthReport
    from rag.embedders import EmbeddingCache
    from rag.filters import Filters, parse_years, years_label
    from rag.ids import normalise_title, paper_id
    from rag.ingest import IngestReport
    from rag.library import Library
    from rag.llm import ChatModel, ScriptedChat, ollama_chat_models
    from rag.references import paper_url, references_bibtex, references_markdown
    from rag.remote import EnrichReport, enrich_abstracts
    from rag.settings import Settings
    from rag.sources import Record
    from rag.sources.readers import FORMATS
    from rag.text import split_sentences
    from rag.types import Answer, Chunk, Citation, Hit, Paper, Sentence, Timings

# The heavy parts (Chroma, llama-index, pydantic) load on first use, so that a light name
# such as ``rag.Filters`` (the chat's filters) can be imported without them.
_LAZY = {
    **{name: "rag.answer" for name in ("AnswerDone", "AnswerEvent", "SourcesReady", "TextDelta")},
    "Conversation": "rag.conversation",
    "UNSUPPORTED_MARK": "rag.citations",
    "Sentence": "rag.types",
    "HealthReport": "rag.doctor",
    **{name: "rag.display" for name in ("one_line", "plain")},
    "EmbeddingCache": "rag.embedders",
    **{name: "rag.filters" for name in ("Filters", "parse_years", "years_label")},
    **{name: "rag.ids" for name in ("normalise_title", "paper_id")},
    "IngestReport": "rag.ingest",
    "Library": "rag.library",
    **{name: "rag.llm" for name in ("ChatModel", "ScriptedChat", "ollama_chat_models")},
    **{
        name: "rag.references" for name in ("paper_url", "references_bibtex", "references_markdown")
    },
    **{name: "rag.remote" for name in ("EnrichReport", "enrich_abstracts")},
    "Settings": "rag.settings",
    "Record": "rag.sources",
    "FORMATS": "rag.sources.readers",
    "split_sentences": "rag.text",
    **{name: "rag.types" for name in ("Answer", "Chunk", "Citation", "Hit", "Paper", "Timings")},
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "Answer",
    "AnswerDone",
    "AnswerEvent",
    "BackendUnavailable",
    "ChatModel",
    "Chunk",
    "Citation",
    "ConfigError",
    "Conversation",
    "EmbedderMismatch",
    "EmbeddingCache",
    "EnrichReport",
    "FORMATS",
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
    "QueryError",
    "RemoteError",
    "Record",
    "CollectionMismatch",
    "HealthReport",
    "ScriptedChat",
    "Sentence",
    "Settings",
    "SourceError",
    "SourcesReady",
    "StoreBusy",
    "StoreError",
    "StreamInterrupted",
    "TextDelta",
    "UNSUPPORTED_MARK",
    "Timings",
    "normalise_title",
    "ollama_chat_models",
    "enrich_abstracts",
    "one_line",
    "paper_id",
    "paper_url",
    "parse_years",
    "plain",
    "references_bibtex",
    "references_markdown",
    "split_sentences",
    "years_label",
]
