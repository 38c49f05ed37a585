"""Fixtures for the LLM backend tests: a stand-in Ollama server on a free local port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ollama_standin import OllamaStandin, free_port


@pytest.fixture
def ollama_server() -> Iterator[OllamaStandin]:
    """A running stand-in with ``llama3.2:latest`` (chat) and ``nomic-embed-text`` (embed)."""
    with OllamaStandin() as server:
        yield server


@pytest.fixture
def dead_host() -> str:
    """The URL of a local port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
