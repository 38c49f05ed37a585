"""MiniLM's two runtimes: ONNX Runtime for short inputs must give PyTorch's vectors."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedders import MiniLMEmbedder, minilm_path
from rag.onnx_minilm import OnnxMiniLM, export, graph_path

TEXTS = [
    "weight quantization of large language models",
    "How can a big model run on a small GPU without losing accuracy?",
    "We propose a method. It works. " * 20,  # long enough to be truncated at 256 pieces
]


def test_onnx_vectors_match_pytorch(minilm):
    torch_model = minilm._load()
    fast = minilm._short()
    assert fast is not None, "the ONNX path should be available where scripts/setup ran"
    a = np.asarray(minilm.embed(TEXTS))  # <= short_batch: ONNX Runtime
    b = torch_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert a.shape == (3, 384)
    assert (a * b).sum(axis=1).min() > 0.9999


def test_export_writes_a_checked_graph_atomically(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERS_CACHE", str(tmp_path))
    dest = graph_path(minilm_path())
    assert str(dest).startswith(str(tmp_path))
    export(minilm_path(), minilm._load(), dest)
    assert dest.exists() and not list(dest.parent.glob("*.part"))
    vecs = OnnxMiniLM(minilm_path(), dest).embed(["a query"])
    assert np.isclose(np.linalg.norm(vecs[0]), 1.0)


def test_without_onnx_the_embedder_falls_back_to_pytorch(minilm, tmp_path, monkeypatch, capsys):
    import rag.onnx_minilm as onnx_minilm

    monkeypatch.setenv("PAPERS_CACHE", str(tmp_path))  # no graph here yet

    def broken(*_a, **_k):
        raise RuntimeError("no onnx package")

    monkeypatch.setattr(onnx_minilm, "export", broken)
    emb = MiniLMEmbedder()
    emb._model = minilm._load()  # share the loaded weights
    vec = emb.embed(["a query"])[0]
    assert len(vec) == 384
    assert "fast query embedding unavailable (no onnx package)" in capsys.readouterr().err
    assert emb._onnx is False


@pytest.mark.parametrize("n", [1, 64, 65])
def test_both_paths_give_unit_vectors(minilm, n):
    vecs = np.asarray(minilm.embed([f"sentence number {i}" for i in range(n)]))
    assert vecs.shape == (n, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
