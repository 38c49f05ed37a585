"""The `papers` command under fault: one line on stderr and a non-zero code, never a traceback;
nothing from a stored title or a file name reaches the terminal as an escape sequence.

Every run is the real command in its own process (``python -m rag``), as users run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import PapersError, QueryError, cli
from tests.conftest import seed_records, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
ENV.pop("PAPERS_DEBUG", None)

# What a hostile title or file name may hold: clear the screen, retitle the window, an 8-bit
# CSI, a carriage return that would overwrite the line.
EVIL = ("\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\x9b31m", "\r")
RAW_BYTES = (b"\x1b", b"\x07", "\x9b".encode(), b"\r")


def papers(*args: str | bytes, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m rag ARGS``; stdout and stderr as bytes, so nothing raw is hidden."""
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        capture_output=True,
        timeout=300,
        cwd=ROOT,
        env=env or ENV,
    )


def one_error_line(run: subprocess.CompletedProcess) -> str:
    """The run's whole stderr, which must be a single ``papers: ...`` line."""
    err = run.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("papers: "), err
    return lines[0]


def assert_no_raw_controls(*outputs: bytes) -> None:
    for out in outputs:
        found = [b for b in RAW_BYTES if b in out]
        assert not found, (found, out[:500])


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory):
    """A store of four papers whose titles carry escape sequences, ingested by `papers ingest`
    from a file whose name carries one too (as the source name); plus that ingest's run."""
    tmp = tmp_path_factory.mktemp("evil")
    recs = seed_records("003")[:4]
    rows = [
        {"title": f"{seq}Escaped Title {i}: {r.title}", "abstract": r.abstract}
        for i, (seq, r) in enumerate(zip(EVIL, recs, strict=True))
    ]
    rows.append({"title": "Forgotten abstract", "abstract": ""})  # a problem line
    src = write_jsonl(tmp / "evil\x1b]0;owned\x07.jsonl", rows)
    store = tmp / "store"
    run = papers("ingest", "--store", str(store), str(src))
    assert run.returncode == 0, run.stderr.decode()
    return store, rows, run


# -- 1. one place turns every failure into one line ----------------------------------------


@pytest.mark.parametrize("command", ["stats", "ingest"])
def test_store_that_is_a_regular_file_is_one_line(tmp_path, command):
    store = tmp_path / "a-file"
    store.write_text("not a library\n")
    extra = [str(write_jsonl(tmp_path / "x.jsonl", []))] if command == "ingest" else []
    run = papers(command, "--store", str(store), *extra)
    assert run.returncode in (1, 2)  # 2 once the store raises StoreError for it
    assert str(store) in one_error_line(run)


