"""Which rows of a large synthetic store does the vector search fail to find by their own vector?

    .venv/bin/python scripts/hnsw_probe.py 400000

Builds a store of N random unit vectors the way `papers bench` does (ids p<i/3>#<i%3>), probes
30 rows spread through the insert order, and prints the ones not returned first, then checks
that the last probe is stored and probes again from a reopened client. Scattered misses with
every row stored mean the approximate (HNSW) search missed them, not that rows were lost.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.store import VectorStore  # noqa: E402


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
    folder = Path(tempfile.mkdtemp(prefix="hnsw-probe-"))
    rng = np.random.default_rng(0)
    store = VectorStore(path=folder / "chroma", collection="scale", embedder="synthetic", dim=384)
    ids = [f"p{i // 3}#{i % 3}" for i in range(n)]
    every = max(1, n // 30)
    probes = []
    t0 = time.perf_counter()
    for i in range(0, n, 4000):
        j = min(n, i + 4000)
        v = rng.standard_normal((j - i, 384)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        store.upsert(ids[i:j], v, [x.split("#")[0] for x in ids[i:j]])
        probes += [(k, ids[k], v[k - i]) for k in range(i, j) if k % every == 0]
    print(f"inserted {n:,} in {time.perf_counter() - t0:.0f} s", flush=True)

    def check(tag: str) -> None:
        miss = [k for k, cid, vec in probes if store.query(vec, 1)[0].chunk_id != cid]
        print(f"{tag}: {len(probes) - len(miss)}/{len(probes)} found first; missed rows {miss}")

    try:
        check("same client")
        col = store.collection()
        print("configuration:", col.configuration)
        got = col.get(ids=[probes[-1][1]], include=["embeddings"])
        cos = float(np.dot(got["embeddings"][0], probes[-1][2]))
        print(f"last probe stored: {len(got['ids'])} row, cosine to what was written {cos:.4f}")
        store.reopen()
        check("reopened client")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
