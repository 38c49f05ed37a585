"""Speed of papers against the standard llama-index pipeline, measured in the same run.

Every figure that has a baseline is also given as a ratio, because absolute times on a shared
machine say little; the ratios are what the targets in :data:`TARGETS` judge.
Run it as ``papers bench`` or ``python -m eval.bench`` (the same options).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import platform
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import PapersError

# A fixed mix: words from titles (BM25's strength) and paraphrases (the embedder's).
QUERIES: tuple[str, ...] = (
    "weight quantization of large language models",
    "low-rank adaptation for fine-tuning",
    "retrieval-augmented generation",
    "speculative decoding",
    "mixture of experts routing",
    "diffusion models for image generation",
    "direct preference optimization",
    "chain-of-thought prompting",
    "vision transformer",
    "contrastive language-image pretraining",
    "key-value cache compression",
    "instruction tuning datasets",
    "reward model overoptimization",
    "long-context attention",
    "graph neural networks",
    "how can a big model run on a small GPU without losing accuracy",
    "making text generation faster by guessing several tokens ahead",
    "teaching a model to follow human preferences without reinforcement learning",
    "letting a language model look things up in documents before answering",
    "models that reason step by step before giving an answer",
    "training only a few extra parameters instead of the whole network",
    "sparse networks where each token uses only some of the layers",
    "generating pictures from a text description",
    "why do language models make up facts",
    "measuring how well chatbots agree with people",
    "robots that learn from watching videos",
    "shrinking the memory needed to remember earlier tokens",
    "agents that use tools and call APIs",
    "benchmarks for code generation",
    "protecting models against jailbreak prompts",
)
QUESTIONS_PER_BACKEND = 3
WARM_UP = 3

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Target:
    """A goal one figure of the result should meet."""

    label: str
    key: str  # dotted path into the result
    limit: float
    strict: bool  # ``<`` rather than ``<=``
    unit: str


TARGETS: tuple[Target, ...] = (
    Target("cold ingest vs llama-index", "ingest.ours_over_baseline", 1.0, False, "x"),
    Target("cold ingest vs embedding floor", "ingest.ours_over_floor", 1.15, False, "x"),
    Target("re-ingest, unchanged corpus", "reingest_s", 3.0, True, "s"),
    Target("hybrid search p50 (seeds)", "retrieval.ours.p50_ms", 30.0, True, "ms"),
    Target("hybrid search p50 at 1M chunks", "scale.1000000.query_p50_ms", 100.0, True, "ms"),
    Target("time to sources p50", "time_to_sources_ms", 100.0, True, "ms"),
    Target("embedded first token p50", "llm.embedded.first_token_p50_ms", 1500.0, True, "ms"),
)


@dataclass(frozen=True)
class TargetCheck:
    target: Target
    value: float
    passed: bool
    missed_by: float | None  # value - limit when missed, in the target's unit


@dataclass
class BenchOptions:
    """What to measure. ``seeds`` may be a folder or a file of papers."""

    out: Path = Path("bench-out")
    seeds: Path = Path("seeds")
    quick: bool = False
    scale_only: bool = False  # only the synthetic scale steps (the 1M run)
    store: Path | None = None
    # 100k did not fit in ~3 min on the 2 shared cores we measured on (Chroma inserted ~140
    # chunks/s under load), so the default stops at 50k; pass --scale for more.
    scales: tuple[int, ...] = (10_000, 50_000)
    llms: tuple[str, ...] | None = None  # None: ("none", "embedded"), or ("none",) if quick
    queries: tuple[str, ...] = QUERIES
    seed: int = 1234
    extra: dict[str, Any] = field(default_factory=dict)


def run_bench(
    opts: BenchOptions,
    *,
    embedder=None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark, write ``bench.json`` into ``opts.out`` and return the result.

    ``embedder`` (a ``MiniLMEmbedder``) is shared by our pipeline, the baseline and the floor,
    and is loaded before any timing so that model load counts against none of them.
    """
    from rag.embedders import MiniLMEmbedder

    say = progress or (lambda _msg: None)
    emb = embedder or MiniLMEmbedder()
    emb.prepare()  # both runtimes: PyTorch for ingest batches, ONNX Runtime for queries
    llms = (
        opts.llms if opts.llms is not None else (("none",) if opts.quick else ("none", "embedded"))
    )
    result: dict[str, Any] = {"meta": _meta(opts, llms)}
    opts.out.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        # Written after every step, so a run cut short still leaves what it measured.
        result["meta"]["peak_rss_mb"] = _rss_mb()
        result["targets"] = _target_rows(result)
        (opts.out / "bench.json").write_text(json.dumps(result, indent=2))

    with tempfile.TemporaryDirectory(prefix="papers-bench-") as tmp_name:
        tmp = Path(tmp_name)
        _warm_chroma(tmp / "warm", emb)
        if opts.scale_only:
            result["scale"] = {}
            for n in opts.scales:
                _scale_step(n, opts, tmp, result, say, checkpoint)
            checkpoint()
            return result
        if opts.quick:
            if opts.store is None:
                raise PapersError("--quick needs --store DIR: a store that already holds the seeds")
            lib = _open_library(opts.store, emb)
            if not lib.storage.catalogue.counts().get("papers"):
                raise PapersError(
                    f"--quick needs a store that already holds the seeds; {opts.store} is empty "
                    f"(run `papers ingest --store {opts.store} {opts.seeds}`)"
                )
            say("re-ingest of the unchanged corpus")
            rep = lib.ingest([opts.seeds])
            result["reingest_s"] = rep.seconds
            result["reingest_changed"] = rep.added + rep.updated
            say("baseline index from the store's own vectors")
            index = _baseline_from_store(lib, tmp / "baseline", emb)
        else:
            lib, index = _ingest_steps(opts, emb, tmp, result, say, checkpoint)
        say(f"re-ingest: {result['reingest_s']:.2f} s")
        checkpoint()
        say("retrieval latency")
        result["retrieval"] = _retrieval(lib, index, opts.queries)
        say(
            f"search p50: ours {result['retrieval']['ours']['p50_ms']:.1f} ms, "
            f"llama-index {result['retrieval']['baseline']['p50_ms']:.1f} ms"
        )
        checkpoint()
        result.update(_answers(lib, opts.queries, llms, say))
        if result["time_to_sources_ms"] is not None:
            say(f"time to sources p50: {result['time_to_sources_ms']:.1f} ms")
        checkpoint()
        lib.close()
        if not opts.quick:
            result["scale"] = {}
            for n in opts.scales:
                _scale_step(n, opts, tmp, result, say, checkpoint)
    checkpoint()
    return result


