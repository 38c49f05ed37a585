"""The README table generator: the section between the markers, and only it, is rewritten."""

from __future__ import annotations

import json

import pytest

from eval.metrics import aggregate
from eval.readme import END, START, folder_name, main, render, replace_section
from tests.eval.test_thresholds import record


def fake_report(backend: str, model: str) -> dict:
    questions = [dict(record(), id="q1", timings={"retrieval_ms": 40.0, "total_ms": 900.0}),
                 dict(record(answerable=False, precision=None, declined=True), id="q2",
                      timings={"retrieval_ms": 50.0, "total_ms": 100.0})]  # fmt: skip
    return {
        "config": {"dataset": "dev.jsonl", "dataset_sha256": "ab" * 32, "n": 2, "k": 5,
                   "backend": backend, "model": model, "min_dense_score": 0.4,
                   "support_cosine": 0.5, "finished": "2026-11-23T18:00:00+00:00",
                   "load_average": [1.0, 2.0, 3.0]},
        "overall": aggregate(questions),
        "by_kind": {"fact": aggregate(questions[:1]), "unanswerable": aggregate(questions[1:])},
        "questions": questions,
    }  # fmt: skip


def test_render_has_a_row_per_backend_and_a_table_per_kind():
    text = render([fake_report("extractive", "extractive"), fake_report("embedded", "gemma")],
                  command="cmd")  # fmt: skip
    assert "| extractive | 2 | 1.000 | 1.000 |" in text
    assert "| embedded (gemma) | 1.000 |" in text
    assert "1.000 (1/1) | 0.000 (0/1) |" in text  # unanswerable declined, answerable declined
    assert "| extractive | 45 / 50 | - | 500 / 860 | 2026-11-23 18:00 (1.0 / 2.0 / 3.0) |" in text
    assert text.count("By kind of question") == 2
    assert "Ollama: not run" in text


def test_an_ollama_run_drops_the_not_run_note():
    text = render([fake_report("ollama", "llama3.2")], command="cmd", ollama_ran=True)
    assert "| ollama (llama3.2) |" in text and "not run" not in text


def test_only_the_marked_section_changes():
    before = f"intro\n{START}\nold table\n{END}\noutro\n"
    assert replace_section(before, "new\n") == f"intro\n{START}\nnew\n{END}\noutro\n"
    with pytest.raises(ValueError, match="exactly one"):
        replace_section("no markers here", "x")


def test_reuse_rewrites_the_readme_from_saved_reports(tmp_path, capsys):
    out = tmp_path / "out"
    for llm, backend in (("none", "extractive"), ("embedded", "embedded")):
        folder = out / folder_name(llm)
        folder.mkdir(parents=True)
        report = fake_report(backend, backend)
        (folder / "report.json").write_text(json.dumps(report), "utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n{START}\n{END}\nkept\n", "utf-8")
    rc = main(["--store", str(tmp_path / "store"), "--reuse", "--out", str(out),
               "--readme", str(readme)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = readme.read_text("utf-8")
    assert text.startswith(f"# t\n{START}\n") and text.endswith(f"{END}\nkept\n")
    assert "| extractive | 2 |" in text and "| embedded (embedded) | 2 |" in text


def test_a_readme_without_markers_is_refused_before_any_run(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# nothing to replace\n", "utf-8")
    assert main(["--store", str(tmp_path / "store"), "--readme", str(readme)]) == 1
    assert "eval-table" in capsys.readouterr().err
