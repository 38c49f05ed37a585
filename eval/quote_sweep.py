"""Which papers the extractive answer quotes: the paper gap (``settings.answer.paper_gap``)
swept on the "tune" halves of eval/questions/ and reported on questions it was not tuned on
(the "test" halves and eval/dev.jsonl).

Run: .venv/bin/python -m eval.quote_sweep --store STORE [--gaps 0.05,0.1,0.15,0.2,1]

For each gap and question set: the share of cited papers that are gold (``cited gold``),
gold papers cited (``cite recall``), must-mention coverage and answerable questions declined,
all with the extractive answer (no model), so the figures are exact. The gap is chosen by the
mean F1 of cited papers against gold on the tune halves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval import metrics as m
from rag import Library, normalise_title

HERE = Path(__file__).resolve().parent
SETS = {
    "tune: paraphrase+acronym": [
        (HERE / "questions" / "paraphrase.jsonl", "tune"),
        (HERE / "questions" / "acronym.jsonl", "tune"),
    ],
    "test: paraphrase+acronym": [
        (HERE / "questions" / "paraphrase.jsonl", "test"),
        (HERE / "questions" / "acronym.jsonl", "test"),
    ],
    "dev: fact+which-paper+multi": [(HERE / "dev.jsonl", None)],
}
DEV_KINDS = {"fact", "which-paper", "multi"}


def load(path: Path, split: str | None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items = [i for i in items if i.get("answerable") and (split is None or i["split"] == split)]
    if split is None:
        items = [i for i in items if i["kind"] in DEV_KINDS]
    return items


def score(lib: Library, items: list[dict]) -> dict[str, float | None]:
    cited_gold, recall, must, declined, f1 = [], [], [], [], []
    for item in items:
        answer = lib.ask(item["question"], llm="none")
        gold = {normalise_title(t) for t in item["gold_titles"]}
        cited = {normalise_title(c.title) for c in answer.citations}
        declined.append(answer.declined)
        cited_gold.append(m.cited_gold_share(cited, gold))
        recall.append(m.citation_recall(cited, gold))
        p, r = cited_gold[-1], recall[-1]
        f1.append(None if p is None or r is None else (2 * p * r / (p + r) if p + r else 0.0))
        must.append(m.must_mention_coverage(answer.text, item.get("must_mention") or []))
    return {
        "n": len(items),
        "cited_gold": m.mean(cited_gold),
        "cite_recall": m.mean(recall),
        "must_mention": m.mean(must),
        "declined": m.share(declined),
        "f1": m.mean(f1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.quote_sweep", description=__doc__)
    p.add_argument("--store", required=True, help="a store holding the seed corpus")
    p.add_argument("--gaps", default="0,0.05,0.1,0.2,1")
    p.add_argument("--sets", default="tune,test,dev", help="which sets: tune, test, dev")
    args = p.parse_args(argv)
    wanted = set(args.sets.split(","))
    sets = {name: [i for path, split in parts for i in load(path, split)]
            for name, parts in SETS.items() if name.split(":")[0] in wanted}  # fmt: skip
    print("| set | paper gap | n | cited gold | cite recall | F1 | must mention | declined |")
    print("|---|---|---|---|---|---|---|---|")
    for gap in (float(g) for g in args.gaps.split(",")):
        lib = Library.open(args.store, answer={"paper_gap": gap})
        for name, items in sets.items():
            r = score(lib, items)
            cells = " | ".join(
                "-" if r[k] is None else f"{r[k]:.3f}"
                for k in ("cited_gold", "cite_recall", "f1", "must_mention", "declined")
            )
            print(f"| {name} | {gap:g} | {r['n']} | {cells} |", flush=True)
        lib.close() if hasattr(lib, "close") else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