def _scale_step(n: int, opts: BenchOptions, tmp: Path, result: dict, say, checkpoint) -> None:
    say(f"scale: {n:,} synthetic chunks")
    result["scale"][str(n)] = s = _scale(n, opts.seeds, tmp / f"scale-{n}", opts, say)
    say(
        f"{n:,}: {s['insert_per_s']:.0f} inserts/s, p50 {s['query_p50_ms']:.1f} ms, "
        f"{s['self_recall_at_1']:.0%} of probe rows found first by their own vector"
    )
    for ef, w in s["ef_search"].items():
        p50, first = w["query_p50_ms"], w["self_recall_at_1"]
        say(f"{n:,}: ef_search {ef}: p50 {p50:.1f} ms, {first:.0%} found")
    checkpoint()


def _warm_chroma(folder: Path, emb) -> None:
    """Chroma's first client in a process starts its runtime; neither pipeline should pay it."""
    from rag.store import VectorStore

    store = VectorStore(path=folder, collection="warm", embedder=emb.name, dim=emb.dim)
    store.upsert(["w"], [[1.0] + [0.0] * (emb.dim - 1)], ["w"])
    store.query([1.0] + [0.0] * (emb.dim - 1), 1)


def _target_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": c.target.label,
            "key": c.target.key,
            "value": c.value,
            "limit": c.target.limit,
            "passed": c.passed,
            "missed_by": c.missed_by,
        }
        for c in check_targets(result)
    ]


def check_targets(result: dict[str, Any]) -> list[TargetCheck]:
    """The targets whose figure the result has, each passed or missed (and by how much)."""
    out = []
    for t in TARGETS:
        value = lookup(result, t.key)
        if not isinstance(value, (int, float)):
            continue
        passed = value < t.limit if t.strict else value <= t.limit
        out.append(TargetCheck(t, float(value), passed, None if passed else value - t.limit))
    return out


