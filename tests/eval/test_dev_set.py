"""CI's eval: the whole dev set on the seed corpus (extractive) and a slice with the embedded
model, each held to the floors recorded in ``eval/thresholds.py``."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from eval.metrics import aggregate
from eval.run import load_dataset, run_eval
from eval.thresholds import EMBEDDED_SLICE, EMBEDDED_SLICE_IDS, EXTRACTIVE, check

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


def test_embedded_slice_holds_its_floors(seed_store, open_library, tmp_path):
    pytest.importorskip("llama_cpp")
    # Temperature 0: the same slice gives the same answers, so a failure is a change, not luck.
    lib = open_library(seed_store, llm={"temperature": 0.0})
    report = run_eval(DEV, llm="embedded", ids=EMBEDDED_SLICE_IDS, library=lib, out_dir=tmp_path)
    assert report["config"]["backend"] == "embedded"
    assert report["config"]["n"] == len(EMBEDDED_SLICE_IDS)
    assert check(report, EMBEDDED_SLICE) == []
