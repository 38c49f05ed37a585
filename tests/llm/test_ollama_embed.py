"""OllamaEmbedder against the stand-in Ollama server's ``/api/embed``."""

from __future__ import annotations

import math

import pytest

from rag.embedders import OllamaEmbedder, make_embedder
from rag.errors import BackendUnavailable, ModelNotFound
from tests.support.ollama_standin import OllamaStandin


def embedder(server: OllamaStandin, model: str = "nomic-embed-text") -> OllamaEmbedder:
    return OllamaEmbedder(model, server.url)


def test_embeds_a_batch_in_order(ollama_server: OllamaStandin) -> None:
    texts = ["sparse attention for long documents", "protein folding", "sparse attention"]
    vectors = embedder(ollama_server).embed(texts)
    assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)
    assert all(math.isclose(math.hypot(*v), 1.0) for v in vectors)  # Ollama normalises
    # The batch went out as one request, in order; the order of vectors follows it.
    sent = [r.body for r in ollama_server.requests if r.path == "/api/embed"]
    assert sent == [{"model": "nomic-embed-text", "input": texts}]
    assert vectors == [embedder(ollama_server).embed([t])[0] for t in texts]


def test_texts_sharing_words_are_closer(ollama_server: OllamaStandin) -> None:
    a, b, c = embedder(ollama_server).embed(["sparse attention", "sparse attention heads", "soil"])

    def cosine(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cosine(a, b) > cosine(a, c)


def test_name_and_dim(ollama_server: OllamaStandin) -> None:
    model = embedder(ollama_server)
    assert model.name == "ollama:nomic-embed-text"
    assert model.dim == 64
    assert embedder(ollama_server).embed([]) == []


def test_make_embedder_builds_it(ollama_server: OllamaStandin) -> None:
    model = make_embedder("ollama:nomic-embed-text", ollama_host=ollama_server.url)
    assert isinstance(model, OllamaEmbedder)
    assert len(model.embed(["a paper"])[0]) == 64


def test_missing_model(ollama_server: OllamaStandin) -> None:
    with pytest.raises(ModelNotFound, match="ollama pull mxbai-embed-large"):
        embedder(ollama_server, "mxbai-embed-large").embed(["x"])


def test_server_not_running(dead_host: str) -> None:
    with pytest.raises(BackendUnavailable, match="ollama serve"):
        OllamaEmbedder("nomic-embed-text", dead_host).embed(["x"])