def lookup(result: dict[str, Any], key: str) -> Any:
    """``result["a"]["b"]`` for ``"a.b"``; None when a part is missing."""
    node: Any = result
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- seed corpus: cold ingest, floor, re-ingest ---------------------------------------


def _open_library(store: Path, emb):
    from rag.library import Library

    lib = Library.open(store)
    if lib.settings.embedder not in ("minilm", emb.name):
        raise PapersError(f"bench measures the MiniLM embedder, not {lib.settings.embedder}")
    # One model for every pipeline: the comparison is of pipelines, not of model loads.
    lib.storage.__dict__["embedder"] = emb
    return lib


def _ingest_steps(opts: BenchOptions, emb, tmp: Path, result: dict, say, checkpoint):
    from rag.sources import read_papers

    papers, _ = read_papers([opts.seeds], lambda p: None)
    if not papers:
        raise PapersError(f"no papers found in {opts.seeds}")
    lib = _open_library(tmp / "ours", emb)

    say(f"cold ingest, ours ({len(papers)} papers)")
    t0 = time.perf_counter()
    rep = lib.ingest([opts.seeds])
    ours_s = time.perf_counter() - t0
    result["ingest"] = {"papers": len(papers), "chunks": rep.chunks_embedded, "ours_s": ours_s}
    say(f"ours: {ours_s:.1f} s")
    checkpoint()

    say("cold ingest, llama-index baseline")
    t0 = time.perf_counter()
    index = _baseline_from_papers(papers.values(), tmp / "baseline", emb, lib.settings)
    baseline_s = time.perf_counter() - t0
    result["ingest"].update(baseline_s=baseline_s, ours_over_baseline=ours_s / baseline_s)
    say(f"llama-index: {baseline_s:.1f} s")
    checkpoint()

    say("embedding floor")
    chunks = [c for p in papers.values() for c in lib.storage.chunker.chunk(p)]
    texts = [c.embed_text for c in chunks]
    t0 = time.perf_counter()
    emb.embed(texts)
    floor_s = time.perf_counter() - t0

    result["ingest"].update(
        floor_s=floor_s, ours_over_floor=ours_s / floor_s, peak_rss_mb=_rss_mb()
    )
    result["ingest"].update(_token_counts(papers.values(), texts, emb, ours_s, baseline_s))
    say(f"floor: {floor_s:.1f} s")
    checkpoint()
    say("re-ingest of the unchanged corpus")
    rep = lib.ingest([opts.seeds])
    result["reingest_s"] = rep.seconds
    result["reingest_changed"] = rep.added + rep.updated
    return lib, index


def _token_counts(papers, chunk_texts, emb, ours_s: float, baseline_s: float) -> dict:
    """How much text each pipeline embeds. The baseline's one document per paper is cut at
    the model's window (MiniLM reads 256 word pieces and drops the rest), so it embeds less
    of each long abstract than our chunks do; per word piece the two compare like for like."""
    if not emb.name.startswith("minilm"):
        return {}
    window = emb.max_tokens
    docs = emb.count_many([f"{p.title}\n\n{p.abstract}" for p in papers])
    ours = sum(emb.count_many(chunk_texts))
    base = sum(min(window, n) for n in docs)
    return {
        "ours_word_pieces": ours,
        "baseline_word_pieces": base,
        "baseline_truncated_papers": sum(1 for n in docs if n > window),
        "baseline_dropped_word_pieces": sum(max(0, n - window) for n in docs),
        "ours_over_baseline_per_word_piece": (ours_s / ours) / (baseline_s / base),
    }


# -- the llama-index baseline ---------------------------------------------------------

_WRAPPER: type | None = None


def llama_index_embedding(embedder, *, batch_size: int = 64):
    """A llama-index ``BaseEmbedding`` that embeds with our ``embedder``."""
    global _WRAPPER
    if _WRAPPER is None:
        from llama_index.core.embeddings import BaseEmbedding
        from pydantic import PrivateAttr

        class PapersEmbedding(BaseEmbedding):
            _embedder: Any = PrivateAttr()

            def __init__(self, embedder, **kwargs: Any) -> None:
                super().__init__(model_name=embedder.name, **kwargs)
                self._embedder = embedder

            def _get_query_embedding(self, query: str) -> list[float]:
                return self._embedder.embed([query])[0]

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._embedder.embed([text])[0]

            def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return self._embedder.embed(texts)

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

            async def _aget_text_embedding(self, text: str) -> list[float]:
                return self._get_text_embedding(text)

            async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return self._get_text_embeddings(texts)

        _WRAPPER = PapersEmbedding
    return _WRAPPER(embedder, embed_batch_size=batch_size)


