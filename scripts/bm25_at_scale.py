"""BM25 alone over the bench's 1M synthetic chunks (same texts as `papers bench --scale 1000000`).

Run: .venv/bin/python scripts/bm25_at_scale.py [N]   (about 4 minutes for 1M)
Splits the 1M hybrid query time: if BM25 alone is fast, the rest is the Chroma step.
"""

import random, statistics, tempfile, time
from pathlib import Path
from eval.bench import _seed_sentences, QUERIES
from rag.lexical import LexicalIndex
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
pick = random.Random(1234)
sentences = _seed_sentences(Path("/work/shared/seeds"))
texts = [" ".join(pick.choices(sentences, k=pick.randint(2, 4))) for _ in range(n)]
paper_ids = [f"p{i // 3}" for i in range(n)]
ids = [f"{pid}#{i % 3}" for i, pid in enumerate(paper_ids)]
lex = LexicalIndex(Path(tempfile.mkdtemp()))
t0 = time.perf_counter()
lex.build(ids, paper_ids, texts, 0)
print("build", round(time.perf_counter() - t0, 1), flush=True)
for q in QUERIES[:3]:
    lex.query(q, 40)
xs = []
for q in QUERIES:
    t0 = time.perf_counter()
    lex.query(q, 40)
    xs.append((time.perf_counter() - t0) * 1000)
print(
    "bm25 query p50 ms",
    round(statistics.median(xs), 1),
    "p95",
    round(sorted(xs)[int(0.95 * len(xs))], 1),
)
