"""What one word piece costs MiniLM: our chunks against whole abstracts, and one process of two
threads against two processes of one thread each. The README's "why the ingest miss" reads
its figures from this script.

    .venv/bin/python scripts/embed_cost.py [--papers 300] [--runs 3] [--seeds ../shared/seeds]

Run it on a quiet machine: it times PyTorch on both cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_worker = None


def _init_worker() -> None:
    global _worker
    import torch

    from rag.embedders import MiniLMEmbedder

    torch.set_num_threads(1)
    _worker = MiniLMEmbedder(use_onnx=False)
    _worker.prepare()


def _embed_in_worker(texts: list[str]) -> int:
    assert _worker is not None
    return len(_worker.embed(texts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default=str(ROOT.parent / "shared" / "seeds"))
    ap.add_argument("--papers", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from rag.embedders import MiniLMEmbedder
    from rag.sources import read_papers
    from rag.library import Library

    papers, _ = read_papers([Path(args.seeds)], lambda p: None)
    picked = list(papers.values())[: args.papers]
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp) / "store")
        ours = [c.embed_text for p in picked for c in lib.storage.chunker.chunk(p)]
        lib.close()
    whole = [p.abstract for p in picked]  # what the llama-index baseline embeds, one per paper

    emb = MiniLMEmbedder(use_onnx=False)
    emb.prepare()
    tok = emb._load().tokenizer

    def pieces(texts: list[str]) -> int:  # what the model reads: at most 256 a text
        return sum(min(256, len(tok(t)["input_ids"])) for t in texts)

    def timed(fn) -> float:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(f"{len(picked)} papers; median of {args.runs} runs")
    cost = {}
    for name, texts in (("our chunks", ours), ("whole abstracts", whole)):
        n = pieces(texts)
        s = timed(lambda texts=texts: emb.embed(texts))
        cost[name] = s / n
        print(f"{name:16s} {len(texts):5d} texts {n:7,d} word pieces {s:6.1f} s "
              f"{s / n * 1e6:5.0f} us/word piece")  # fmt: skip
    print(f"our chunks / whole abstracts, per word piece: "
          f"{cost['our chunks'] / cost['whole abstracts']:.2f}")  # fmt: skip

    one = timed(lambda: emb.embed(ours))
    with ProcessPoolExecutor(2, initializer=_init_worker) as pool:
        list(pool.map(_embed_in_worker, [ours[:4], ours[:4]]))  # load both models first
        two = timed(lambda: list(pool.map(_embed_in_worker, [ours[0::2], ours[1::2]])))
    print(f"our chunks, 1 process x 2 threads {one:.1f} s; 2 processes x 1 thread {two:.1f} s "
          f"({one / two:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
