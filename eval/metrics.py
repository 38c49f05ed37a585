"""Pure metric functions of the evaluation: retrieval, citations, answers, abstention, speed.

Everything here works on plain values (ids, texts, numbers), so each metric can be checked
by hand. Papers are identified by their normalised titles, which is how gold titles are
matched to retrieved papers. A metric that does not apply to a question is ``None`` and is
left out of averages (recall of an unanswerable question, say).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

# A citation marker as the answer writes it: [1], [1, 2], [1;2], [1-3].
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")
_RANGE = re.compile(r"(\d+)\s*[\u2013-]\s*(\d+)")

# Faithfulness and independent citation support: MiniLM cosine of an answer sentence with
# the best title/abstract sentence of a cited paper. Plain cosine, unlike rag's own check
# (cosine + word-overlap bonus, threshold 0.6), so that the eval does not grade the
# checker with the checker's own yardstick.
SUPPORT_COSINE = 0.5
RETRIEVAL_KS = (1, 5, 10)


# --- retrieval ------------------------------------------------------------------------


def recall_at_k(retrieved: Sequence[str], gold: Collection[str], k: int) -> float | None:
    """Share of the gold papers among the first ``k`` retrieved; None without gold."""
    if not gold:
        return None
    return len(set(retrieved[:k]) & set(gold)) / len(set(gold))


def reciprocal_rank(retrieved: Sequence[str], gold: Collection[str]) -> float | None:
    """1 / rank of the first gold paper retrieved (0 if none); None without gold."""
    if not gold:
        return None
    for rank, pid in enumerate(retrieved, start=1):
        if pid in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: Collection[str], k: int = 10) -> float | None:
    """Binary-relevance nDCG@k; None without gold."""
    if not gold:
        return None
    gold = set(gold)
    seen: set[str] = set()
    dcg = 0.0
    for i, pid in enumerate(retrieved[:k]):
        if pid in gold and pid not in seen:
            dcg += 1.0 / math.log2(i + 2)
        seen.add(pid)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal


# --- citations ------------------------------------------------------------------------


def marker_numbers(text: str) -> list[int]:
    """The citation numbers in ``text``, in order of appearance, ranges expanded."""
    out: list[int] = []
    for m in _MARKER.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(0)[1:-1].strip()):
            r = _RANGE.fullmatch(part)
            if r:
                a, b = int(r.group(1)), int(r.group(2))
                out.extend(range(min(a, b), max(a, b) + 1))
            elif part:
                out.append(int(part))
    return out


def strip_markers(text: str) -> str:
    """``text`` without its citation markers (what a sentence claims)."""
    return re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", text)).strip()


def dangling(text: str, listed: Iterable[int]) -> int:
    """How many distinct ``[n]`` in ``text`` have no listed citation (must be 0)."""
    allowed = set(listed)
    return len({n for n in marker_numbers(text) if n not in allowed})


def cited_sentence_share(sentences: Sequence[str]) -> float | None:
    """Share of answer sentences that carry at least one citation marker."""
    if not sentences:
        return None
    return sum(1 for s in sentences if _MARKER.search(s)) / len(sentences)


def citation_precision(
    cited: Collection[str], gold: Collection[str], supported: Collection[str]
) -> float | None:
    """Share of cited papers that are gold or whose abstract supports what cites them."""
    cited = set(cited)
    if not cited:
        return None
    ok = set(gold) | set(supported)
    return len(cited & ok) / len(cited)


def citation_recall(cited: Collection[str], gold: Collection[str]) -> float | None:
    """Share of gold papers that the answer cites; None without gold."""
    if not gold:
        return None
    return len(set(cited) & set(gold)) / len(set(gold))


# --- answers --------------------------------------------------------------------------


def must_mention_coverage(text: str, must: Sequence[str]) -> float | None:
    """Share of the ``must`` strings found in ``text``, case-insensitively."""
    if not must:
        return None
    low = text.casefold()
    return sum(1 for m in must if m.casefold() in low) / len(must)


def faithfulness(
    best_similarity: Sequence[float | None], threshold: float = SUPPORT_COSINE
) -> float | None:
    """Share of answer sentences whose best similarity to the abstracts they cite reaches
    ``threshold``. A sentence that cites nothing has similarity None and counts as unfaithful."""
    if not best_similarity:
        return None
    ok = sum(1 for s in best_similarity if s is not None and s >= threshold)
    return ok / len(best_similarity)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


# --- aggregation ----------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None if there are none."""
    vals = [v for v in values if v is not None]
    return fmean(vals) if vals else None


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between closest ranks; None if empty."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


# Kinds whose gold set is every paper the question is about, so a cited paper outside it
# is off target (a paraphrase or acronym question is about one paper, too).
COMPLETE_GOLD_KINDS = ("fact", "which-paper", "multi", "paraphrase", "acronym", "followup")


def cited_gold_share(cited: Collection[str], gold: Collection[str]) -> float | None:
    """Share of the cited papers that are gold: unlike ``citation_precision``, a citation
    whose abstract merely contains the sentence does not count, so padding with true
    sentences of papers beside the point shows here."""
    if not cited or not gold:
        return None
    return len(set(cited) & set(gold)) / len(set(cited))


