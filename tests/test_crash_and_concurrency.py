"""Real processes: a killed ingest, two ingests at once, readers during a write."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import seed_records, write_jsonl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def committed_papers(store: Path) -> int:
    db = store / "library.sqlite"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def assert_exact(lib, n_papers: int) -> None:
    storage = lib.storage
    storage.refresh()
    storage.vectors.reopen()
    counts = storage.catalogue.counts()
    assert counts["papers"] == n_papers
    ids = storage.vectors.all_ids()
    assert len(ids) == len(set(ids)) == counts["chunks"]
    assert sorted(ids) == storage.catalogue.chunk_texts()[0]


def mixed_file(tmp_path: Path, n: int) -> Path:
    from rag.ids import paper_id

    distinct = {paper_id(r.title): r for r in seed_records("000") + seed_records("002")}
    recs = list(distinct.values())[:n]
    assert len(recs) == n
    return write_jsonl(tmp_path / f"papers_{n}.jsonl", recs)


def test_killed_ingest_then_rerun_gives_exact_counts(tmp_path, open_library):
    path = mixed_file(tmp_path, 200)
    store = tmp_path / "store"
    proc = start("ingest", "--store", str(store), str(path))
    deadline = time.monotonic() + 300
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None:
        seen = committed_papers(store)
        if 0 < seen < 200:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"ingest ended before it could be killed: {proc.communicate()}"
    assert 0 < seen < 200
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < committed_papers(store) < 200

    lib = open_library(store)
    assert lib.storage.catalogue.get_meta("pending") == "1"
    rep = lib.ingest([path])
    assert rep.added + rep.unchanged == 200 and rep.updated == 0
    assert rep.unchanged >= seen
    assert lib.storage.catalogue.get_meta("pending") == "0"
    assert_exact(lib, 200)
    again = lib.ingest([path])
    assert (again.added, again.unchanged, again.chunks_embedded) == (0, 200, 0)


def test_two_ingests_at_once(tmp_path, open_library):
    path = mixed_file(tmp_path, 40)
    store = tmp_path / "store"
    first = start("ingest", "--store", str(store), str(path))
    # Let the first one take the lock (it loads the model after taking it).
    deadline = time.monotonic() + 60
    while not (store / ".ingest.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start("ingest", "--store", str(store), str(path))
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert "Traceback" not in err1 + err2
    if second.returncode == 2:
        (line,) = err2.strip().splitlines()
        assert line.startswith("papers: another `papers ingest` is writing to ")
    else:
        assert second.returncode == 0, err2
    assert_exact(open_library(store), 40)


READER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from rag.library import Library

    store, stop, queries = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    lib = Library.open(store)
    rounds = 0
    while not stop.exists() or rounds == 0:
        for q in queries:
            hits = lib.search(q, k=5)
            ids = [h.paper.paper_id for h in hits]
            have = lib.papers(ids)
            cat = lib.storage.catalogue
            bad = [i for i in ids if i not in have or not cat.chunk_ids_of([i])]
            print(json.dumps({"n": len(ids), "bad": bad, "gen": cat.generation()}), flush=True)
        rounds += 1
    """
)


def test_readers_during_an_ingest(tmp_path, open_library):
    recs = seed_records("000")[:150]
    first = write_jsonl(tmp_path / "first.jsonl", recs[:10])
    rest = write_jsonl(tmp_path / "rest.jsonl", recs[10:])
    store = tmp_path / "store"
    open_library(store).ingest([first])
    # A reader in this process, open before the write.
    reader = open_library(store)
    newcomer = recs[-1].title
    assert newcomer not in [h.paper.title for h in reader.search(newcomer, k=3)]

    stop = tmp_path / "stop"
    queries = [r.title for r in recs[::30]]
    other = subprocess.Popen(
        [sys.executable, "-c", READER, str(store), str(stop), json.dumps(queries)],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writer = start("ingest", "--store", str(store), str(rest))
    _, werr = writer.communicate(timeout=600)
    stop.touch()
    rout, rerr = other.communicate(timeout=300)
    assert writer.returncode == 0, werr
    assert other.returncode == 0, rerr
    results = [json.loads(line) for line in rout.splitlines()]
    assert results and all(r["n"] > 0 and r["bad"] == [] for r in results)
    assert len({r["gen"] for r in results}) >= 2, "the reader never ran during the write"

    hits = reader.search(newcomer, k=3)
    assert hits[0].paper.title == newcomer
    assert_exact(reader, 150)


SMALL_BATCHES = textwrap.dedent(
    """
    import sys
    import rag.ingest
    from rag.cli import main

    rag.ingest.BATCH_PAPERS = 4  # many batches: the ingest is surely running when we look
    sys.exit(main(sys.argv[1:]))
    """
)


def test_rebuild_while_an_ingest_runs_refuses_and_deletes_nothing(tmp_path, open_library):
    store = tmp_path / "store"
    kept = write_jsonl(tmp_path / "kept.jsonl", seed_records("003")[:6])
    open_library(store).ingest([kept])
    path = mixed_file(tmp_path, 40)
    writer = subprocess.Popen(
        [sys.executable, "-c", SMALL_BATCHES, "ingest", "--store", str(store), str(path)],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while committed_papers(store) <= 6 and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert writer.poll() is None, f"the ingest ended too soon: {writer.communicate()}"
    rebuild = start("ingest", "--rebuild", "--store", str(store), str(kept))
    _, err = rebuild.communicate(timeout=300)
    assert rebuild.returncode == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    assert line.startswith("papers: another `papers ingest` is writing to ")
    _, werr = writer.communicate(timeout=300)
    assert writer.returncode == 0, werr
    lib = open_library(store)
    assert_exact(lib, 46)
    assert lib.check().healthy
