"""all-MiniLM-L6-v2 through ONNX Runtime, for the short, small batches of a question.

PyTorch's eager per-operator overhead dominates when the input is one query or a few dozen
sentences. Measured on these 2 cores with the same weights and the same vectors (cosine with
the PyTorch vectors >= 0.9999999): one query 20-23 ms with PyTorch vs 6.8 ms here; the ~32
sentences of four abstracts 1.5 s vs 0.95-1.2 s. For ingest batches of whole 250-word-piece
chunks PyTorch was as fast or faster, so ingest keeps it (``MiniLMEmbedder`` picks per call).

The ONNX graph is exported once per machine from the packaged weights (about 5 s; `scripts/setup`
does it) into the user cache, checked against PyTorch before use, and written atomically.
onnxruntime comes with chromadb; the export needs the ``onnx`` package.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# A graph whose vectors differ from PyTorch's by more than this is not used.
MIN_AGREEMENT = 0.9999


def cache_dir() -> Path:
    base = os.environ.get("PAPERS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "papers"
    )
    return Path(base) / "onnx"


def graph_path(model_dir: Path) -> Path:
    """Where the export of the weights in ``model_dir`` lives (named by the weights' size)."""
    weights = model_dir / "model.safetensors"
    tag = weights.stat().st_size if weights.exists() else 0
    return cache_dir() / f"all-MiniLM-L6-v2-{tag}.onnx"


def export(model_dir: Path, torch_model, dest: Path) -> Path:
    """Export the transformer of ``torch_model`` (a SentenceTransformer) to ``dest``, checked."""
    import tempfile
    import warnings

    import torch

    bert = torch_model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".onnx.part")
    os.close(fd)
    try:
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(bert),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        probe = ["A short query.", "Low-bit weight quantization of large language models."]
        mine = OnnxMiniLM(model_dir, Path(tmp)).embed(probe)
        theirs = torch_model.encode(probe, normalize_embeddings=True, convert_to_numpy=True)
        agreement = float((mine * theirs).sum(axis=1).min())
        if agreement < MIN_AGREEMENT:
            raise RuntimeError(f"ONNX export disagrees with PyTorch (cosine {agreement:.6f})")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is readable like any other
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


class OnnxMiniLM:
    """Mean-pooled, normalised MiniLM vectors from an exported graph."""

    def __init__(self, model_dir: Path, graph: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # No busy-waiting threads after a run: they would take the cores from the PyTorch
        # ingest or the embedded LLM that runs right after a query. No arena either: it keeps
        # the largest batch's buffers for the life of the process.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.enable_truncation(256)
        tok.enable_padding()
        self.tokenizer = tok
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    # Texts run in groups of similar length: padding a long text's group only, and bounded
    # memory (one batch of 64 texts of 256 pieces took 1.2 GB and 8 s in a single run).
    group = 16

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.group):
            idx = order[start : start + self.group]
            out[idx] = self._run([texts[i] for i in idx])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        (hidden,) = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        m = mask[..., None].astype(np.float32)
        vecs = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
