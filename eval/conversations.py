"""The conversation set: does each turn retrieve its gold paper, and is each second turn
told right as a follow-up or a new question?

    python -m eval.conversations --store SEEDSTORE [--split test]

Every case runs through ``Library.aask`` with one shared ``Conversation`` and no model
(``llm="none"``), as the chat would ask it. A turn counts as found when a gold paper is among
the answer's sources (the top 5), or among the closest papers a declined answer names (the top
3). A second turn counts as a
follow-up when what was searched differs from what was asked (``standalone_question``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SET = Path(__file__).resolve().parent / "questions" / "conversations.jsonl"
KINDS = ("followup", "new")


def load_cases(path: str | Path = SET, *, split: str = "all") -> list[dict[str, Any]]:
    """The conversation cases of ``path`` in ``split`` (tune, test or all)."""
    lines = Path(path).read_text("utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    return [c for c in cases if split == "all" or c["split"] == split]


def _found(answer: Any, gold_titles: Sequence[str]) -> bool:
    from rag import normalise_title

    gold = {normalise_title(t) for t in gold_titles}
    # A turn the relevance decision declined still names the papers it found (the closest):
    # whether to decline is eval.abstention's question, this set's is what the turn searched.
    found = answer.sources or answer.closest
    return any(normalise_title(h.paper.title) in gold for h in found[:5])


async def arun_case(library: Any, case: dict[str, Any]) -> dict[str, Any]:
    """One case through ``library.aask``: per turn, found or not and what was searched."""
    from rag import Conversation

    conversation = Conversation()
    turns = []
    for turn in case["turns"]:
        answer = await library.aask(turn["question"], conversation=conversation, llm="none")
        searched = answer.standalone_question or turn["question"]
        turns.append(
            {
                "question": turn["question"],
                "searched": searched,
                "found": _found(answer, turn["gold_titles"]),
                "followup": searched != turn["question"].strip(),
                "sources": [h.paper.title for h in answer.sources[:5]],
            }
        )
    kind = case["turns"][1]["kind"]
    return {
        "id": case["id"],
        "split": case["split"],
        "kind": kind,
        "turns": turns,
        "classified_right": turns[1]["followup"] == (kind == "followup"),
    }


def run(library: Any, cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every case through :func:`arun_case`, one after another."""

    async def all_cases() -> list[dict[str, Any]]:
        return [await arun_case(library, c) for c in cases]

    return asyncio.run(all_cases())


def summary(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per kind and overall: cases, turn-1 and turn-2 found, classified right, turns found."""
    out: dict[str, dict[str, float]] = {}
    for kind in (*KINDS, "all"):
        rs = [r for r in results if kind in ("all", r["kind"])]
        n = len(rs)
        t1 = sum(r["turns"][0]["found"] for r in rs)
        t2 = sum(r["turns"][1]["found"] for r in rs)
        out[kind] = {
            "cases": n,
            "turn1": t1 / n if n else 0.0,
            "turn2": t2 / n if n else 0.0,
            "classified": sum(r["classified_right"] for r in rs) / n if n else 0.0,
            "turns": (t1 + t2) / (2 * n) if n else 0.0,
        }
    return out


def markdown(results: Sequence[dict[str, Any]], *, split: str) -> str:
    """The README-ready table of :func:`summary`."""
    s = summary(results)
    rows = [
        f"| second turn ({split}) | cases | turn 1 gold in top 5 | turn 2 gold in top 5 "
        "| all turns | follow-up/new told right |",
        "|---|---|---|---|---|---|",
    ]
    for kind in (*KINDS, "all"):
        k = s[kind]
        rows.append(
            f"| {kind} | {k['cases']:.0f} | {k['turn1']:.0%} | {k['turn2']:.0%} "
            f"| {k['turns']:.0%} | {k['classified']:.0%} |"
        )
    return "\n".join(rows)


def misses(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per turn that missed its gold paper or second turn told wrong."""
    lines = []
    for r in results:
        for i, t in enumerate(r["turns"], 1):
            if not t["found"]:
                lines.append(f"{r['id']} turn {i}: gold not in top 5 for {t['searched']!r}")
        if not r["classified_right"]:
            lines.append(f"{r['id']}: a {r['kind']} question told as the other kind")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.conversations", description=__doc__)
    p.add_argument("--store", required=True, help="a library holding the seed corpus")
    p.add_argument("--split", choices=("tune", "test", "all"), default="all")
    p.add_argument("--set", default=str(SET), help="the conversation set (JSONL)")
    p.add_argument("--json", help="also write every case's result to this file")
    args = p.parse_args(argv)
    from rag import Library

    library = Library.open(args.store)
    try:
        results = run(library, load_cases(args.set, split=args.split))
    finally:
        library.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), "utf-8")
    print(markdown(results, split=args.split))
    for line in misses(results):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
