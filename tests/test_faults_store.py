"""Faults at the store: a process killed at each write step, the Chroma server killed during
an ingest, a full disk, a read-only store, a --store that cannot be a folder.

Each asserts what the user sees (one line, no traceback) and that the next run leaves exact
counts: the papers expected, Chroma holding exactly the catalogue's chunks (no orphans, no
duplicates), BM25 finding every committed paper, and ``Library.check()`` healthy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag.errors import StoreError
from tests.conftest import seed_records, write_jsonl
from tests.test_chroma_server import ChromaServer, free_port
from tests.test_crash_and_concurrency import committed_papers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Runs one write in a fresh process with small batches, and SIGKILLs it right after the
# ``nth`` call of the step named: the kill lands exactly there, not after a guessed delay.
RUNNER = textwrap.dedent(
    """
    import os, pathlib, shutil, signal, sys

    def kill_after(owner, name, nth, when=lambda *a, **k: True):
        original, calls = getattr(owner, name), [0]

        def wrapper(*args, **kwargs):
            out = original(*args, **kwargs)
            if when(*args, **kwargs):
                calls[0] += 1
                if calls[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
            return out

        setattr(owner, name, wrapper)

    step, nth, store, action, args = (
        sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
    )
    import bm25s
    import rag.ingest
    from rag.catalogue import Catalogue
    from rag.library import Library
    from rag.store import VectorStore

    rag.ingest.BATCH_PAPERS = 4
    if step == "upsert":
        kill_after(VectorStore, "upsert", nth)
    elif step == "commit":
        kill_after(Catalogue, "commit_papers", nth)
    elif step == "bm25-files":
        kill_after(bm25s.BM25, "save", nth)
    elif step == "bm25-swap":  # after the old folder is moved aside, before the new one is in
        kill_after(pathlib.Path, "rename", nth, when=lambda self, target: self.name == "bm25")
    elif step == "remove":
        kill_after(Catalogue, "delete_papers", nth)
    elif step == "rebuild":  # after the vectors are deleted, before the catalogue is
        kill_after(shutil, "rmtree", nth)
    lib = Library.open(store)
    if action == "remove":
        lib.remove(source=args[0])
    elif action == "rebuild":
        lib.ingest(args, rebuild=True)
    else:
        lib.ingest(args)
    sys.exit(3)  # the step was never reached
    """
)

# The real command, with small batches so that a server killed mid-ingest finds some
# batches committed and more to write.
CLI = textwrap.dedent(
    """
    import sys
    import rag.ingest
    from rag.cli import main

    rag.ingest.BATCH_PAPERS = 4
    sys.exit(main(sys.argv[1:]))
    """
)


def python(code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        env=ENV,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("papers: ")
    return line


def assert_whole(lib, n_papers: int) -> None:
    """Exact counts, no orphans or duplicates, every paper found by BM25 and dense, healthy."""
    storage = lib.storage
    storage.vectors.reopen()
    storage.refresh()
    counts = storage.catalogue.counts()
    assert counts["papers"] == n_papers
    ids = storage.vectors.all_ids()
    assert len(ids) == len(set(ids)) == counts["chunks"]
    assert sorted(ids) == storage.catalogue.chunk_ids()
    found_by_bm25(lib)
    for paper in list(storage.catalogue.iter_papers())[:3]:
        assert lib.search(paper.title, k=3, mode="dense")[0].paper.title == paper.title
    report = lib.check()
    assert report.healthy, report.problems()


def found_by_bm25(lib) -> None:
    for paper in lib.storage.catalogue.iter_papers():
        hits = lib.search(paper.title, k=3, mode="bm25")
        assert paper.title in [h.paper.title for h in hits], paper.title


@pytest.fixture
def files(tmp_path):
    """base.jsonl (6 papers), other.jsonl (4), all.jsonl (base + 10 more), changed.jsonl
    (base with every abstract rewritten)."""
    a, b = seed_records("000"), seed_records("003")
    out = {
        "base": write_jsonl(tmp_path / "base.jsonl", a[:6]),
        "other": write_jsonl(tmp_path / "other.jsonl", b[10:14]),
        "all": write_jsonl(tmp_path / "all.jsonl", a[:6] + b[:10]),
        "changed": write_jsonl(
            tmp_path / "changed.jsonl",
            [{"title": r.title, "abstract": "In short, a rewrite. " + r.abstract} for r in a[:6]],
        ),
    }
    return out


# step, nth call, what the killed process runs, its files, papers after the rerun
KILLS = [
    # vectors of the second batch in Chroma, unknown to the catalogue
    ("upsert", 2, "ingest", ["all"], 20),
    # two batches committed, BM25 never saved (a reader found nothing with --mode bm25)
    ("commit", 2, "ingest", ["all"], 20),
    # changed papers committed, the vectors of their old versions not yet deleted
    ("commit", 1, "update", ["changed"], 10),
    # BM25 written to its temporary folder, never swapped in
    ("bm25-files", 1, "ingest", ["all"], 20),
    # between BM25's two renames: no BM25 folder at all
    ("bm25-swap", 1, "ingest", ["all"], 20),
    # papers gone from the catalogue, their vectors not yet deleted
    ("remove", 1, "remove", ["base.jsonl"], 4),
    # ingest --rebuild: the vectors deleted, the catalogue not yet
    ("rebuild", 1, "rebuild", ["all"], 16),
]


@pytest.mark.parametrize(
    "step, nth, action, args, after", KILLS, ids=[f"{k[0]}-{k[1]}-{k[2]}" for k in KILLS]
)
def test_killed_at_a_write_step_then_rerun_is_exact(
    tmp_path, open_library, files, step, nth, action, args, after
):
    store = tmp_path / "store"
    open_library(store).ingest([files["base"], files["other"]])
    argv = [files[a] if a in files else a for a in args]
    killed = python(RUNNER, step, nth, store, action, *argv)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)

    # A reader in between: whatever the catalogue committed, BM25 finds too.
    reader = open_library(store)
    found_by_bm25(reader)
    report = reader.check()
    assert report.interrupted and not report.healthy

    # The next run, the same command.
    rerun = open_library(store)
    if action == "remove":
        rerun.remove(source=argv[0])
    elif action == "rebuild":
        rerun.ingest(argv, rebuild=True)
    else:
        rerun.ingest(argv)
    assert_whole(rerun, after)
    assert not list(store.glob("bm25.*")), "leftover BM25 folders"
    if action == "update":
        texts = [p.abstract for p in rerun.storage.catalogue.iter_papers()]
        assert sum(t.startswith("In short, a rewrite.") for t in texts) == 6


def test_killed_then_repaired_by_doctor_without_an_ingest(tmp_path, open_library, files):
    store = tmp_path / "store"
    open_library(store).ingest([files["base"]])
    killed = python(RUNNER, "upsert", 2, store, "ingest", files["all"])
    assert killed.returncode == -signal.SIGKILL
    lib = open_library(store)
    committed = lib.paper_count()
    report = lib.repair()
    assert report.healthy and report.repaired, report.problems()
    assert any("deleted" in r for r in report.repaired)
    assert_whole(lib, committed)


# -- the Chroma server killed during an ingest ---------------------------------------------


@pytest.fixture
def chroma_server(tmp_path):
    server = ChromaServer(tmp_path / "chroma-data", free_port())
    server.start()
    yield server
    server.stop()


def test_chroma_server_killed_mid_ingest_is_one_line_and_rerun_recovers(
    tmp_path, chroma_server, open_library
):
    recs = seed_records("000")[:30]
    path = write_jsonl(tmp_path / "papers.jsonl", recs)
    store = tmp_path / "store"
    at = ["--chroma-host", "127.0.0.1", "--chroma-port", str(chroma_server.port)]
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "ingest", "--store", str(store), *at, str(path)],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while committed_papers(store) < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, f"ingest ended before the server was killed: {proc.communicate()}"
    assert chroma_server.proc is not None
    chroma_server.proc.send_signal(signal.SIGKILL)
    chroma_server.proc.wait(timeout=30)
    out, err = proc.communicate(timeout=300)
    run = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = one_line_error(run)
    where = f"127.0.0.1:{chroma_server.port}"
    assert f"is `chroma run` still running at {where}?" in line, line
    committed = committed_papers(store)
    assert 8 <= committed < 30

    # While it is down, a reader's search and a check are one line too.
    search = python(CLI, "search", "--store", store, *at, "--mode", "dense", recs[0].title)
    assert where in one_line_error(search)
    chroma = {"host": "127.0.0.1", "port": chroma_server.port}
    with pytest.raises(StoreError) as down:
        open_library(store, chroma=chroma).check()
    assert where in str(down.value) and "\n" not in str(down.value)

    chroma_server.start()  # the same data folder
    again = python(CLI, "ingest", "--store", store, *at, path)
    assert again.returncode == 0, again.stderr
    assert_whole(open_library(store, chroma=chroma), 30)


# -- a full disk, a read-only store ---------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 600 KB mounted in tmp_path: (folder, resize(size), read_only(bool))."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")

    def remount(opts: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True)

    yield mnt, remount
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_one_line_and_rerun_after_freeing_space_is_exact(
    tmp_path, small_disk, open_library
):
    mnt, remount = small_disk
    recs = seed_records("000")[:30]
    path = write_jsonl(tmp_path / "papers.jsonl", recs)
    store = mnt / "store"
    full = python(CLI, "ingest", "--store", store, path)
    line = one_line_error(full)
    assert str(store) in line, line
    assert "space" in line, line

    remount("size=20m")
    again = python(CLI, "ingest", "--store", store, path)
    assert again.returncode == 0, again.stderr
    assert_whole(open_library(store), 30)


def test_read_only_store_is_one_line_and_rerun_when_writable_is_exact(
    tmp_path, small_disk, open_library
):
    mnt, remount = small_disk
    remount("size=20m")
    recs = seed_records("000")[:12]
    store = mnt / "store"
    # In another process, so that this one holds no file open for writing (remount would fail).
    first = python(CLI, "ingest", "--store", store, write_jsonl(tmp_path / "a.jsonl", recs[:6]))
    assert first.returncode == 0, first.stderr
    path = write_jsonl(tmp_path / "all.jsonl", recs)
    remount("ro")
    denied = python(CLI, "ingest", "--store", store, path)
    line = one_line_error(denied)
    assert str(store) in line and "writable" in line, line
    search = python(CLI, "search", "--store", store, "--mode", "bm25", recs[0].title)
    line = one_line_error(search)
    assert str(store) in line and "read-only" in line, line

    remount("rw")
    again = python(CLI, "ingest", "--store", store, path)
    assert again.returncode == 0, again.stderr
    assert_whole(open_library(store), 12)


# -- --store that cannot be a folder --------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "under a file"])
def test_store_that_cannot_be_a_folder_is_one_line_from_the_cli(tmp_path, kind):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    store = blocker if kind == "file" else blocker / "store"
    for argv in (("search", "quantization"), ("stats",)):
        run = python(CLI, argv[0], "--store", store, *argv[1:])
        line = one_line_error(run)
        assert str(store) in line and "--store" in line, line
    assert blocker.read_text() == "a file\n"
