"""CI's eval: the whole dev set on the seed corpus, extractive and with the embedded model,
each held to the floors recorded in ``eval/thresholds.py``, and the embedded answer held to
be never worse than the extractive one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from eval.metrics import aggregate
from eval.run import load_dataset, run_eval
from eval.thresholds import EMBEDDED, EXTRACTIVE, check

DEV = Path(__file__).resolve().parents[2] / "eval" / "dev.jsonl"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def extractive_report(seed_store, open_library, tmp_path_factory) -> dict:
    lib = open_library(seed_store)
    out = tmp_path_factory.mktemp("eval-extractive")
    return run_eval(DEV, llm="none", library=lib, out_dir=out)


def test_whole_dev_set_extractive_holds_its_floors(extractive_report):
    assert extractive_report["config"]["n"] == len(load_dataset(DEV)) == 85
    assert extractive_report["config"]["backend"] == "extractive"
    assert check(extractive_report, EXTRACTIVE) == []


def test_the_same_run_with_two_more_gold_papers_lost_fails(extractive_report):
    """A regression of two questions' worth is what the floor is there to catch."""
    worse = copy.deepcopy(extractive_report["questions"])
    found = [q for q in worse if q["retrieval"]["recall@5"] == 1.0]
    for q in found[:2]:
        q["retrieval"]["recall@5"] = 0.0
    failures = check({"overall": aggregate(worse)}, EXTRACTIVE)
    assert [f.split()[0] for f in failures] == ["retrieval.recall@5"], failures


def test_the_same_run_with_unsupported_citations_fails(extractive_report):
    worse = copy.deepcopy(extractive_report["questions"])
    cited = [q for q in worse if q["citations"]["precision"] is not None]
    for q in cited[:3]:
        q["citations"]["precision"] = 0.0
    failures = check({"overall": aggregate(worse)}, EXTRACTIVE)
    assert [f.split()[0] for f in failures] == ["citations.precision"], failures


@pytest.fixture(scope="module")
def embedded_report(seed_store, open_library, tmp_path_factory) -> dict:
    pytest.importorskip("llama_cpp")
    # Temperature 0: the same questions give the same answers, so a failure is a change.
    lib = open_library(seed_store, llm={"temperature": 0.0})
    out = tmp_path_factory.mktemp("eval-embedded")
    return run_eval(DEV, llm="embedded", library=lib, out_dir=out)


def test_whole_dev_set_embedded_holds_its_floors(embedded_report):
    assert embedded_report["config"]["backend"] == "embedded"
    assert embedded_report["config"]["n"] == 85
    assert check(embedded_report, EMBEDDED) == []


def test_the_embedded_answer_is_never_worse_than_the_extractive_one(
    embedded_report, extractive_report
):
    emb, ext = embedded_report["overall"], extractive_report["overall"]
    assert emb["answer"]["must_mention"] >= ext["answer"]["must_mention"]
    assert emb["abstention"]["answerable_declined"] <= ext["abstention"]["answerable_declined"]
    assert emb["sentences"]["unsupported_shown"] == 0


def test_a_shown_unsupported_sentence_fails_the_check(extractive_report):
    worse = copy.deepcopy(extractive_report["questions"])
    worse[0]["statuses"] = {**worse[0].get("statuses", {}), "unsupported_shown": 1}
    failures = check({"overall": aggregate(worse)}, EXTRACTIVE)
    assert [f.split()[0] for f in failures] == ["sentences.unsupported_shown"], failures
