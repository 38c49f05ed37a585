# Run: .venv/bin/python -m eval.fusion_sweep STORE  (a store holding the seed corpus)
"""recall@5 of dense / bm25 / hybrid on paraphrase vs other kinds; fusion settings sweep;
best dense score of answerable vs unanswerable questions."""

import json
import statistics
import sys
from pathlib import Path

from eval.metrics import recall_at_k, reciprocal_rank
from rag import Library, normalise_title

STORE = sys.argv[1] if len(sys.argv) > 1 else "/tmp/seedstore"
items = [json.loads(l) for l in open(Path(__file__).with_name("dev.jsonl")) if l.strip()]


# followups: use the question as-is concatenated? Retrieval for them depends on condensation;
# here use context_question + question as the query, a stand-in for the condensed one.
def query(it):
    return it["question"]


def run(lib, mode):
    out = {}
    for it in items:
        if not it["answerable"]:
            continue
        hits = lib.search(query(it), k=10, mode=mode)
        gold = {normalise_title(t) for t in it["gold_titles"]}
        ranked = [normalise_title(h.paper.title) for h in hits]
        out[it["id"]] = (it["kind"], recall_at_k(ranked, gold, 5), reciprocal_rank(ranked, gold))
    return out


def summarise(res):
    para = [r for k, r, _ in res.values() if k == "paraphrase"]
    other = [r for k, r, _ in res.values() if k != "paraphrase"]
    mp = [rr for k, _, rr in res.values() if k == "paraphrase"]
    mo = [rr for k, _, rr in res.values() if k != "paraphrase"]
    return (
        statistics.fmean(para),
        statistics.fmean(other),
        statistics.fmean(mp),
        statistics.fmean(mo),
        len(para),
        len(other),
    )


base = Library.open(STORE, retrieval={"dense_weight": 1.0, "bm25_weight": 1.0, "rrf_k": 60})
print("mode     para_r@5 other_r@5 para_mrr other_mrr (n para/other)")
for mode in ("dense", "bm25", "hybrid"):
    p, o, mp, mo, npara, noth = summarise(run(base, mode))
    print(f"{mode:8s} {p:.3f}    {o:.3f}     {mp:.3f}    {mo:.3f}   ({npara}/{noth})")
sys.stdout.flush()

print("\nsweep (hybrid): dense_w bm25_w rrf_k candidates -> para_r@5 other_r@5 para_mrr other_mrr")
grid = [(1, 1, 60), (2, 1, 60), (3, 1, 60), (2, 1, 20), (1.5, 1, 60)]
for dw, bw, rk in grid:
    lib = Library.open(STORE, retrieval={"dense_weight": dw, "bm25_weight": bw, "rrf_k": rk})
    lib.storage.__dict__["embedder"] = base.storage.embedder
    p, o, mp, mo, *_ = summarise(run(lib, "hybrid"))
    print(f"  {dw:4} {bw:4} {rk:4} -> {p:.3f} {o:.3f} {mp:.3f} {mo:.3f}")
    sys.stdout.flush()
