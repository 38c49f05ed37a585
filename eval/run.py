"""Run the dev set through the public ``rag`` API and score every answer."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from eval import metrics as m

Progress = Callable[[int, int, str], None]


def load_dataset(
    path: str | Path, *, limit: int | None = None, ids: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The questions of a dev-set JSONL file: those whose id is in ``ids`` (all if None),
    then the first ``limit`` of them."""
    lines = Path(path).read_text("utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    if ids is not None:
        unknown = set(ids) - {i["id"] for i in items}
        if unknown:
            raise ValueError(f"no such question ids in {Path(path).name}: {sorted(unknown)}")
        items = [i for i in items if i["id"] in set(ids)]
    return items[:limit] if limit else items


class SentenceSupport:
    """Best MiniLM cosine of a claim with a paper's title and abstract sentences, cached."""

    def __init__(self, embedder: Any) -> None:
        from rag import EmbeddingCache

        self.vectors = EmbeddingCache(embedder).get

    def best(self, claim: str, title: str, abstract: str) -> float:
        from rag import split_sentences

        units = [u for u in [title, *split_sentences(abstract)] if u]
        if not claim or not units:
            return 0.0
        cv, *uvs = self.vectors([claim, *units])
        return max(m.cosine(cv, uv) for uv in uvs)


def score_question(
    item: Mapping[str, Any],
    answer: Any,
    ranked: Sequence[Any],
    support: SentenceSupport,
    abstracts: Mapping[str, tuple[str, str]],
) -> dict[str, Any]:
    """One question's record: what was retrieved, cited and said, and its metrics.

    ``ranked`` are the top-10 hits for the (condensed) question; ``abstracts`` maps paper
    ids to (title, abstract) for every paper the answer may cite.
    """
    from rag import normalise_title, split_sentences

    gold = {normalise_title(t) for t in item["gold_titles"]}
    retrieved = [normalise_title(h.paper.title) for h in ranked]
    retrieval = {f"recall@{k}": m.recall_at_k(retrieved, gold, k) for k in m.RETRIEVAL_KS}
    retrieval["rr"] = m.reciprocal_rank(retrieved, gold)
    retrieval["ndcg@10"] = m.ndcg_at_k(retrieved, gold, 10)

    by_number = {c.n: c for c in answer.citations}
    cited = {normalise_title(c.title) for c in answer.citations}
    sentences = [] if answer.declined else split_sentences(answer.text)
    supported: set[str] = set()
    best_per_sentence: list[float | None] = []
    for sentence in sentences:
        claim = m.strip_markers(sentence)
        best: float | None = None
        for n in dict.fromkeys(m.marker_numbers(sentence)):
            cite = by_number.get(n)
            if cite is None or cite.paper_id not in abstracts:
                continue
            title, abstract = abstracts[cite.paper_id]
            sim = support.best(claim, title, abstract)
            if sim >= m.SUPPORT_COSINE:
                supported.add(normalise_title(cite.title))
            best = sim if best is None else max(best, sim)
        best_per_sentence.append(best)

    dense = [h.dense_score for h in ranked if h.dense_score is not None]
    return {
        "id": item["id"],
        "kind": item["kind"],
        "answerable": bool(item["answerable"]),
        "question": item["question"],
        "context_question": item.get("context_question"),
        "standalone_question": answer.standalone_question,
        "answer_text": answer.text,
        "declined": bool(answer.declined),
        "gold_titles": list(item["gold_titles"]),
        "retrieved": [h.paper.title for h in ranked],
        "best_dense_score": max(dense) if dense else None,
        "retrieval": retrieval,
        "citations": {
            "cited": [c.title for c in answer.citations],
            "precision": m.citation_precision(cited, gold, supported),
            "recall": m.citation_recall(cited, gold),
            "cited_sentences": m.cited_sentence_share(sentences),
            "dangling": m.dangling(answer.text, by_number),
            "cited_gold": (
                m.cited_gold_share(cited, gold) if item["kind"] in m.COMPLETE_GOLD_KINDS else None
            ),
        },
        "statuses": _statuses(answer),
        "answer_words": len(answer.text.split()) if not answer.declined else 0,
        "answer": {
            "must_mention": m.must_mention_coverage(answer.text, item.get("must_mention") or []),
            "faithfulness": m.faithfulness(best_per_sentence),
            "sentence_support": [None if s is None else round(s, 4) for s in best_per_sentence],
        },
        "timings": answer.timings.to_dict(),
        "judge": None,
    }


def _statuses(answer: Any) -> dict[str, int]:
    """Counts of the answer's sentences by check status; an unsupported sentence that is one
    of the shown answer's sentences counts as ``unsupported_shown`` (0 unless
    --show-unsupported). Sentences are compared whole, markers and the mark aside."""
    from rag import split_sentences

    def bare(text: str) -> str:
        return " ".join(m.strip_markers(text).replace("(unsupported) ", "").split()).rstrip(".")

    shown = {bare(t) for t in split_sentences(answer.text)}
    counts: dict[str, int] = {}
    for s in getattr(answer, "sentences", []):
        key = s.status
        claim = bare(s.text)
        if s.status == "unsupported" and re.search(r"\w", claim) and claim in shown:
            key = "unsupported_shown"
        counts[key] = counts.get(key, 0) + 1
        if s.origin == "model" and s.status != "unsupported":
            counts["model_shown"] = counts.get("model_shown", 0) + 1
    return counts


def run_eval(
    dataset_path: str | Path,
    *,
    store: str | Path | None = None,
    llm: str = "none",
    k: int = 5,
    limit: int | None = None,
    ids: Collection[str] | None = None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    judge: Any = None,
    library: Any = None,
) -> dict[str, Any]:
    """Ask every question of the dev set and return the report (written to ``out_dir``).

    A follow-up asks its ``context_question`` first, in the same conversation. Retrieval
    metrics use the top 10 papers for the question the answer was retrieved for (the
    condensed one for follow-ups), before the relevance floor. ``ids`` keeps only those
    questions (a fixed slice); ``limit`` then keeps the first N.
    """
    from rag import Conversation, Library

    dataset_path = Path(dataset_path)
    items = load_dataset(dataset_path, limit=limit, ids=ids)
    lib = library if library is not None else Library.open(store)
    support = SentenceSupport(lib.storage.embedder)
    records: list[dict[str, Any]] = []
    backend = model = None
    for i, item in enumerate(items):
        if progress:
            progress(i, len(items), item["id"])
        conversation = Conversation()
        if item.get("context_question"):
            lib.ask(item["context_question"], conversation=conversation, llm=llm, k=k)
        answer = lib.ask(item["question"], conversation=conversation, llm=llm, k=k)
        backend, model = answer.backend, answer.model
        ranked = lib.search(answer.standalone_question or item["question"], k=10)
        abstracts = {h.paper.paper_id: (h.paper.title, h.paper.abstract)
                     for _, turn in conversation.turns for h in turn.sources}  # fmt: skip
        record = score_question(item, answer, ranked, support, abstracts)
        if judge is not None:
            record["judge"] = judge.grade(item["question"], item["reference_answer"], answer.text)
        records.append(record)
    if progress:
        progress(len(items), len(items), "")

    kinds = list(dict.fromkeys(r["kind"] for r in records))
    report = {
        "config": {
            "dataset": dataset_path.name,
            "dataset_sha256": hashlib.sha256(dataset_path.read_bytes()).hexdigest(),
            "n": len(records),
            "limit": limit,
            "ids": sorted(ids) if ids is not None else None,
            "backend": backend,
            "model": model,
            "llm": llm,
            "embedder": lib.storage.embedder.name,
            "store": str(lib.store_dir),
            "k": k,
            "min_dense_score": lib.settings.retrieval.min_dense_score,
            "support_cosine": m.SUPPORT_COSINE,
            "judge": getattr(judge, "name", None),
            # Latency means little on a shared machine without how busy it was.
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "overall": m.aggregate(records),
        "by_kind": {kind: m.aggregate([r for r in records if r["kind"] == kind]) for kind in kinds},
        "questions": records,
    }
    if out_dir is not None:
        from eval.report import write_report

        write_report(report, out_dir)
    return report
