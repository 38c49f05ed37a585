"""Offline sweep of fusion rules and BM25 tokenizers on cached retriever outputs.

Run: ``python -m eval.fusion_sweep --store SEEDSTORE [--scifact-store STORE] [--out DIR]``.

Each question's dense chunk ranking (MiniLM cosine) is fetched once from the store; BM25 is
rebuilt here over the store's own chunk texts for each tokenizer variant, so a rule can be
scored on every set in seconds rather than by re-running ``Library.search``. The rule that
wins on the *tune* halves is then put in ``rag.retrieve`` and measured for real, on the held
out halves, by ``python -m eval.retrieval_eval``. The BM25 variants are written here on
purpose, beside the library's tokenizer rather than imported from it (front-ends import only
``rag``'s public names), so the sweep can try tokenizers the library does not have.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag import Library, normalise_title

QUESTIONS = Path(__file__).with_name("questions")
DEV = Path(__file__).with_name("dev.jsonl")
SCIFACT = Path("/work/shared/benchmarks/scifact-train")
POOL = 40  # chunks each retriever proposes (settings.retrieval.candidates)

_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their "
    "this to was we were which with our these those can also than via".split()
)


@dataclass
class Query:
    """One question with its gold ids, its set and split, and the cached dense ranking."""

    qid: str
    text: str
    gold: dict[str, int]  # gold id -> grade (paper ids for seed sets, BEIR ids for SciFact)
    group: str
    split: str
    dense: list[tuple[str, str, float]] | None = None


def tok_base(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


def _stemmer() -> Callable[[list[str]], list[str]]:
    import Stemmer

    s = Stemmer.Stemmer("english")
    return s.stemWords


def tok_stem(text: str) -> list[str]:
    return _STEM(tok_base(text))


def tok_stem_split(text: str) -> list[str]:
    # Hyphenated and dotted compounds also as their parts ("pre-trained" -> pre, trained).
    out: list[str] = []
    for t in tok_base(text):
        out.append(t)
        if "-" in t or "." in t:
            out.extend(p for p in re.split(r"[.\-]", t) if p and p not in _STOP)
    return _STEM(out)


# Question words: every question has them, abstracts rarely do (rag/lexical.py).
_QWORDS = frozenset("what how why when where who whom whose does do did".split())


def tok_stem_split_q(text: str) -> list[str]:
    out: list[str] = []
    for t in tok_base(text):
        if t in _QWORDS:
            continue
        out.append(t)
        if "-" in t or "." in t:
            out.extend(p for p in re.split(r"[.\-]", t) if p and p not in _STOP | _QWORDS)
    return _STEM(out)


_STEM = _stemmer()
TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "base": tok_base,
    "stem": tok_stem,
    "stem+split": tok_stem_split,
    "stem+split+qwords": tok_stem_split_q,
}


# --- loading ----------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seed_queries(lib: Library) -> list[Query]:
    """Paraphrase, acronym (their tune/test halves) and answerable dev questions."""
    papers = lib.papers(set(_snapshot(lib)[2]))
    by_title = {normalise_title(p.title): pid for pid, p in papers.items()}
    out = []
    for name in ("paraphrase", "acronym"):
        for it in _jsonl(QUESTIONS / f"{name}.jsonl"):
            gold = {by_title[normalise_title(t)]: 1 for t in it["gold_titles"]}
            out.append(Query(it["id"], it["question"], gold, name, it["split"]))
    for i, it in enumerate(_jsonl(DEV)):
        if not it["answerable"]:
            continue
        text = it["question"]
        if it.get("context_question"):  # a stand-in for the condensed follow-up
            text = it["context_question"] + " " + text
        gold = {by_title[normalise_title(t)]: 1 for t in it["gold_titles"]}
        out.append(Query(it["id"], text, gold, "dev", "tune" if i % 2 else "test"))
    return out


def scifact_queries(data: Path = SCIFACT) -> list[Query]:
    """SciFact train claims; odd query ids are the tune half, even ones the test half."""
    queries = {str(o["_id"]): o["text"] for o in _jsonl(data / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    for line in (data / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    return [
        Query(q, queries[q], qrels[q], "scifact", "tune" if int(q) % 2 else "test")
        for q in queries
        if q in qrels
    ]


_SNAP: dict[str, tuple[int, list[str], list[str], list[str]]] = {}


def _snapshot(lib: Library) -> tuple[int, list[str], list[str], list[str]]:
    key = str(lib.store_dir)
    if key not in _SNAP:
        _SNAP[key] = lib.storage.catalogue.chunk_texts_snapshot()
    return _SNAP[key]


def attach_dense(lib: Library, queries: list[Query], n: int = POOL) -> None:
    lib.warm()
    vecs = lib.storage.embedder.embed([q.text for q in queries])
    for q, v in zip(queries, vecs, strict=True):
        q.dense = [(h.chunk_id, h.paper_id, h.similarity) for h in lib.storage.vectors.query(v, n)]


class BM25:
    """bm25s over the store's chunk texts with one tokenizer."""

    def __init__(self, lib: Library, tokenizer: Callable[[str], list[str]]) -> None:
        import bm25s

        _, self.ids, self.pids, texts = _snapshot(lib)
        self.tok = tokenizer
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenizer(t) for t in texts], show_progress=False)
        self.vocab = self.bm25.vocab_dict

    def query(self, text: str, n: int = POOL) -> list[tuple[str, str, float]]:
        tokens = [t for t in self.tok(text) if t in self.vocab]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], self.pids[i], float(scores[i])) for i in top if scores[i] > 0]