def share(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else None


def aggregate(questions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sectioned summary of per-question records (see ``eval.run.score_question``)."""
    answerable = [q for q in questions if q["answerable"]]
    unanswerable = [q for q in questions if not q["answerable"]]
    retrieval = {f"recall@{k}": mean(q["retrieval"][f"recall@{k}"] for q in questions)
                 for k in RETRIEVAL_KS}  # fmt: skip
    retrieval["mrr"] = mean(q["retrieval"]["rr"] for q in questions)
    retrieval["ndcg@10"] = mean(q["retrieval"]["ndcg@10"] for q in questions)
    cites = [q["citations"] for q in questions]
    out: dict[str, dict[str, Any]] = {
        "retrieval": retrieval,
        "citations": {
            "precision": mean(c["precision"] for c in cites),
            "recall": mean(c["recall"] for c in cites),
            "cited_sentences": mean(c["cited_sentences"] for c in cites),
            "dangling": sum(c["dangling"] for c in cites),
            "cited_gold": mean(c.get("cited_gold") for c in cites),
            # The yardstick: questions whose gold set is complete by construction.
            "cited_gold_fact_which_multi": mean(
                q["citations"].get("cited_gold") for q in questions
                if q["kind"] in ("fact", "which-paper", "multi")
            ),
        },
        "sentences": _statuses(questions),
        "answer": {
            "must_mention": mean(q["answer"]["must_mention"] for q in questions),
            "faithfulness": mean(q["answer"]["faithfulness"] for q in questions),
        },
        "abstention": {
            "unanswerable_declined": share(q["declined"] for q in unanswerable),
            "answerable_declined": share(q["declined"] for q in answerable),
        },
        "speed": {},
        "n": {"questions": len(questions), "answerable": len(answerable),
              "unanswerable": len(unanswerable)},
    }  # fmt: skip
    judged = [q["judge"] for q in questions if q.get("judge") is not None]
    if judged:
        out["answer"]["judge"] = mean(judged)
    for name in ("retrieval_ms", "first_token_ms", "total_ms"):
        vals = [q["timings"].get(name) for q in questions]
        out["speed"][f"{name}_p50"] = percentile(vals, 50)
        out["speed"][f"{name}_p95"] = percentile(vals, 95)
    return out


def _statuses(questions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Shares of the shown sentences by the answer's own check status, the unsupported
    sentences shown (must be 0 unless asked for) and the answer length in words."""
    counts: dict[str, int] = {}
    for q in questions:
        for status, n in (q.get("statuses") or {}).items():
            counts[status] = counts.get(status, 0) + n
    shown = sum(counts.get(k, 0) for k in ("supported", "attributed", "unsupported_shown"))
    out: dict[str, Any] = {
        f"{k}_share": (counts.get(k, 0) / shown if shown else None)
        for k in ("supported", "attributed")
    }
    out["unsupported_shown"] = counts.get("unsupported_shown", 0)
    out["unsupported_removed"] = counts.get("unsupported", 0)
    out["model_sentences_shown"] = counts.get("model_shown", 0)
    out["answer_words"] = mean(q.get("answer_words") for q in questions)
    return out


# --- ranking benchmarks (BEIR) --------------------------------------------------------

# Measured with trec_eval (pytrec_eval), the implementation BEIR's own evaluator calls, so
# that our figures are comparable with the published ones: graded linear gains, log2
# discount, ideal DCG from every judged document of the query (Järvelin and Kekäläinen,
# "Cumulated gain-based evaluation of IR techniques", TOIS 2002, as trec_eval's ndcg_cut).
MRR_CUT = 10


def ranking_measures(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], *, k: int
) -> dict[str, dict[str, float]]:
    """nDCG@10, recall@1/5/``k`` and MRR@10 of each query of ``qrels``, by query id.

    ``rankings`` holds each query's document ids, best first (a query missing from it, or
    with nothing retrieved, scores 0 everywhere); grades in ``qrels`` above 0 are relevant.
    """
    import pytrec_eval

    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}

    def run(cut: int) -> dict[str, dict[str, float]]:
        # trec_eval orders a run by score, not by the order given: the score is the rank
        # turned round, so ties (fused scores can tie) cannot reorder it.
        out: dict[str, dict[str, float]] = {}
        for q in judged:
            ranked = list(dict.fromkeys(rankings.get(q, ())))[:cut]
            out[q] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
        return out

    cuts = sorted({1, 5, k})
    main = pytrec_eval.RelevanceEvaluator(
        judged, {"ndcg_cut.10", "recall." + ",".join(map(str, cuts))}
    ).evaluate(run(k))
    # trec_eval's recip_rank has no cut-off: MRR@10 is recip_rank of the run cut at 10.
    rr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(run(MRR_CUT))
    return {
        q: {
            "ndcg@10": main[q]["ndcg_cut_10"],
            f"recall@{k}": main[q][f"recall_{k}"],
            f"mrr@{MRR_CUT}": rr[q]["recip_rank"],
            "recall@1": main[q]["recall_1"],
            "recall@5": main[q]["recall_5"],
        }
        for q in judged
    }
