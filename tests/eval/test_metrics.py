"""The metric functions, on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eval import metrics as m
from eval.report import compare


def test_recall_at_k_counts_gold_in_the_first_k():
    ranked = ["a", "x", "b", "y", "c"]
    assert m.recall_at_k(ranked, {"a", "b", "c", "d"}, 1) == 0.25
    assert m.recall_at_k(ranked, {"a", "b", "c", "d"}, 3) == 0.5
    assert m.recall_at_k(ranked, {"a", "b", "c", "d"}, 10) == 0.75
    assert m.recall_at_k(ranked, set(), 5) is None


def test_reciprocal_rank_is_one_over_the_first_gold_rank():
    assert m.reciprocal_rank(["x", "y", "g"], {"g"}) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(["g", "x"], {"g", "x"}) == 1.0
    assert m.reciprocal_rank(["x", "y"], {"g"}) == 0.0
    assert m.reciprocal_rank(["x"], []) is None


def test_ndcg_with_binary_relevance():
    # Gold at ranks 2 and 3 of two gold papers: (1/log2 3 + 1/log2 4) / (1 + 1/log2 3).
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(["x", "a", "b"], {"a", "b"}, 10) == pytest.approx(expected)
    assert m.ndcg_at_k(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)
    assert m.ndcg_at_k(["x"] * 10 + ["a"], {"a"}, 10) == 0.0
    assert m.ndcg_at_k([], set()) is None


def test_marker_numbers_expand_lists_and_ranges():
    assert m.marker_numbers("A [1]. B [2, 4] and [3-5]; C [6;7] D [2\u20133].") == [
        1,
        2,
        4,
        3,
        4,
        5,
        6,
        7,
        2,
        3,
    ]
    assert m.marker_numbers("no markers, [a] or [] here") == []


def test_dangling_counts_markers_without_a_listed_citation():
    assert m.dangling("A [1]. B [2]. C [1, 3].", [1, 2]) == 1
    assert m.dangling("A [1]. B [2].", [1, 2]) == 0
    assert m.dangling("A [4]. B [4-5].", []) == 2


def test_strip_markers_leaves_the_claim():
    assert m.strip_markers("AWQ protects 1% of weights [1].") == "AWQ protects 1% of weights."


def test_cited_sentence_share():
    assert m.cited_sentence_share(["A [1].", "B.", "C [2, 3].", "D."]) == 0.5
    assert m.cited_sentence_share([]) is None


def test_citation_precision_counts_gold_or_supported():
    cited = {"a", "b", "c", "d"}
    assert m.citation_precision(cited, gold={"a"}, supported={"b"}) == 0.5
    assert m.citation_precision(cited, gold={"a", "b"}, supported={"b", "c", "d"}) == 1.0
    assert m.citation_precision(set(), gold={"a"}, supported=set()) is None


def test_citation_recall_is_gold_cited_over_gold():
    assert m.citation_recall({"a", "x"}, {"a", "b", "c"}) == pytest.approx(1 / 3)
    assert m.citation_recall(set(), {"a"}) == 0.0
    assert m.citation_recall({"a"}, set()) is None


def test_must_mention_is_case_insensitive():
    text = "It keeps 1% of Salient weights in FP16."
    assert m.must_mention_coverage(text, ["salient", "fp16", "1%", "INT3"]) == 0.75
    assert m.must_mention_coverage(text, []) is None


def test_faithfulness_counts_uncited_sentences_as_unfaithful():
    assert m.faithfulness([0.9, 0.49, None, 0.5]) == 0.5
    assert m.faithfulness([0.7], threshold=0.8) == 0.0
    assert m.faithfulness([]) is None


def test_percentile_interpolates_and_skips_none():
    assert m.percentile([4, 1, 3, 2, None], 50) == 2.5
    assert m.percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert m.percentile([7], 95) == 7
    assert m.percentile([None], 50) is None


def test_cosine():
    assert m.cosine([1, 0], [0, 1]) == 0.0
    assert m.cosine([1, 1], [2, 2]) == pytest.approx(1.0)
    assert m.cosine([0, 0], [1, 0]) == 0.0


def _record(kind, answerable, *, r5, rr, precision, declined, dangling=0, total=100.0):
    return {
        "kind": kind,
        "answerable": answerable,
        "declined": declined,
        "retrieval": {"recall@1": r5, "recall@5": r5, "recall@10": r5, "rr": rr, "ndcg@10": rr},
        "citations": {
            "precision": precision,
            "recall": r5,
            "cited_sentences": 1.0,
            "dangling": dangling,
        },
        "answer": {"must_mention": None, "faithfulness": 1.0},
        "timings": {"retrieval_ms": 10.0, "first_token_ms": None, "total_ms": total},
        "judge": None,
    }


def test_aggregate_averages_what_applies_and_counts_abstention():
    records = [
        _record("fact", True, r5=1.0, rr=1.0, precision=1.0, declined=False, total=100.0),
        _record("fact", True, r5=0.0, rr=0.25, precision=0.5, declined=True, total=300.0),
        _record(
            "unanswerable",
            False,
            r5=None,
            rr=None,
            precision=None,
            declined=True,
            dangling=2,
            total=200.0,
        ),
        _record("unanswerable", False, r5=None, rr=None, precision=0.0, declined=False),
    ]
    out = m.aggregate(records)
    assert out["retrieval"]["recall@5"] == 0.5
    assert out["retrieval"]["mrr"] == 0.625
    assert out["citations"]["precision"] == 0.5
    assert out["citations"]["dangling"] == 2
    assert out["abstention"]["unanswerable_declined"] == 0.5
    assert out["abstention"]["answerable_declined"] == 0.5
    assert out["speed"]["total_ms_p50"] == 150.0
    assert out["speed"]["first_token_ms_p50"] is None
    assert out["n"] == {"questions": 4, "answerable": 2, "unanswerable": 2}


def test_compare_shows_both_values_and_the_delta():
    def report(r5, backend):
        return {
            "config": {
                "dataset": "dev.jsonl",
                "dataset_sha256": "x",
                "n": 3,
                "backend": backend,
                "model": "m",
            },
            "overall": {"retrieval": {"recall@5": r5}, "citations": {"dangling": 0}},
        }

    table = compare(report(0.5, "extractive"), report(0.75, "ollama"))
    assert "| retrieval.recall@5 | 0.500 | 0.750 | +0.250 |" in table
    assert "| citations.dangling | 0 | 0 | +0.000 |" in table
    assert "different datasets" not in table
