"""The BEIR evaluation on a tiny benchmark folder ingested into a real library, by hand-checked
figures, and `papers eval <folder>` routing to it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval import metrics as m
from eval.beir import BeirFormatError, is_beir_dir, markdown, read_qrels, run_beir
from eval.cli import main as eval_main

# Six abstracts. Each query's words occur in few of them, so BM25 (which only proposes
# documents with a positive score) ranks exactly the ones named in the comments.
DOCS = [
    ("d1", "Kelp photosynthesis rates",
     "Giant kelp forests fix carbon through photosynthesis along cold coasts."),
    ("d2", "Volcanic ash deposition",
     "Ash layers from volcanic eruptions record ancient explosive events."),
    ("d3", "Honeybee navigation",
     "Foraging honeybees use polarized skylight to find nectar sources."),
    ("d4", "Glacier retreat measurement",
     "Satellite altimetry tracks glacier thinning; glacier thinning speeds up each decade."),
    ("d5", "Glacier sediment cores",
     "Lake cores hold sediment carried by meltwater from a distant source."),
    # Same title as d1: one paper id, so the library keeps d1 and never stores d6.
    ("d6", "Kelp photosynthesis rates", "Tidal currents mix nutrients in shallow bays."),
]  # fmt: skip
QUERIES = {"q1": "kelp photosynthesis", "q2": "volcanic ash", "q3": "glacier"}
# q1: BM25 finds d1 alone, the one relevant doc.
# q2: BM25 finds d2 alone; d3 is relevant too and never found.
# q3: BM25 ranks d4 (glacier three times) above d5 (once); only d5 is relevant, grade 2.
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q2", "d3", 1), ("q3", "d5", 2)]

LOG2_3 = math.log2(3)
# nDCG@10 with linear gains and a log2(rank + 1) discount, worked by hand:
NDCG = {
    "q1": 1.0,  # the relevant doc at rank 1: DCG = IDCG = 1
    "q2": 1 / (1 + 1 / LOG2_3),  # DCG = 1/log2(2); IDCG = 1 + 1/log2(3)
    "q3": (2 / LOG2_3) / 2,  # DCG = 2/log2(3) (rank 2, grade 2); IDCG = 2/log2(2)
}
BM25_MEANS = {
    "ndcg@10": sum(NDCG.values()) / 3,
    "recall@100": (1 + 0.5 + 1) / 3,
    "mrr@10": (1 + 1 + 0.5) / 3,
    "recall@1": (1 + 0.5 + 0) / 3,
    "recall@5": (1 + 0.5 + 1) / 3,
}


def write_beir(folder: Path, qrels_lines: list[str] | None = None) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc, title, text in DOCS:
            fh.write(json.dumps({"_id": doc, "title": title, "text": text, "metadata": {}}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q, text in QUERIES.items():
            fh.write(json.dumps({"_id": q, "text": text, "metadata": {}}) + "\n")
    lines = qrels_lines or [f"{q}\t{d}\t{g}" for q, d, g in QRELS]
    # CRLF line endings, as in the BEIR release.
    (folder / "qrels" / "test.tsv").write_bytes(
        "\r\n".join(["query-id\tcorpus-id\tscore", *lines, ""]).encode()
    )
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, open_library):
    """The tiny benchmark, a library holding its corpus, and its report over all modes."""
    root = tmp_path_factory.mktemp("beir")
    data = write_beir(root / "tiny")
    lib = open_library(root / "store")
    said: list[str] = []
    report = run_beir(lib, data, split="test", k=100, out=root / "out", say=said.append)
    return data, root, report, said


def per_query(out: Path) -> dict[str, dict]:
    lines = (out / "beir-queries.jsonl").read_text("utf-8").splitlines()
    return {r["query_id"]: r for r in map(json.loads, lines)}


def test_ranking_measures_match_a_hand_computed_graded_example():
    qrels = {"q": {"a": 1, "b": 2}, "empty": {"a": 1}, "late": {"z": 1}}
    rankings = {"q": ["x", "b", "a"], "late": [f"n{i}" for i in range(10)] + ["z"]}
    got = m.ranking_measures(rankings, qrels, k=100)
    # DCG = 2/log2(3) + 1/log2(4); IDCG = 2/log2(2) + 1/log2(3).
    assert got["q"]["ndcg@10"] == pytest.approx((2 / LOG2_3 + 0.5) / (2 + 1 / LOG2_3))
    assert got["q"]["mrr@10"] == 0.5
    assert (got["q"]["recall@1"], got["q"]["recall@5"]) == (0.0, 1.0)
    # Nothing retrieved scores 0, not "left out".
    assert got["empty"] == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0, "recall@1": 0.0,
                            "recall@5": 0.0}  # fmt: skip
    # Found at rank 11: in recall@100, not in MRR@10 or nDCG@10.
    assert got["late"]["recall@100"] == 1.0
    assert got["late"]["mrr@10"] == 0.0 and got["late"]["ndcg@10"] == 0.0


def test_bm25_figures_on_the_tiny_benchmark_are_the_hand_computed_ones(tiny):
    _, root, report, _ = tiny
    got = report["modes"]["bm25"]
    for name, want in BM25_MEANS.items():
        assert got[name] == pytest.approx(want), name
    rows = per_query(root / "out")
    assert rows["q3"]["modes"]["bm25"]["measures"]["ndcg@10"] == pytest.approx(NDCG["q3"])
    [d5] = rows["q3"]["modes"]["bm25"]["relevant"]
    assert (d5["doc_id"], d5["rank"], d5["grade"], d5["bm25_rank"]) == ("d5", 2, 2, 2)
    assert [t["doc_id"] for t in rows["q3"]["modes"]["bm25"]["top"]] == ["d4", "d5"]
    missed = {r["doc_id"]: r["rank"] for r in rows["q2"]["modes"]["bm25"]["relevant"]}
    assert missed == {"d2": 1, "d3": None}


def test_every_mode_is_scored_and_reported(tiny):
    _, root, report, said = tiny
    assert list(report["modes"]) == ["hybrid", "dense", "bm25"]
    rows = per_query(root / "out")
    for mode in ("hybrid", "dense"):
        [d1] = rows["q1"]["modes"][mode]["relevant"]
        assert d1["rank"] == 1, mode
        assert d1["dense_rank"] == 1 and d1["dense_score"] > 0.5
    table = (root / "out" / "beir.md").read_text("utf-8")
    assert "| bm25 | 0.748 | 0.833 | 0.833 | 0.500 | 0.833 | - |" in table
    assert json.loads((root / "out" / "beir.json").read_text("utf-8"))["modes"] == report["modes"]
    assert any(line.startswith("embedding: 5 of 5") for line in said), said


def test_shared_titles_are_counted_and_their_lost_docs_named(tiny):
    _, _, report, said = tiny
    c = report["config"]
    assert list(c["collisions"].values()) == [["d1", "d6"]]
    assert (c["lost_documents"], c["judged_lost"], c["documents"]) == (1, 0, 6)
    assert c["ingest"]["added"] == 5
    assert (c["missing_documents"], c["foreign_papers"]) == (0, 0)
    assert "1 documents were not stored" in markdown(report)
    assert any("1 titles are shared" in line for line in said)


def test_a_second_run_embeds_nothing(tiny, open_library):
    data, root, _, _ = tiny
    said: list[str] = []
    report = run_beir(open_library(root / "store"), data, split="test", modes=["bm25"],
                      limit=2, say=said.append)  # fmt: skip
    assert report["config"]["ingest"]["unchanged"] == 5
    assert report["config"]["ingest"]["chunks_embedded"] == 0
    assert not any(line.startswith("embedding") for line in said)
    assert report["config"]["queries"] == 2


def test_papers_eval_routes_a_beir_folder(tiny, tmp_path, capsys):
    data, root, _, _ = tiny
    out = tmp_path / "cli-out"
    argv = [str(data), "--store", str(root / "store"), "--split", "test", "--modes", "bm25",
            "--out", str(out)]  # fmt: skip
    assert eval_main(argv) == 0
    shown = capsys.readouterr()
    assert "| bm25 | 0.748 |" in shown.out
    assert "bm25: 3 of 3 queries" in shown.err
    saved = json.loads((out / "beir.json").read_text("utf-8"))
    assert saved["modes"]["bm25"]["ndcg@10"] == pytest.approx(BM25_MEANS["ndcg@10"])


def test_a_malformed_qrels_line_is_one_line_naming_file_and_line(tmp_path, capsys):
    data = write_beir(tmp_path / "bad", ["q1\td1\t1", "q2 d2 1"])
    qrels = data / "qrels" / "test.tsv"
    with pytest.raises(BeirFormatError, match=f"^{qrels}:3: expected query-id"):
        read_qrels(qrels)
    code = eval_main([str(data), "--store", str(tmp_path / "store"), "--split", "test"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"papers eval: {qrels}:3: ") and err.count("\n") == 1
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_a_folder_that_is_not_beir_is_not_taken_for_a_dev_set(tmp_path, capsys):
    (tmp_path / "corpus.jsonl").write_text("", "utf-8")
    assert not is_beir_dir(tmp_path) and not is_beir_dir(Path("eval/dev.jsonl"))
    assert eval_main([str(tmp_path)]) == 1
    assert "not a BEIR benchmark" in capsys.readouterr().err