# --- fusion rules -----------------------------------------------------------------------


def paper_best(chunks: Sequence[tuple[str, str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for _, pid, s in chunks:
        out.setdefault(pid, s)
    return out


def rrf(dw: float, bw: float, k: float) -> Callable[..., list[str]]:
    def rule(dense, lex, **_):
        d, b = list(paper_best(dense)), list(paper_best(lex))
        score: dict[str, float] = {}
        for r, p in enumerate(d, 1):
            score[p] = score.get(p, 0) + dw / (k + r)
        for r, p in enumerate(b, 1):
            score[p] = score.get(p, 0) + bw / (k + r)
        return sorted(score, key=lambda p: -score[p])

    return rule


def convex(alpha: float, norm: str = "minmax") -> Callable[..., list[str]]:
    """alpha * normalised dense + (1 - alpha) * normalised BM25 (a missing side counts 0)."""

    def rule(dense, lex, **_):
        d, b = _norm(paper_best(dense), norm), _norm(paper_best(lex), norm)
        score = {p: alpha * d.get(p, 0.0) + (1 - alpha) * b.get(p, 0.0) for p in {*d, *b}}
        return sorted(score, key=lambda p: -score[p])

    return rule


def _norm(s: dict[str, float], how: str) -> dict[str, float]:
    if not s:
        return {}
    vals = list(s.values())
    if how == "max":
        top = max(vals) or 1.0
        return {p: v / top for p, v in s.items()}
    if how == "z":
        mu, sd = statistics.fmean(vals), statistics.pstdev(vals) or 1.0
        return {p: (v - mu) / sd for p, v in s.items()}
    lo, hi = min(vals), max(vals)
    return {p: (v - lo) / (hi - lo) if hi > lo else 1.0 for p, v in s.items()}


def convex_z(
    alpha: float, *, pad: bool = False, named: tuple[Callable[[Query], bool], float] | None = None
) -> Callable[..., list[str]]:
    """Convex z fusion as rag.retrieve does it: ``pad`` counts BM25's pool with zeros up to
    dense's size; ``named`` = (test, share) uses that dense share for questions the test picks."""

    def rule(dense, lex, query=None, **_):
        d, b = paper_best(dense), paper_best(lex)
        dz = _norm(d, "z")
        bvals = list(b.values()) + [0.0] * max(0, len(d) - len(b)) if pad else list(b.values())
        if b:
            mu, sd = statistics.fmean(bvals), statistics.pstdev(bvals) or 1.0
        bz = {p: (v - mu) / sd for p, v in b.items()} if b else {}
        a = named[1] if named is not None and query is not None and named[0](query) else alpha
        score = {p: a * dz.get(p, 0.0) + (1 - a) * bz.get(p, 0.0) for p in {*d, *b}}
        return sorted(score, key=lambda p: -score[p])

    return rule


# A name as rag.detail reads one: a word with two capitals (FDEN, CRLNet), possessive aside.
_NAME = re.compile(r"(?<![\w-])(?=[\w^-]*[A-Z][\w^-]*[A-Z])[\w^][\w^-]*")


def names_rare(bm: BM25, most: int = 3) -> Callable[[Query], bool]:
    """Whether a question names something at most ``most`` papers use (its first token)."""
    indptr, docs = bm.bm25.scores["indptr"], bm.bm25.scores["indices"]

    def papers(token: str) -> int:
        i = bm.vocab.get(token)
        return 0 if i is None else len({bm.pids[d] for d in docs[indptr[i] : indptr[i + 1]]})

    def test(q: Query) -> bool:
        words = [re.sub(r"['\u2019]s$", "", w).strip("-") for w in _NAME.findall(q.text)]
        return any(0 < papers(t) <= most for w in words for t in bm.tok(w)[:1])

    return test


def mode(which: str) -> Callable[..., list[str]]:
    def rule(dense, lex, **_):
        return list(paper_best(dense if which == "dense" else lex))

    return rule


# --- measuring --------------------------------------------------------------------------


def measures(ranked: Sequence[str], gold: dict[str, int]) -> dict[str, float]:
    rel = {g for g, v in gold.items() if v > 0}
    r1 = len(set(ranked[:1]) & rel) / len(rel)
    r5 = len(set(ranked[:5]) & rel) / len(rel)
    rr = next((1 / i for i, p in enumerate(ranked[:10], 1) if p in rel), 0.0)
    dcg = sum(gold.get(p, 0) / math.log2(i + 2) for i, p in enumerate(ranked[:10]))
    best = sorted(gold.values(), reverse=True)[:10]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(best))
    return {"r@1": r1, "r@5": r5, "mrr": rr, "ndcg@10": dcg / ideal}


def score_rule(
    rule: Callable[..., list[str]],
    queries: Sequence[Query],
    lex: dict[str, list[tuple[str, str, float]]],
    doc_of: dict[str, str] | None = None,
) -> dict[str, float]:
    rows = []
    for q in queries:
        ranked = rule(q.dense or [], lex[q.qid], query=q)
        if doc_of is not None:
            ranked = [doc_of.get(p, p) for p in ranked]
        rows.append(measures(ranked, q.gold))
    return {m: statistics.fmean(r[m] for r in rows) for m in rows[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="/tmp/seedstore-fusion")
    ap.add_argument("--scifact-store")
    ap.add_argument("--out", default="eval-out/fusion-sweep")
    args = ap.parse_args(argv)
    groups: list[tuple[Library, list[Query], dict[str, str] | None]] = []
    lib = Library.open(args.store)
    qs = seed_queries(lib)
    attach_dense(lib, qs)
    groups.append((lib, qs, None))
    if args.scifact_store:
        from eval.beir import read_corpus

        slib = Library.open(args.scifact_store)
        sq = scifact_queries()
        attach_dense(slib, sq)
        doc_of = read_corpus(SCIFACT / "corpus.jsonl", source="x").doc_of
        groups.append((slib, sq, doc_of))
    base: dict[str, Callable[..., list[str]]] = {"dense": mode("dense"), "bm25": mode("bm25")}
    for dw, bw, k in [(2, 1, 20), (1, 1, 60), (1.5, 1, 20), (1, 1, 20), (2, 1, 60), (3, 1, 20)]:
        base[f"rrf {dw}:{bw} k{k}"] = rrf(dw, bw, k)
    for norm in ("minmax", "max", "z"):
        for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            base[f"convex {norm} a{a}"] = convex(a, norm)
    results: list[dict[str, Any]] = []
    for tname, tok in TOKENIZERS.items():
        for glib, gq, doc_of in groups:
            bm = BM25(glib, tok)
            lex = {q.qid: bm.query(q.text) for q in gq}
            rules = dict(base)
            for a in (0.5, 0.6):
                rules[f"convex zpad a{a}"] = convex_z(a, pad=True)
            for share in (0.2, 0.3, 0.4):
                rules[f"zpad a0.6 named {share}"] = convex_z(
                    0.6, pad=True, named=(names_rare(bm), share)
                )
            sets = sorted({(q.group, q.split) for q in gq})
            for rname, rule in rules.items():
                if tname != "base" and rname == "dense":
                    continue
                for g, s in sets:
                    sub = [q for q in gq if q.group == g and q.split == s]
                    m = score_rule(rule, sub, lex, doc_of)
                    results.append({"tok": tname, "rule": rname, "set": g, "split": s, **m})
                print(f"{tname:10s} {rname:22s} " + " ".join(
                    f"{r['set'][:5]}/{r['split'][:2]} {r['ndcg@10']:.3f}"
                    for r in results if r["tok"] == tname and r["rule"] == rname
                ), flush=True)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
