"""CI's conversation set: every case of eval/questions/conversations.jsonl on the seed corpus,
held to 95% of turns retrieving their gold paper in the top 5 (new-topic turns included)."""

from __future__ import annotations

import pytest

from eval.conversations import load_cases, markdown, misses, run, summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(seed_store, open_library) -> list[dict]:
    return run(open_library(seed_store), load_cases())


def test_the_whole_conversation_set_finds_its_gold_papers(results):
    assert len(results) == 40
    s = summary(results)
    # Printed so that a failing run shows the table and which turns missed.
    print(markdown(results, split="all"), *misses(results), sep="\n")
    assert s["all"]["turns"] >= 0.95, misses(results)
    assert s["new"]["turn2"] >= 0.9 and s["followup"]["turn2"] >= 0.9, misses(results)
    assert s["all"]["classified"] >= 0.9, misses(results)


def test_shortcut_learning_after_awq_is_a_new_question(seed_store, open_library):
    case = {
        "id": "awq-shortcut",
        "split": "extra",
        "turns": [
            {
                "question": "How does AWQ decide which weights to protect during quantization?",
                "gold_titles": [
                    "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"
                ],
            },
            {
                "question": "What is shortcut learning?",
                "gold_titles": ["On the Foundations of Shortcut Learning"],
                "kind": "new",
            },
        ],
    }
    (r,) = run(open_library(seed_store), [case])
    second = r["turns"][1]
    assert r["classified_right"] and second["searched"] == "What is shortcut learning?"
    assert second["found"], second["sources"]
    assert not any("quantiz" in t.lower() for t in second["sources"]), second["sources"]


def test_the_summary_counts_turns_and_kinds():
    def case(kind, t1, t2, followup):
        turns = [{"found": t1, "followup": False}, {"found": t2, "followup": followup}]
        return {"kind": kind, "turns": turns, "classified_right": followup == (kind == "followup")}

    s = summary([case("followup", True, True, True), case("new", True, False, True)])
    assert s["all"]["turns"] == 0.75 and s["new"]["turn2"] == 0.0
    assert s["followup"]["classified"] == 1.0 and s["new"]["classified"] == 0.0
