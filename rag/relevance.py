"""Whether the library can answer a question: one decision from every retrieval signal.

The old floor looked at MiniLM's cosine alone, and MiniLM does not know acronyms: "How does
AWQ decide which weights to protect?" scored 0.37 against the AWQ paper and was declined,
while BM25 matched "AWQ" in its title. The decision is now a logistic rule over what the
retrievers saw (``signals``); its weights were fitted by ``python -m eval.abstention`` on the
*tune* halves of eval/questions/{offcorpus,paraphrase,acronym}.jsonl and checked on their
*test* halves and on eval/dev.jsonl (figures in ``WEIGHTS``' comment and the README).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.detail import (
    absent_names,
    asked_figure,
    figure_stated,
    named_paper,
    unheld_claim,
    unheld_kind,
    unheld_names,
    unmatched_names,
)
from rag.lexical import tokenize
from rag.text import asked_part, content_words
from rag.types import Hit

if TYPE_CHECKING:
    from rag.answer import AnswerEvent
    from rag.storage import Storage

__all__ = ["Relevance", "decline_text", "declined", "judge", "probability", "signals"]

# How many of the found papers are shown as the closest when declining.
CLOSEST = 3

# Fitted by `python -m eval.abstention --store SEEDSTORE` (logistic regression, C=1,
# balanced classes, on the standardised signals of the tune-half questions the text checks of
# rag/detail.py leave to it: the tune halves of eval/questions/{offcorpus,paraphrase,acronym}
# .jsonl and dev.jsonl's odd lines); these are the weights on the raw signals. MiniLM's cosine
# weighs most; BM25's term coverage and the fused score let an acronym question through.
# Adding the best evidence sentence's cosine, the idf share of words no paper uses, or the count
# of such words did not help on the test halves (31/36 off-corpus and 3-4/99 answerable
# declined with each, as without; measured with an earlier version of the text checks). What
# they cannot tell, near misses (the paper is in the library, the asked detail is not in its
# abstract), the text checks in judge() decline.
WEIGHTS: dict[str, float] = {
    "dense": 12.1914,
    "fused": 1.4679,
    "coverage": 4.3773,
    "agree": 0.3288,
}
INTERCEPT = -11.0664

_WORD = re.compile(r"[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Relevance:
    """The decision for one question: ``answers`` or not, the probability it rests on, a
    one-line ``reason`` when it declines, and the ``closest`` papers to show then."""

    answers: bool
    probability: float
    reason: str = ""
    closest: list[Hit] = field(default_factory=list)
    signals: Mapping[str, float] = field(default_factory=dict)
    # Which text check declined ("absent", "unheld", "kind", "apart", "claim", "figure": see
    # _text_checks and rag/detail.py), "named" when the question named a found paper and was
    # answered for it, "" when the fitted rule decided.
    check: str = ""


def signals(storage: Storage, query: str, hits: Sequence[Hit]) -> dict[str, float]:
    """What the retrievers saw, as numbers the rule weighs.

    ``dense``: the best MiniLM cosine of any found paper. ``fused``: the first paper's fused
    score (how far it stands out of both pools, in z units). ``coverage``: the share of the
    question's idf-weighted BM25 terms that the first paper's title and abstract hold (the
    rare words are what a question is about). ``agree``: 1 when the first paper is among the
    first three of both retrievers.
    """
    if not hits:
        return {"dense": 0.0, "fused": 0.0, "coverage": 0.0, "agree": 0.0}
    top = hits[0]
    terms = list(dict.fromkeys(tokenize(query)))
    idf = storage.lexical.idf(terms)
    held = set(tokenize(f"{top.paper.title} {top.paper.abstract}"))
    total = sum(idf.values())
    coverage = sum(v for t, v in idf.items() if t in held) / total if total else 0.0
    both = (top.dense_rank or 99) <= 3 and (top.bm25_rank or 99) <= 3
    return {
        "dense": max((h.dense_score or 0.0) for h in hits),
        "fused": top.score,
        "coverage": coverage,
        "agree": 1.0 if both else 0.0,
    }


def probability(sig: Mapping[str, float]) -> float:
    """The fitted rule's probability that the question is answerable from the library."""
    z = INTERCEPT + sum(w * sig.get(name, 0.0) for name, w in WEIGHTS.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def judge(
    storage: Storage, query: str, hits: Sequence[Hit], *, min_probability: float
) -> Relevance:
    """Answer when the rule's probability reaches ``min_probability``; else decline, saying
    which signal fell short and keeping the closest papers for the user to rephrase with."""
    sig = signals(storage, query, hits)
    p = probability(sig)
    closest = list(hits[:CLOSEST])
    # What the retrieval scores cannot see (rag/detail.py); the first that finds something
    # declines, whatever the probability.
    # A follow-up condensed without a model carries "(context: topic; titles)": the checks
    # read what the user asked, the search used the rest.
    asked = asked_part(query)
    for check, reason in _text_checks(storage, asked, hits):
        if reason:
            return Relevance(False, p, reason, closest, sig, check=check)
    if hits and p >= min_probability:
        return Relevance(True, p, signals=sig)
    if named_paper(asked, hits, storage.lexical) is not None:
        # The question names a found paper by a name few papers use ("What is SAIR?"): it is
        # about that paper however weak MiniLM's cosine is, and the checks above have passed.
        return Relevance(True, p, signals=sig, check="named")
    return Relevance(False, p, _reason(storage, query, hits, sig), closest, sig)


def _text_checks(storage: Storage, query: str, hits: Sequence[Hit]) -> Iterator[tuple[str, str]]:
    """(check, one-line reason or "") for each text check, lazily, in the order they run."""
    lex = storage.lexical

    def quoted(words: Sequence[str]) -> str:
        return ", ".join(f"'{w}'" for w in words[:3])

    absent = absent_names(query, lex)
    yield "absent", f"no paper in the library mentions {quoted(absent)}" if absent else ""
    unheld = unheld_names(query, hits, lex)
    yield "unheld", f"the paper it names does not mention {quoted(unheld)}" if unheld else ""
    kind = unheld_kind(query, hits, lex)
    yield "kind", f"the paper it names does not mention {' '.join(kind)}" if kind else ""
    apart = unmatched_names(query, hits, lex)
    yield "apart", f"no paper found mentions all of {quoted(apart)}" if apart else ""
    claim = unheld_claim(query, hits, lex)
    yield "claim", f"the paper it names does not mention {quoted(claim)}" if claim else ""
    figure = asked_figure(query) if hits else None
    if figure is not None and not figure_stated(figure, query, hits, lex):
        yield "figure", f"the papers found do not state {figure.describe()}"


def _reason(storage: Storage, query: str, hits: Sequence[Hit], sig: Mapping[str, float]) -> str:
    if not hits:
        return "no paper matches any word or the meaning of the question"
    # Content words only: "does" or "when" missing from a paper says nothing about it.
    words = list(dict.fromkeys(w for w in _WORD.findall(query) if tokenize(w) and content_words(w)))
    held = set(tokenize(f"{hits[0].paper.title} {hits[0].paper.abstract}"))
    idf = storage.lexical.idf([t for w in words for t in tokenize(w)])
    missing = sorted(
        (w for w in words if not set(tokenize(w)) & held),
        key=lambda w: -max(idf.get(t, 0.0) for t in tokenize(w)),
    )[:3]
    parts = [f"the closest paper's similarity is {sig['dense']:.2f}"]
    if missing:
        parts.append("it does not mention " + ", ".join(f"'{w}'" for w in missing))
    elif not sig["agree"]:
        parts.append("meaning and wording point to different papers")
    return "; ".join(parts)


def decline_text(closest: Sequence[Hit]) -> str:
    """The fixed "no papers" sentence, naming the closest papers so the user can rephrase."""
    from rag.display import one_line
    from rag.prompts import DECLINED_CLOSEST, NOT_IN_LIBRARY

    if not closest:
        return NOT_IN_LIBRARY
    named = "; ".join(
        _short(one_line(h.paper.title))
        + ("" if h.dense_score is None else f", similarity {h.dense_score:.2f}")
        for h in closest
    )
    return DECLINED_CLOSEST.format(closest=named)


def _short(title: str, most: int = 60) -> str:
    return title if len(title) <= most else title[: most - 1].rstrip() + "\u2026"


def declined(event: AnswerEvent, verdict: Relevance) -> AnswerEvent:
    """``event`` of an answer the relevance rule declined (``astream_answer`` was given no
    papers): its "no papers" text names the closest ones, and the answer carries them and
    the reason. The answer is changed in place, so the conversation's turn says the same."""
    from rag.answer import AnswerDone, TextDelta
    from rag.prompts import NOT_IN_LIBRARY

    text = decline_text(verdict.closest)
    if isinstance(event, TextDelta) and event.text == NOT_IN_LIBRARY:
        return TextDelta(text)
    if isinstance(event, AnswerDone) and event.answer.declined:
        a = event.answer
        a.text = a.raw_text = text
        a.closest = list(verdict.closest)
        a.note = f"declined: {verdict.reason} (`--no-floor` answers anyway)"
    return event
