"""Fit and check the relevance rule (rag/relevance.py) that decides when to decline.

Run: ``python -m eval.abstention --store SEEDSTORE``.

The questions: eval/questions/offcorpus.jsonl (unanswerable and near-miss: should decline),
paraphrase.jsonl and acronym.jsonl (answerable), and eval/dev.jsonl (both kinds; a follow-up
is asked with its context question before it, a stand-in for the condensed question). The
rule is fitted on the *tune* halves and dev's odd lines (1st, 3rd, ... counted from 0 as in
eval/fusion_sweep.py: index % 2 == 1), then scored on the *test* halves and dev's even lines.
Prints the signals' weights to paste into ``rag.relevance.WEIGHTS`` and the threshold's
trade-off; ``--check`` only scores the rule the library has now.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag import Library

QUESTIONS = Path(__file__).with_name("questions")
DEV = Path(__file__).with_name("dev.jsonl")
NAMES = ("dense", "fused", "coverage", "agree")
# Every question file; the heldout ones were each written blind and scored once (README).
HELDOUT_SETS = (
    "offcorpus",
    "paraphrase",
    "acronym",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "heldout6",
)
MOST_ANSWERABLE_DECLINED = 0.03  # the bound on answerable questions declined
OLD_FLOOR = 0.40  # the dense-only floor the rule replaced (retrieval.min_dense_score)


def questions() -> list[dict[str, Any]]:
    """Every question with its text to search, ``answerable``, ``set`` and ``split``."""
    out = []
    for name in HELDOUT_SETS:
        for line in (QUESTIONS / f"{name}.jsonl").read_text().splitlines():
            it = json.loads(line)
            out.append({"id": it["id"], "text": it["question"], "answerable": it["answerable"],
                        "set": name, "split": it["split"], "kind": it["kind"]})  # fmt: skip
    for i, line in enumerate(DEV.read_text().splitlines()):
        it = json.loads(line)
        text = it["question"]
        if it.get("context_question"):
            text = it["context_question"] + " " + text
        out.append({"id": it["id"], "text": text, "answerable": it["answerable"], "set": "dev",
                    "split": "tune" if i % 2 else "test", "kind": it["kind"]})  # fmt: skip
    return out


def collect(lib: Library, qs: list[dict[str, Any]], k: int = 5) -> None:
    """Add each question's signals and the current rule's decision, in place."""
    for q in qs:
        hits = lib.search(q["text"], k=k)
        rel = lib.relevance(q["text"], hits)
        q["signals"] = dict(rel.signals)
        q["p_now"] = rel.probability
        # Decided by a text check (rag/detail.py) whatever p is: "named" answers, any other
        # check declines (Relevance.check).
        q["check"] = rel.check
        q["top"] = hits[0].paper.title if hits else ""


def rates(qs: Sequence[dict[str, Any]], declined: Sequence[bool]) -> dict[str, Any]:
    off = [d for q, d in zip(qs, declined, strict=True) if not q["answerable"]]
    ans = [d for q, d in zip(qs, declined, strict=True) if q["answerable"]]
    return {
        "offcorpus_declined": (sum(off), len(off)),
        "answerable_declined": (sum(ans), len(ans)),
    }


def _fmt(r: dict[str, Any]) -> str:
    (od, on), (ad, an) = r["offcorpus_declined"], r["answerable_declined"]
    a = f"{od / on:.3f} ({od}/{on})" if on else "-"
    b = f"{ad / an:.3f} ({ad}/{an})" if an else "-"
    return f"off-corpus declined {a}, answerable declined {b}"


def fit(tune: Sequence[dict[str, Any]]) -> tuple[dict[str, float], float]:
    """Logistic regression on standardised signals, returned as weights on the raw ones."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([[q["signals"][n] for n in NAMES] for q in tune])
    y = np.array([1 if q["answerable"] else 0 for q in tune])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    # Balanced: 40 off-corpus against 80 answerable tune questions would otherwise tilt
    # the rule towards answering.
    model = LogisticRegression(C=1.0, class_weight="balanced").fit((x - mu) / sd, y)
    w = model.coef_[0] / sd
    b = float(model.intercept_[0] - (model.coef_[0] * mu / sd).sum())
    return {n: round(float(v), 4) for n, v in zip(NAMES, w, strict=True)}, round(b, 4)


