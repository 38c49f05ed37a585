"""`papers bench` on a tiny corpus: every figure is there and is a number (no timing asserted)."""

from __future__ import annotations

import json
import os
from numbers import Real

import pytest

from eval import bench
from eval.bench import QUERIES, BenchOptions, lookup, run_bench
from rag import cli

FULL_KEYS = [
    "ingest.ours_s",
    "ingest.baseline_s",
    "ingest.ours_over_baseline",
    "ingest.floor_s",
    "ingest.ours_over_floor",
    "ingest.peak_rss_mb",
    "reingest_s",
    "retrieval.ours.p50_ms",
    "retrieval.ours.p95_ms",
    "retrieval.baseline.p50_ms",
    "retrieval.baseline.p95_ms",
    "time_to_sources_ms",
    "scale.2000.insert_per_s",
    "scale.2000.query_p50_ms",
    "scale.2000.query_p95_ms",
    "scale.2000.self_recall_at_1",
    "scale.2000.self_recall_in_candidates",
    "scale.2000.ef_search.1000.query_p50_ms",
    "scale.2000.ef_search.1000.self_recall_at_1",
    "scale.2000.rss_mb",
    "scale.2000.disk_mb",
    "meta.peak_rss_mb",
]
# Enough queries for a p95 to exist; the full thirty add minutes on a loaded machine.
FEW = QUERIES[:6]
QUICK_KEYS = [
    "reingest_s",
    "retrieval.ours.p50_ms",
    "retrieval.ours.p95_ms",
    "retrieval.baseline.p50_ms",
    "retrieval.baseline.p95_ms",
    "time_to_sources_ms",
]


def _assert_numbers(result: dict, keys: list[str]) -> None:
    missing = [k for k in keys if not isinstance(lookup(result, k), Real)]
    assert not missing, missing


def test_bench_full_on_a_slice(tmp_path, slice_file, minilm):
    papers = slice_file(20)
    opts = BenchOptions(
        out=tmp_path / "out", seeds=papers, scales=(2000,), llms=("none",), queries=FEW
    )
    result = run_bench(opts, embedder=minilm)
    _assert_numbers(result, FULL_KEYS)
    assert result["ingest"]["papers"] == 20
    assert result["reingest_changed"] == 0
    written = json.loads((tmp_path / "out" / "bench.json").read_text())
    _assert_numbers(written, FULL_KEYS)
    assert {t["key"] for t in written["targets"]} >= {"reingest_s", "time_to_sources_ms"}
    # the synthetic store answers correctly, not just fast: a row's own vector finds it
    assert written["scale"]["2000"]["self_recall_at_1"] >= 0.9


def test_bench_quick_on_an_existing_store(tmp_path, slice_file, open_library, minilm):
    papers = slice_file(20)
    store = tmp_path / "store"
    open_library(store).ingest([papers])
    opts = BenchOptions(
        out=tmp_path / "out",
        seeds=papers,
        quick=True,
        store=store,
        llms=("none", "nosuch"),
        queries=FEW,
    )
    result = run_bench(opts, embedder=minilm)
    _assert_numbers(result, QUICK_KEYS)
    assert "ingest" not in result and "scale" not in result
    assert result["reingest_changed"] == 0
    # A backend that fails is recorded with its error, not raised.
    assert "nosuch" in result["llm"]["nosuch"]["error"]


def test_bench_arguments():
    args = bench.build_parser().parse_args(["--quick", "--store", "s", "--scale", "1000000"])
    assert (args.quick, args.store, args.scale, args.out) == (True, "s", "1000000", "bench-out")
    args = bench.build_parser().parse_args([])
    assert args.scale == "10000,50000" and args.llm is None and not args.quick


def test_papers_bench_help_is_eval_benchs(monkeypatch):
    # One list of options: `papers bench --help` is `python -m eval.bench --help`.
    ran = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: ran.append(argv))
    cli.main(["bench", "--help"])
    assert ran == [[ran[0][0], "-m", "eval.bench", "--help"]]


@pytest.mark.parametrize(
    "given",
    [
        [],
        ["--quick", "--store", "s", "--scale", "1000000"],
        ["--out", "o", "--scale-only", "--seeds", "x", "--llm", "none,embedded"],
    ],
)
def test_papers_bench_runs_eval_bench_with_the_same_options(monkeypatch, given):
    # rag never imports eval: `papers bench` replaces itself with `python -m eval.bench`.
    ran = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: ran.append(argv))
    cli.main(["bench", *given])
    (argv,) = ran
    assert argv[1:3] == ["-m", "eval.bench"]
    passed = vars(bench.build_parser().parse_args(argv[3:]))
    assert passed == vars(bench.build_parser().parse_args(given))