@pytest.mark.parametrize(
    ("command", "where"), [("ingest", "under-a-file"), ("stats", "/proc/x"), ("ingest", "/proc/x")]
)
def test_store_that_cannot_be_created_is_one_line(tmp_path, command, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    store = blocker / "store" if where == "under-a-file" else Path(where)
    extra = [str(write_jsonl(tmp_path / "x.jsonl", []))] if command == "ingest" else []
    run = papers(command, "--store", str(store), *extra)
    assert run.returncode in (1, 2)
    assert str(store) in one_error_line(run)


def test_debug_shows_the_traceback_and_still_ends_in_the_one_line(tmp_path):
    store = tmp_path / "a-file"
    store.write_text("")
    for run in (
        papers("--debug", "stats", "--store", str(store)),
        papers("stats", "--debug", "--store", str(store)),
        papers("stats", "--store", str(store), env={**ENV, "PAPERS_DEBUG": "1"}),
    ):
        err = run.stderr.decode()
        assert run.returncode in (1, 2)
        assert "Traceback (most recent call last)" in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("papers: ") and "rerun with --debug" not in last


def test_undecodable_query_is_refused_in_one_line(evil_store):
    store, _, _ = evil_store
    # What a shell passes for $'q \xff\xfe w': argv holds the bytes as surrogate escapes.
    run = papers("search", "--store", str(store), b"q \xff\xfe w")
    assert run.returncode == 2
    assert "UTF-8" in one_error_line(run)


def test_closed_stdout_exits_quietly(evil_store):
    store, _, _ = evil_store
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "search", "--store", str(store), "--json"]
        + ["--mode", "bm25", "quantization"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first byte is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert err == ""


def test_search_json_into_head_prints_no_noise(evil_store):
    store, _, _ = evil_store
    cmd = '"$0" -m rag search --store "$1" --json --mode bm25 -k 4 quantization | head -1'
    run = subprocess.run(
        ["bash", "-c", cmd, sys.executable, str(store)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=ENV,
    )
    assert run.stdout == "{\n" and run.stderr == ""


def test_unexpected_error_is_one_line_with_its_type(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("first line\nsecond line \x1b[2J")

    monkeypatch.setitem(cli.COMMANDS, "stats", boom)
    assert cli.main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "papers: unexpected error: RuntimeError: first line second line "
        "(rerun with --debug for the traceback)\n"
    )


def test_papers_error_and_interrupt_keep_their_codes(monkeypatch, capsys):
    def refuse(args):
        raise PapersError("no such thing;\nrun `papers ingest` first")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "stats", refuse)
    assert cli.main(["stats"]) == 2
    assert capsys.readouterr().err == "papers: no such thing; run `papers ingest` first\n"
    monkeypatch.setitem(cli.COMMANDS, "stats", interrupted)
    assert cli.main(["stats"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_unwritable_bibtex_is_a_refusal_not_a_crash(evil_store, tmp_path):
    store, _, _ = evil_store
    bib = tmp_path / "no-such-dir" / "refs.bib"
    run = papers(
        "ask", "--store", str(store), "--llm", "none", "--json", "--bibtex", str(bib), "AWQ"
    )
    assert run.returncode == 2
    assert str(bib) in one_error_line(run)
    assert json.loads(run.stdout)["answer"]  # the answer was shown before the write failed


# -- 2. stored text reaches the terminal as text ----------------------------------------------


def test_ingest_problem_lines_and_stats_show_no_escape_codes(evil_store):
    store, _, ingest = evil_store
    assert b"Forgotten abstract" in ingest.stderr  # the problem line is there, quoting the file
    assert_no_raw_controls(ingest.stdout, ingest.stderr)
    run = papers("stats", "--store", str(store))
    assert run.returncode == 0, run.stderr.decode()
    assert b"source      evil.jsonl: 4 papers\n" in run.stdout  # the OSC sequence is gone
    assert_no_raw_controls(run.stdout, run.stderr)


def test_search_and_ask_show_titles_without_escape_codes(evil_store):
    store, _, _ = evil_store
    search = papers("search", "--store", str(store), "-k", "4", "quantization")
    assert search.returncode == 0, search.stderr.decode()
    assert all(f"Escaped Title {i}".encode() in search.stdout for i in range(4))
    assert_no_raw_controls(search.stdout, search.stderr)

    ask = papers("ask", "--store", str(store), "--llm", "none", "-k", "4", "quantization of LLMs")
    assert ask.returncode == 0, ask.stderr.decode()
    assert b"Escaped Title" in ask.stdout + ask.stderr
    assert_no_raw_controls(ask.stdout, ask.stderr)


def test_search_json_keeps_the_real_titles_escaped(evil_store):
    store, rows, _ = evil_store
    run = papers("search", "--store", str(store), "--json", "-k", "4", "quantization")
    assert run.returncode == 0, run.stderr.decode()
    assert_no_raw_controls(run.stdout)  # json.dumps writes \u001b, never the byte
    titles = {h["title"] for h in json.loads(run.stdout)["hits"]}
    assert {row["title"] for row in rows[:3]} <= titles, titles


# -- 3. no silent surprises -------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_query_is_refused(query):
    run = papers("search", "--store", "/nonexistent/never-opened", query)
    assert run.returncode == 2
    assert "empty" in one_error_line(run)


@pytest.mark.parametrize("k", ["0", "-1", "two"])
def test_k_below_one_is_refused_at_parse_time(k):
    for command, text in (("search", "q"), ("ask", "q?")):
        run = papers(command, "--store", "/nonexistent/never-opened", "-k", k, text)
        assert run.returncode == 2
        assert "-k" in one_error_line(run)


def test_the_api_refuses_an_empty_query_and_k_below_one(library):
    for query in ("", "  \n"):
        with pytest.raises(QueryError, match="empty"):
            library.search(query)
    for k in (0, -1, 2.5, "3"):
        with pytest.raises(QueryError, match="1 or more"):
            library.search("quantization", k=k)
    with pytest.raises(QueryError, match="UTF-8"):
        library.search("q \udcff w")
    assert isinstance(QueryError("x"), ValueError)


# -- 4. eval and chat take every argument unchanged -----------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--compare", "a.json", "b.json"],
        ["eval", "--help"],
        ["chat", "--help"],
        ["chat", "--store", "/tmp/lib", "--history", "h.sqlite", "--llm", "none"],
    ],
)
def test_eval_and_chat_pass_every_argument_through(monkeypatch, argv):
    calls = []

    def fake_execv(path, args):
        calls.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_execv)
    with pytest.raises(SystemExit):
        cli.main(argv)
    module = {"eval": "eval", "chat": "tui"}[argv[0]]
    assert calls == [[sys.executable, "-m", module, *argv[1:]]]


def test_papers_eval_compare_and_help_reach_the_eval(tmp_path):
    def report(r5: float) -> Path:
        path = tmp_path / f"{r5}.json"
        config = {"dataset": "dev.jsonl", "dataset_sha256": "x", "n": 3, "backend": "b"}
        path.write_text(json.dumps({"config": config, "overall": {"retrieval": {"recall@5": r5}}}))
        return path

    run = papers("eval", "--compare", str(report(0.5)), str(report(0.75)))
    assert run.returncode == 0, run.stderr.decode()
    assert b"| retrieval.recall@5 | 0.500 | 0.750 | +0.250 |" in run.stdout
    run = papers("eval", "--help")
    assert run.returncode == 0 and b"--compare" in run.stdout


def test_papers_help_still_lists_eval_and_chat(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "eval" in out and "chat" in out and "--debug" in out
