"""The evaluation development set passes its checker, and the checker catches mistakes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKER = REPO / "eval" / "check_dataset.py"
DEV = REPO / "eval" / "dev.jsonl"


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_dataset", CHECKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_dataset", module)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()
SEEDS = checker.DEFAULT_SEEDS

needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed corpus not found at {SEEDS}")


@needs_seeds
def test_dev_set_passes(capsys):
    rc = checker.main([str(DEV), "--seeds", str(SEEDS)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "questions ok" in out


@needs_seeds
def test_broken_dataset_reports_each_problem(tmp_path, capsys):
    corpus = checker.load_corpus(SEEDS)
    awq = next(p for p in corpus if p.title.startswith("AWQ:"))
    items = [
        {  # gold title that is not in the corpus
            "id": "b1",
            "question": "Which paper proposes the FooBarNet?",
            "gold_titles": ["FooBarNet: A Paper That Does Not Exist"],
            "answerable": True,
            "reference_answer": "None.",
            "must_mention": [],
            "kind": "which-paper",
        },
        {  # must_mention absent from the gold abstract
            "id": "b2",
            "question": "What speedup does AWQ report over GPTQ?",
            "gold_titles": [awq.title],
            "answerable": True,
            "reference_answer": "1.45x.",
            "must_mention": ["1.45x", "9.99x"],
            "kind": "fact",
        },
        {  # paraphrase repeating a title word and naming the method
            "id": "b3",
            "question": "That weight quantization work for chat models from the AWQ authors.",
            "gold_titles": [awq.title],
            "answerable": True,
            "reference_answer": "AWQ.",
            "must_mention": [],
            "kind": "paraphrase",
        },
        {  # unanswerable item with gold, and a repeated id
            "id": "b3",
            "question": "How does AlphaFold fold proteins?",
            "gold_titles": [awq.title],
            "answerable": False,
            "reference_answer": "Not covered.",
            "must_mention": [],
            "kind": "unanswerable",
        },
        {  # followup without context, and a wrong type
            "id": "b5",
            "question": "What speedup does it report?",
            "gold_titles": [awq.title],
            "answerable": "yes",
            "reference_answer": "1.45x.",
            "must_mention": [],
            "kind": "followup",
        },
        {  # followup without context_question
            "id": "b6",
            "question": "What speedup does it report?",
            "gold_titles": [awq.title],
            "answerable": True,
            "reference_answer": "1.45x.",
            "must_mention": [],
            "kind": "followup",
        },
        {  # unknown kind
            "id": "b7",
            "question": "?",
            "gold_titles": [awq.title],
            "answerable": True,
            "reference_answer": "x",
            "must_mention": [],
            "kind": "trivia",
        },
    ]
    path = tmp_path / "broken.jsonl"
    lines = [json.dumps(i) for i in items] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    rc = checker.main([str(path), "--seeds", str(SEEDS)])
    out = capsys.readouterr().out
    assert rc == 1
    expected = [
        "broken.jsonl:1: gold title not in corpus: 'FooBarNet: A Paper That Does Not Exist'",
        "broken.jsonl:2: must_mention not in any gold abstract: '9.99x'",
        "broken.jsonl:3: paraphrase shares title words ['awq', 'weight', 'quantization']",
        "broken.jsonl:3: paraphrase names ['AWQ']",
        "broken.jsonl:4: duplicate id 'b3'",
        "broken.jsonl:4: unanswerable item must have no gold_titles",
        "broken.jsonl:5: key 'answerable' should be bool",
        "broken.jsonl:6: followup item has no context_question",
        "broken.jsonl:7: unknown kind 'trivia'",
        "broken.jsonl:8: invalid JSON",
        "only 7 questions (need >= 60)",
        "only 1 unanswerable",
        "only 1 paraphrases",
    ]
    for line in expected:
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "'1.45x'" not in out  # the must_mention that is in the abstract is fine
    assert "gold papers (need >= 5)" in out


def test_paraphrase_word_overlap_uses_stems():
    shared = checker.shared_title_words(
        "squeezing a quantized chat model", "Oscillation-free Quantization for Low-bit Vision"
    )
    assert shared == ["quantization"]
    # generic research words and function words do not count
    assert checker.shared_title_words("a new deep network model", "A New Deep Network Model") == []


def test_normalize_title():
    assert checker.normalize_title("Memorize, Factorize, or be Naïve:") == (
        "memorize factorize or be naïve"
    )
    assert checker.normalize_title("  PTQ1.61: Push  ") == "ptq1 61 push"


def test_parser_handles_both_layouts():
    layout_a = (
        "Get trending papers in your email inbox once a day!\n"
        "Get trending papers in your email inbox!\n"
        "SubscribeFirst Title\nFirst abstract.\nSecond Title\nSecond abstract."
    )
    layout_b = (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        "byAK and the research community\n\nMar 11\n\nFirst Title\n\nFirst abstract.\n\n"
        "Second Title\n\nSecond abstract.\n"
    )
    want = [("First Title", "First abstract."), ("Second Title", "Second abstract.")]
    assert checker.parse_seed_text(layout_a) == want
    assert checker.parse_seed_text(layout_b) == want
