"""The levels the answer-quality tests hold the eval to, and the one check that applies them.

Each floor sits a little below what was measured on the seed corpus, so that timing noise or
a reordering of near ties does not fail CI while a real regression (one or two more gold
papers out of the top 5, an unsupported citation) does. Raise a floor when the system
improves; lowering one needs a reason in the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EMBEDDED", "EMBEDDED_SLICE_IDS", "EXTRACTIVE", "Floors", "check"]


@dataclass(frozen=True)
class Floors:
    """Minimum overall figures of an eval report (``None``: not checked)."""

    name: str
    recall_at_5: float
    citation_precision: float
    unanswerable_declined: float | None = None
    max_dangling: int = 0
    # Share of cited papers that are gold on fact, which-paper and multi questions.
    cited_gold: float | None = None
    # Share of answer sentences the eval's own support check finds supported.
    faithfulness: float | None = None
    # Sentences shown that the answer's check itself found unsupported.
    max_unsupported_shown: int = 0


# The whole dev set (eval/dev.jsonl, 85 questions), extractive answers (--llm none), default
# settings, seed corpus. Measured 2026-11-30 (score fusion): recall@5 0.995, citation
# precision 1.000, dangling 0. One more single-gold miss costs 0.014 of recall@5 (0.981
# passes); two cost 0.027 (0.968) and fail.
EXTRACTIVE = Floors(
    name="extractive, whole dev set",
    recall_at_5=0.97,
    citation_precision=0.97,
    # The relevance decision with its text checks (rag/detail.py, written while reading
    # eval/questions failures) declines 12 of 12 here (measured 2026-11-30, 20:59); one lost
    # (0.917) still passes, two (0.833) fail. The dev set's unanswerables are easier than the
    # blind heldout files' (README: about 0.70 there).
    unanswerable_declined=0.90,
    # Measured 2026-11-30: 0.946 (the paper gap was tuned on eval/questions/, not on these).
    cited_gold=0.85,
    faithfulness=0.95,
)

# The whole dev set with the embedded model (Gemma 3 270M) at temperature 0 (the test's
# setting, so a run is repeatable). Measured 2026-11-30 (the answer's sentences checked before
# they are shown, quotes first for a base model): recall@5 and citation precision as the
# extractive run, faithfulness 1.000, unsupported sentences shown 0, cited papers that are
# gold on fact/which-paper/multi 0.933, must-mention equal to the extractive run's. Beside
# these floors, tests/eval/test_dev_set.py holds its must-mention to at least the extractive
# run's and its answerable questions declined to at most the extractive run's.
# A fixed slice across the kinds of question, for a quick look (`eval.readme --embedded-slice`):
# two fact, one which-paper, one multi, one unanswerable, one follow-up, two paraphrase.
EMBEDDED_SLICE_IDS = ("q001", "q005", "q028", "q035", "q041", "q054", "q063", "q064")

EMBEDDED = Floors(
    name="embedded (Gemma 3 270M), whole dev set",
    recall_at_5=0.97,
    citation_precision=0.97,
    cited_gold=0.85,
    faithfulness=0.95,
)


def check(report: Mapping[str, Any], floors: Floors) -> list[str]:
    """What in ``report``'s overall figures falls below ``floors``: one line each, empty if
    nothing does. A figure the report lacks (``None``) counts as below its floor."""
    overall = report["overall"]
    wanted = [
        ("retrieval", "recall@5", floors.recall_at_5),
        ("citations", "precision", floors.citation_precision),
        ("abstention", "unanswerable_declined", floors.unanswerable_declined),
        ("citations", "cited_gold_fact_which_multi", floors.cited_gold),
        ("answer", "faithfulness", floors.faithfulness),
    ]
    failures = []
    for section, metric, floor in wanted:
        if floor is None:
            continue
        value = overall.get(section, {}).get(metric)
        if value is None or value < floor:
            shown = "missing" if value is None else f"{value:.3f}"
            failures.append(f"{section}.{metric} {shown} < floor {floor} ({floors.name})")
    shown = overall.get("sentences", {}).get("unsupported_shown")
    if shown is None or shown > floors.max_unsupported_shown:
        failures.append(
            f"sentences.unsupported_shown {shown} > {floors.max_unsupported_shown} ({floors.name})"
        )
    dangling = overall.get("citations", {}).get("dangling")
    if dangling is None or dangling > floors.max_dangling:
        failures.append(f"citations.dangling {dangling} > {floors.max_dangling} ({floors.name})")
    return failures