def _chroma_storage(folder: Path, emb):
    from llama_index.core import StorageContext
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.store import VectorStore

    col = VectorStore(path=folder, collection="baseline", embedder=emb.name, dim=emb.dim)
    return StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=col.collection())
    )


def _baseline_from_papers(papers, folder: Path, emb, settings):
    """The llama-index starter pipeline: one Document per paper, default node parser."""
    from llama_index.core import Document, VectorStoreIndex

    docs = [Document(text=f"{p.title}\n\n{p.abstract}", id_=p.paper_id) for p in papers]
    # Same batch size as ours, so the ratio measures the pipelines rather than batching.
    return VectorStoreIndex.from_documents(
        docs,
        storage_context=_chroma_storage(folder, emb),
        embed_model=llama_index_embedding(emb, batch_size=settings.embed_batch_size),
        show_progress=False,
    )


def _baseline_from_store(lib, folder: Path, emb):
    """A baseline index over the store's own chunk vectors, so --quick embeds nothing."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    chunk_ids, _, texts = lib.storage.catalogue.chunk_texts()
    text_of = dict(zip(chunk_ids, texts, strict=True))
    nodes = [
        TextNode(
            id_=cid,
            text=text_of.get(cid, ""),
            embedding=[float(x) for x in vec],
            metadata=dict(meta or {}),
        )
        for ids, vecs, metas in lib.storage.vectors.iter_rows()
        for cid, vec, meta in zip(ids, vecs, metas, strict=True)
    ]
    return VectorStoreIndex(
        nodes=nodes,
        storage_context=_chroma_storage(folder, emb),
        embed_model=llama_index_embedding(emb),
        show_progress=False,
    )


# -- latency --------------------------------------------------------------------------


def _timed(fn: Callable[[str], Any], queries: Sequence[str]) -> dict[str, float]:
    for q in queries[:WARM_UP]:
        fn(q)
    ms = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - t0) * 1000)
    return _percentiles(ms)


def _percentiles(ms: Sequence[float]) -> dict[str, float]:
    import numpy as np

    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "n": len(ms),
    }


def _retrieval(lib, index, queries: Sequence[str]) -> dict[str, Any]:
    lib.warm()
    retriever = index.as_retriever(similarity_top_k=5)
    ours = _timed(lambda q: lib.search(q, k=5), queries)
    baseline = _timed(retriever.retrieve, queries)
    return {
        "ours": ours,
        "baseline": baseline,
        "ours_over_baseline_p50": ours["p50_ms"] / baseline["p50_ms"],
    }


def _answers(lib, queries: Sequence[str], llms: Sequence[str], say) -> dict[str, Any]:
    """Time to sources (llm none), then first token and tokens/s per answering backend."""
    from rag.answer import AnswerDone, SourcesReady, TextDelta

    async def one(q: str, llm: str) -> dict[str, float | None]:
        t0 = time.perf_counter()
        sources = first = None
        deltas = 0
        done = t0
        answer = None
        stream = lib.astream(q, llm=llm)
        try:
            async for ev in stream:
                now = time.perf_counter()
                if isinstance(ev, SourcesReady):
                    sources = now
                    if llm == "none":
                        break
                elif isinstance(ev, TextDelta):
                    deltas += 1
                    first = first or now
                elif isinstance(ev, AnswerDone):
                    done, answer = now, ev.answer
        finally:
            await stream.aclose()
        tokens = deltas
        chat = lib.chat_model(llm)
        if answer is not None and chat is not None:
            tokens = chat.count_tokens(answer.raw_text)
        return {
            "sources_ms": None if sources is None else (sources - t0) * 1000,
            "first_ms": None if first is None else (first - t0) * 1000,
            "tokens_per_s": (tokens / (done - first)) if first and done > first else None,
        }

    async def run(llm: str, qs: Sequence[str]) -> list[dict]:
        await one(qs[0], llm)  # warm: loads the model, which is not what is measured
        return [await one(q, llm) for q in qs]

    out: dict[str, Any] = {"llm": {}}
    for llm in dict.fromkeys(["none", *llms]):
        say(f"answers: {llm}")
        qs = queries if llm == "none" else queries[:QUESTIONS_PER_BACKEND]
        try:
            rows = asyncio.run(run(llm, qs))
        except PapersError as exc:
            out["llm"][llm] = {"error": str(exc)}
            continue
        sources = [r["sources_ms"] for r in rows if r["sources_ms"] is not None]
        entry: dict[str, Any] = {
            "time_to_sources_p50_ms": _percentiles(sources)["p50_ms"] if sources else None
        }
        if llm != "none":
            firsts = [r["first_ms"] for r in rows if r["first_ms"] is not None]
            rates = [r["tokens_per_s"] for r in rows if r["tokens_per_s"] is not None]
            entry["first_token_p50_ms"] = _percentiles(firsts)["p50_ms"] if firsts else None
            entry["tokens_per_s"] = sum(rates) / len(rates) if rates else None
            entry["questions"] = len(rows)
        out["llm"][llm] = entry
    out["time_to_sources_ms"] = out["llm"]["none"].get("time_to_sources_p50_ms")
    return out


# -- scale ----------------------------------------------------------------------------


EF_SWEEP = (300, 1000)  # ef_search values tried after the default one at each scale


def _seed_sentences(seeds: Path) -> list[str]:
    from rag.sources import read_papers

    papers, _ = read_papers([seeds], lambda p: None)
    out = [s for p in papers.values() for s in _SENTENCE.split(p.abstract) if len(s) > 20]
    return out or ["no seed sentences were found"]


def _scale(
    n: int, seeds: Path, folder: Path, opts: BenchOptions, say=lambda _m: None
) -> dict[str, float]:
    """Insert and hybrid-query ``n`` synthetic chunks; random vectors keep embedding out."""
    import numpy as np

    from rag.lexical import LexicalIndex
    from rag.retrieve import fuse
    from rag.settings import RetrievalSettings
    from rag.store import VectorStore

    r = RetrievalSettings()
    rng = np.random.default_rng(opts.seed)
    pick = random.Random(opts.seed)
    sentences = _seed_sentences(seeds)
    texts = [" ".join(pick.choices(sentences, k=pick.randint(2, 4))) for _ in range(n)]
    paper_ids = [f"p{i // 3}" for i in range(n)]
    ids = [f"{pid}#{i % 3}" for i, pid in enumerate(paper_ids)]

    def unit(rows: int):
        v = rng.standard_normal((rows, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    store = VectorStore(path=folder / "chroma", collection="scale", embedder="synthetic", dim=384)
    step = 4000
    probes: list[tuple[str, Any]] = []  # (id, vector) of a few rows, to check the search finds them
    every = max(1, n // 20)
    t0 = time.perf_counter()
    for i in range(0, n, step):
        j = min(n, i + step)
        rows = unit(j - i)
        store.upsert(ids[i:j], rows, paper_ids[i:j])
        probes += [(ids[k], rows[k - i]) for k in range(i, j) if k % every == 0]
        if n >= 100_000 and (j // step) % 25 == 0:
            say(f"{n:,}: {j:,} inserted ({j / (time.perf_counter() - t0):.0f}/s)")
    insert_s = time.perf_counter() - t0

    lexical = LexicalIndex(folder / "bm25")
    t0 = time.perf_counter()
    lexical.build(ids, paper_ids, texts, 0)
    bm25_s = time.perf_counter() - t0

    queries = list(opts.queries)
    qvecs = unit(len(queries)).tolist()
    vec_of = dict(zip(queries, qvecs, strict=True))

    def hybrid(q: str):
        dense = [
            (h.chunk_id, h.paper_id, h.similarity) for h in store.query(vec_of[q], r.candidates)
        ]
        return fuse(
            dense,
            lexical.query(q, r.candidates),
            rrf_k=r.rrf_k,
            dense_weight=r.dense_weight,
            bm25_weight=r.bm25_weight,
        )

    q = _timed(hybrid, queries)

    # A fast answer is worth nothing if it is wrong: each probe row must come back first
    # when its own vector is the query (HNSW is approximate, so this is a rate, not a given).
    def found(k: int) -> float:
        return sum(cid in {h.chunk_id for h in store.query(vec, k)} for cid, vec in probes) / len(
            probes
        )

    first, in_candidates = found(1), found(r.candidates)
    # HNSW trades recall for speed through ef_search (Chroma's default 100, changeable on a
    # built collection): the same probes and queries at wider searches show what recall costs.
    sweep = {}
    for ef in EF_SWEEP:
        store.collection().modify(configuration={"hnsw": {"ef_search": ef}})
        t = _timed(hybrid, queries)
        sweep[str(ef)] = {
            "query_p50_ms": t["p50_ms"],
            "self_recall_at_1": found(1),
            "self_recall_in_candidates": found(r.candidates),
        }
    disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    out = {
        "chunks": n,
        "insert_per_s": n / insert_s,
        "insert_s": insert_s,
        "bm25_build_s": bm25_s,
        "query_p50_ms": q["p50_ms"],
        "query_p95_ms": q["p95_ms"],
        "self_recall_at_1": first,
        "self_recall_in_candidates": in_candidates,
        "ef_search": sweep,
        "rss_mb": _rss_mb(),
        "disk_mb": disk / 1e6,
    }
    store.reopen()
    shutil.rmtree(folder, ignore_errors=True)
    return out


# -- odds and ends --------------------------------------------------------------------


def _rss_mb() -> float:
    """Peak resident memory of this whole process so far (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if platform.system() != "Darwin" else kib / 1e6


def _meta(opts: BenchOptions, llms: Sequence[str]) -> dict[str, Any]:
    import os

    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("chromadb", "llama-index-core", "sentence-transformers", "bm25s"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "quick": opts.quick,
        "seeds": str(opts.seeds),
        "store": None if opts.store is None else str(opts.store),
        "scales": list(opts.scales) if not opts.quick else [],
        "llms": list(llms),
        "queries": len(opts.queries),
        "cpus": os.cpu_count(),
        "load_average": load,
        "python": platform.python_version(),
        "versions": versions,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rss_note": "peak RSS is process-wide: it includes every step run before it",
        **opts.extra,
    }


# -- the command: `papers bench` and `python -m eval.bench` ---------------------------


def build_parser() -> argparse.ArgumentParser:
    # `papers bench ARGS` hands ARGS to this parser unchanged (rag/cli.py's PASS_THROUGH).
    p = argparse.ArgumentParser(
        prog="papers bench",
        description="Speed against the standard llama-index pipeline, as ratios.",
    )
    p.add_argument("--out", default="bench-out", help="folder for bench.json (default ./bench-out)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="only re-ingest, retrieval and time to sources, on an existing --store (< 2 min)",
    )
    p.add_argument("--store", help="for --quick: a store that already holds the seeds")
    p.add_argument(
        "--scale",
        default="10000,50000",
        help="synthetic chunk counts, comma-separated (1000000 allowed; default 10000,50000)",
    )
    p.add_argument(
        "--scale-only",
        action="store_true",
        help="only the synthetic scale steps (e.g. --scale-only --scale 1000000, about 30 min)",
    )
    p.add_argument("--seeds", help="the seed corpus (default: ../shared/seeds beside the repo)")
    p.add_argument(
        "--llm",
        help="answer backends to time, comma-separated (default none,embedded; none with --quick)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _bench(args)
    except PapersError as exc:
        print(f"papers: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("papers: interrupted; what was committed is kept", file=sys.stderr)
        return 130


def _bench(args: argparse.Namespace) -> int:
    from rich.console import Console

    try:
        scales = tuple(int(x) for x in args.scale.split(",") if x.strip())
    except ValueError:
        raise PapersError(
            f"--scale wants chunk counts like 10000,100000, not {args.scale!r}"
        ) from None
    # eval/bench.py -> the repo -> the folder beside the repo, where the shared seeds lie
    beside_repo = Path(__file__).resolve().parents[2]
    seeds = Path(args.seeds) if args.seeds else beside_repo / "shared" / "seeds"
    if not args.scale_only and not _installed("llama_index.vector_stores.chroma"):
        # Said before the run, not after minutes of our own ingest.
        raise PapersError(
            "the llama-index baseline needs the bench extra: "
            "run `pip install -e '.[bench]'` (scripts/setup installs it)"
        )
    llms = tuple(x.strip() for x in args.llm.split(",") if x.strip()) if args.llm else None
    opts = BenchOptions(
        out=Path(args.out),
        seeds=seeds,
        quick=args.quick,
        scale_only=args.scale_only,
        store=Path(args.store) if args.store else None,
        scales=scales,
        llms=llms,
    )
    err = Console(stderr=True)
    result = run_bench(opts, progress=lambda msg: err.print(f"[dim]bench: {msg}[/dim]"))
    Console().print(_figures_table(result, quick=args.quick))
    Console().print(_targets_table(result))
    print(
        f"peak RSS {result['meta']['peak_rss_mb']:.0f} MB (whole process); "
        f"wrote {Path(args.out) / 'bench.json'}"
    )
    return 0


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _fmt(v) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{v:,.3g}" if v < 100 else f"{v:,.0f}"


def _figures_table(result: dict[str, Any], *, quick: bool):
    from rich.table import Table

    table = Table(title="papers bench" + (" (quick)" if quick else ""))
    for col in ("measure", "ours", "llama-index", "ours / llama-index"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    rows = [
        ("cold ingest (s)", "ingest.ours_s", "ingest.baseline_s", "ingest.ours_over_baseline"),
        (
            "word pieces embedded",
            "ingest.ours_word_pieces",
            "ingest.baseline_word_pieces",
            None,
        ),
        (
            "cold ingest per word piece",
            None,
            None,
            "ingest.ours_over_baseline_per_word_piece",
        ),
        ("embedding floor (s)", "ingest.floor_s", None, None),
        ("re-ingest, unchanged (s)", "reingest_s", None, None),
        ("search p50 (ms)", "retrieval.ours.p50_ms", "retrieval.baseline.p50_ms", None),
        ("search p95 (ms)", "retrieval.ours.p95_ms", "retrieval.baseline.p95_ms", None),
        ("time to sources p50 (ms)", "time_to_sources_ms", None, None),
    ]
    for label, ours, base, ratio in rows:
        o, b = ours and lookup(result, ours), base and lookup(result, base)
        r = (
            lookup(result, ratio)
            if ratio
            else (o / b if o and isinstance(b, (int, float)) else None)
        )
        if o is not None or b or r is not None:
            table.add_row(label, _fmt(o), _fmt(b), _fmt(r))
    for name, entry in result.get("llm", {}).items():
        if name == "none":
            continue
        if "error" in entry:
            table.add_row(f"llm {name}", f"[red]{entry['error']}[/red]", "", "")
        else:
            table.add_row(
                f"llm {name}: first token p50 (ms)", _fmt(entry.get("first_token_p50_ms")), "", ""
            )
            table.add_row(f"llm {name}: tokens/s", _fmt(entry.get("tokens_per_s")), "", "")
    for n, s in result.get("scale", {}).items():
        table.add_row(
            f"{int(n):,} chunks: insert/s, p50/p95 ms, found itself",
            f"{_fmt(s['insert_per_s'])}, {_fmt(s['query_p50_ms'])}/{_fmt(s['query_p95_ms'])}, "
            f"{s.get('self_recall_at_1', float('nan')):.0%}",
            "",
            f"rss {_fmt(s['rss_mb'])} MB, disk {_fmt(s['disk_mb'])} MB",
        )
    return table


def _targets_table(result: dict[str, Any]):
    from rich.table import Table

    goals = Table(title="targets")
    for col in ("target", "value", "limit", "pass", "missed by"):
        goals.add_column(col, justify="left" if col == "target" else "right")
    for c in check_targets(result):
        t = c.target
        missed = "" if c.passed else f"{_fmt(c.missed_by)} {t.unit} ({c.value / t.limit - 1:+.0%})"
        goals.add_row(
            t.label,
            f"{_fmt(c.value)} {t.unit}",
            f"{'<' if t.strict else '<='} {_fmt(t.limit)} {t.unit}",
            "[green]pass[/green]" if c.passed else "[red]miss[/red]",
            missed,
        )
    return goals


if __name__ == "__main__":
    sys.exit(main())
