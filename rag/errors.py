"""The exceptions papers raises; every message says what to do about it.

All derive from :class:`PapersError`, which the CLI and the chat app show on one line.
"""

from __future__ import annotations


class PapersError(Exception):
    """Base of every error papers raises on purpose."""


class ConfigError(PapersError):
    """A setting or config file is wrong."""


class FilterError(PapersError, ValueError):
    """A search filter cannot be understood (a year that is not a year)."""


class QueryError(PapersError, ValueError):
    """A search query or its options cannot be used (an empty query, ``k`` below 1)."""


class SourceError(PapersError):
    """An input file cannot be read at all (missing, a directory of nothing, unknown format)."""


class StoreError(PapersError):
    """The store cannot be opened or written."""


class EmbedderMismatch(StoreError):
    """The store was built with another embedder than the one asked for."""


class StoreBusy(StoreError):
    """Another process is writing to the store."""


class LLMError(PapersError):
    """A language-model backend failed."""


class BackendUnavailable(LLMError):
    """The backend cannot be reached or loaded (server down, package missing)."""


class ModelNotFound(LLMError):
    """The backend has no such model."""


class LLMTimeout(LLMError):
    """The backend did not answer in time."""


class StreamInterrupted(LLMError):
    """The answer stream was cut off part-way."""


class CollectionMismatch(StoreError):
    """The Chroma collection holds another library's vectors (two libraries on one server)."""


class RemoteError(PapersError):
    """An online service (arXiv, OpenAlex) failed or refused after its retries."""
