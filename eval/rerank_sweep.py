# Run: .venv/bin/python -m eval.rerank_sweep STORE  (a store holding the seed corpus)
"""Does the sentence reranker (rag/rerank.py) help? recall@1/@5 and MRR on the answerable dev
questions, paraphrase vs others, without and with it at several weights, and what it costs in
search latency (cold: sentences embedded for the first time; warm: cached)."""

import json
import statistics
import sys
import time
from pathlib import Path

from eval.metrics import percentile, recall_at_k, reciprocal_rank
from rag import Library, normalise_title

STORE = sys.argv[1] if len(sys.argv) > 1 else "/tmp/seedstore"
items = [json.loads(x) for x in open(Path(__file__).with_name("dev.jsonl")) if x.strip()]
items = [it for it in items if it["answerable"] and not it.get("context_question")]


def run(lib):
    rows, ms = [], []
    for it in items:
        t0 = time.perf_counter()
        hits = lib.search(it["question"], k=10)
        ms.append((time.perf_counter() - t0) * 1000)
        gold = {normalise_title(t) for t in it["gold_titles"]}
        ranked = [normalise_title(h.paper.title) for h in hits]
        rows.append(
            (
                it["kind"] == "paraphrase",
                recall_at_k(ranked, gold, 1),
                recall_at_k(ranked, gold, 5),
                reciprocal_rank(ranked, gold),
            )
        )
    return rows, ms


def line(name, rows, ms):
    def mean(para, i):
        return statistics.fmean(r[i] for r in rows if r[0] == para)

    print(
        f"{name:28s} para R@1 {mean(True, 1):.3f} R@5 {mean(True, 2):.3f} MRR {mean(True, 3):.3f}"
        f" | others R@1 {mean(False, 1):.3f} R@5 {mean(False, 2):.3f} MRR {mean(False, 3):.3f}"
        f" | search p50 {percentile(ms, 50):.0f} ms p95 {percentile(ms, 95):.0f} ms",
        flush=True,
    )


base = Library.open(STORE)
base.warm()
print(f"{len(items)} answerable dev questions (follow-ups left out: they need condensation)")
line("fused (default)", *run(base))
for weight, candidates in ((2.0, 20), (1.0, 20), (4.0, 20), (2.0, 10)):
    lib = Library.open(
        STORE,
        retrieval={"rerank": True, "rerank_weight": weight, "rerank_candidates": candidates},
    )
    lib.storage.__dict__["embedder"] = base.storage.embedder
    if weight == 2.0 and candidates == 20:
        # Shared: later runs are warm.
        lib.storage.__dict__["sentence_vectors"] = base.storage.sentence_vectors
        line(f"rerank w{weight} n{candidates} (cold)", *run(lib))
    lib.storage.__dict__["sentence_vectors"] = base.storage.sentence_vectors
    line(f"rerank w{weight} n{candidates} (warm)", *run(lib))
