"""The floor check that CI's eval tests use: a report below a floor fails it, line by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.metrics import aggregate
from eval.run import load_dataset
from eval.thresholds import EMBEDDED, EMBEDDED_SLICE_IDS, EXTRACTIVE, Floors, check

DEV = Path(__file__).resolve().parents[2] / "eval" / "dev.jsonl"

FLOORS = Floors(name="test", recall_at_5=0.9, citation_precision=0.9, unanswerable_declined=0.5)


def record(*, answerable=True, recall5=1.0, precision=1.0, dangling=0, declined=False) -> dict:
    """One question's record with only what ``aggregate`` reads."""
    rec = None if not answerable else recall5
    return {
        "kind": "fact" if answerable else "unanswerable",
        "answerable": answerable,
        "declined": declined,
        "retrieval": {"recall@1": rec, "recall@5": rec, "recall@10": rec, "rr": rec,
                      "ndcg@10": rec},
        "citations": {"precision": precision, "recall": rec, "cited_sentences": 1.0,
                      "dangling": dangling},
        "answer": {"must_mention": None, "faithfulness": 1.0},
        "timings": {},
    }  # fmt: skip


def report_of(records: list[dict]) -> dict:
    return {"overall": aggregate(records)}


def good_records() -> list[dict]:
    return [record() for _ in range(10)] + [record(answerable=False, precision=None,
                                                   declined=True) for _ in range(2)]  # fmt: skip


def test_a_report_at_its_floors_passes():
    assert check(report_of(good_records()), FLOORS) == []


def test_lower_recall_fails():
    records = good_records()
    records[0] = record(recall5=0.0)
    records[1] = record(recall5=0.0)  # recall@5 0.8
    failures = check(report_of(records), FLOORS)
    assert len(failures) == 1 and failures[0].startswith("retrieval.recall@5 0.800 < floor 0.9")


def test_lower_citation_precision_fails():
    records = good_records()
    records[0] = record(precision=0.0)
    records[1] = record(precision=0.5)  # precision 0.85
    assert [f.split()[0] for f in check(report_of(records), FLOORS)] == ["citations.precision"]


def test_a_dangling_citation_fails():
    records = good_records()
    records[3] = record(dangling=1)
    assert [f.split()[0] for f in check(report_of(records), FLOORS)] == ["citations.dangling"]


def test_answering_the_unanswerable_fails():
    records = good_records()
    records[-1] = record(answerable=False, precision=None, declined=False)
    records[-2] = record(answerable=False, precision=None, declined=False)
    failures = check(report_of(records), FLOORS)
    assert [f.split()[0] for f in failures] == ["abstention.unanswerable_declined"]


def test_a_missing_figure_fails():
    no_citations = [record(precision=None) for _ in range(3)] + good_records()[-2:]
    assert [f.split()[0] for f in check(report_of(no_citations), FLOORS)] == ["citations.precision"]


def test_floors_are_levels_not_wishes():
    for floors in (EXTRACTIVE, EMBEDDED):
        assert 0.5 <= floors.recall_at_5 < 1 and 0.5 <= floors.citation_precision < 1
        assert floors.max_dangling == 0


def test_the_embedded_slice_covers_every_kind():
    items = load_dataset(DEV, ids=EMBEDDED_SLICE_IDS)
    assert len(items) == len(EMBEDDED_SLICE_IDS) == 8
    assert {i["kind"] for i in items} == {i["kind"] for i in load_dataset(DEV)}


def test_unknown_ids_are_refused():
    with pytest.raises(ValueError, match="q999"):
        load_dataset(DEV, ids=["q001", "q999"])