def _decide(q: dict[str, Any], below: bool) -> bool:
    """Declined: by a text check, else by the fitted rule (``below`` the threshold) unless the
    question names a found paper."""
    return q["check"] not in ("", "named") or (below and q["check"] != "named")


def _p(weights: dict[str, float], b: float, sig: dict[str, float]) -> float:
    import math

    z = b + sum(weights[n] * sig[n] for n in NAMES)
    return 1 / (1 + math.exp(-z))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit and check the relevance rule.")
    ap.add_argument("--store", required=True, help="a store holding the seed corpus")
    ap.add_argument("--check", action="store_true", help="only score the library's rule")
    ap.add_argument("--out", help="write every question's signals to this JSONL file")
    args = ap.parse_args(argv)
    lib = Library.open(args.store)
    qs = questions()
    collect(lib, qs)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(q) + "\n" for q in qs))
    tune = [q for q in qs if q["split"] == "tune"]
    test = [q for q in qs if q["split"] == "test"]
    threshold = lib.settings.retrieval.min_relevance
    if not args.check:
        # The fitted rule decides only what the text checks leave to it.
        weights, b = fit([q for q in tune if not q["check"]])
        print(f"WEIGHTS = {weights}\nINTERCEPT = {b}")
        print("threshold: tune off-corpus / answerable declined")
        chosen = 0.0
        for t in [round(0.05 * i, 2) for i in range(1, 15)]:
            r = rates(tune, [_decide(q, _p(weights, b, q["signals"]) < t) for q in tune])
            print(f"  {t:.2f}: {_fmt(r)}")
            (ad, an) = r["answerable_declined"]
            if ad <= MOST_ANSWERABLE_DECLINED * an:
                chosen = t
        print(f"chosen (highest declining <= 3% of answerable tune questions): {chosen:.2f}")
        threshold = chosen
        for q in qs:
            q["p_now"] = _p(weights, b, q["signals"])
    for q in qs:
        q["declined"] = _decide(q, q["p_now"] < threshold)
    blind = [(n, [q for q in qs if q["split"] == n]) for n in HELDOUT_SETS if n.startswith("held")]
    parts = [("tune (fitted on)", tune), ("test (held back)", test), *blind]
    for name, part in parts:
        print(f"{name}: {_fmt(rates(part, [q['declined'] for q in part]))}")
        by_check: dict[str, list[int]] = {}
        for q in part:
            if q["check"] not in ("", "named"):
                by_check.setdefault(q["check"], [0, 0])[0 if not q["answerable"] else 1] += 1
        said = ", ".join(f"{c} {o}/{a}" for c, (o, a) in sorted(by_check.items()))
        print(f"  declined by text check (off-corpus/answerable): {said or '-'}")
        fitted = [q["p_now"] < threshold for q in part]
        print(f"  fitted rule alone (no text checks): {_fmt(rates(part, fitted))}")
        old = [q["signals"]["dense"] < OLD_FLOOR for q in part]
        print(f"  old floor (dense cosine < {OLD_FLOOR}): {_fmt(rates(part, old))}")
        for kind in ("unanswerable", "near-miss"):
            sub = [q for q in part if q["kind"] == kind]
            print(f"  {kind:12s} {_fmt(rates(sub, [q['declined'] for q in sub]))}")
        for kind in ("fact", "acronym", "topic"):
            sub = [q for q in part if q["kind"] == kind and q["set"].startswith("heldout")]
            if sub:
                print(f"  {kind:12s} {_fmt(rates(sub, [q['declined'] for q in sub]))}")
        for s in ("offcorpus", "paraphrase", "acronym", "dev"):
            sub = [q for q in part if q["set"] == s]
            print(f"  {s:10s} {_fmt(rates(sub, [q['declined'] for q in sub]))}")
    wrong = [q for q in qs if q["split"] != "tune" and q["declined"] == q["answerable"]]
    for q in wrong:
        sig = " ".join(f"{n}={q['signals'][n]:.2f}" for n in NAMES)
        print(f"  wrong: {q['id']} p={q['p_now']:.2f} {q['check'] or '-'} {sig} {q['text'][:60]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
