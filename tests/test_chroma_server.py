"""A real Chroma server holding the whole seed corpus survives a restart (chroma-core #7090)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag.errors import CollectionMismatch, StoreError

pytestmark = pytest.mark.slow
CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port, self.proc = path, port, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(CHROMA),
                "run",
                "--path",
                str(self.path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "chroma run exited"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1
                ):
                    return
            except OSError:
                time.sleep(0.25)
        raise AssertionError("chroma server did not answer its heartbeat")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def chroma_server(tmp_path):
    server = ChromaServer(tmp_path / "chroma-data", free_port())
    server.start()
    yield server
    server.stop()


def test_whole_corpus_survives_a_server_restart(seed_store, tmp_path, chroma_server, open_library):
    # Copy the catalogue and BM25, and move the already-computed vectors, so nothing is re-embedded.
    source = open_library(seed_store)
    got = source.storage.vectors._open().get(include=["embeddings", "metadatas"])
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(seed_store / "library.sqlite", store / "library.sqlite")
    shutil.copytree(seed_store / "bm25", store / "bm25")
    chroma = {"host": "127.0.0.1", "port": chroma_server.port}
    lib = open_library(store, chroma=chroma)
    expected = lib.storage.catalogue.counts()["chunks"]
    assert expected > 1000 and len(got["ids"]) == expected
    lib.storage.vectors.upsert(
        got["ids"], got["embeddings"], [m["paper_id"] for m in got["metadatas"]]
    )
    assert lib.storage.vectors.count() == expected

    chroma_server.stop()
    chroma_server.start()
    after = open_library(store, chroma=chroma)
    assert after.storage.vectors.count() == expected
    assert sorted(after.storage.vectors.all_ids()) == sorted(got["ids"])
    awq = "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"
    for mode in ("dense", "hybrid"):
        hits = after.search(
            "activation-aware weight quantization for LLM compression", k=3, mode=mode
        )
        assert hits[0].paper.title == awq, mode


def server_client(server: ChromaServer):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.HttpClient(
        host="127.0.0.1", port=server.port, settings=ChromaSettings(anonymized_telemetry=False)
    )


def server_collections(server: ChromaServer) -> set[str]:
    return {c.name for c in server_client(server).list_collections()}


def exact(lib, n_papers: int) -> None:
    counts = lib.storage.catalogue.counts()
    assert counts["papers"] == n_papers
    ids = lib.storage.vectors.all_ids()
    assert len(ids) == len(set(ids)) == counts["chunks"]
    assert sorted(ids) == lib.storage.catalogue.chunk_texts()[0]


def test_two_libraries_on_one_server_keep_their_own_vectors(
    tmp_path, chroma_server, open_library, slice_file
):
    chroma = {"host": "127.0.0.1", "port": chroma_server.port}
    a = open_library(tmp_path / "a", chroma=chroma)
    a.ingest([slice_file(10)])
    b = open_library(tmp_path / "b", chroma=chroma)
    b.rebuild()  # what `papers ingest --rebuild` did first: it dropped the shared collection
    b.ingest([slice_file(6, "003")])
    b.storage.catalogue.set_meta("pending", "1")  # a killed run: its clean-up deletes orphans
    b.ingest([slice_file(6, "003")])

    exact(a, 10)
    exact(b, 6)
    assert a.storage.identity[1] != b.storage.identity[1]
    # Each of a's chunks, as a query, finds its own paper first.
    chunk_ids = a.storage.catalogue.chunk_texts()[0]
    for cid, (pid, text) in a.storage.catalogue.chunk_rows(chunk_ids[::3]).items():
        assert a.search(text, k=1, mode="dense")[0].paper.paper_id == pid, cid
    assert a.check().healthy and b.check().healthy

    # A rebuild drops only the library's own collection.
    a_name = a.storage.identity[1]
    b.ingest([slice_file(4, "003")], rebuild=True)
    exact(b, 4)
    assert server_collections(chroma_server) == {a_name, b.storage.identity[1]}
    exact(a, 10)


def test_a_library_pointed_at_anothers_collection_is_refused_then_repaired(
    tmp_path, chroma_server, open_library, slice_file
):
    chroma = {"host": "127.0.0.1", "port": chroma_server.port}
    a = open_library(tmp_path / "a", chroma=chroma)
    a.ingest([slice_file(8)])
    a_name = a.storage.identity[1]

    # Named by hand: refused, and repair cannot move it while the name is set.
    named = open_library(tmp_path / "named", chroma={**chroma, "collection": a_name})
    with pytest.raises(CollectionMismatch) as err:
        named.ingest([slice_file(3, "003")])
    msg = str(err.value)
    assert "\n" not in msg and a_name in msg and "papers doctor --repair" in msg
    with pytest.raises(StoreError, match="unset it"):
        named.repair()

    # Recorded in its catalogue (two stores from before library ids both used "papers").
    b = open_library(tmp_path / "b", chroma=chroma)
    b.ingest([slice_file(5, "003")])
    b.storage.catalogue.set_meta("collection", a_name)
    b.storage.__dict__.pop("identity")
    b.storage.__dict__.pop("vectors")
    with pytest.raises(CollectionMismatch):
        b.search("weight quantization", mode="dense")
    report = b.check()
    assert report.collection_problem and report.vectors is None and not report.healthy
    fixed = b.repair()
    assert fixed.healthy, fixed.problems()
    assert fixed.repaired[0].startswith("gave this library its own Chroma collection")
    lid, name = b.storage.identity
    assert name == f"papers-{lid}"
    exact(b, 5)
    exact(a, 8)
    assert a.check().healthy


def test_next_ingest_re_embeds_a_collection_the_server_lost(
    tmp_path, chroma_server, open_library, slice_file
):
    chroma = {"host": "127.0.0.1", "port": chroma_server.port}
    lib = open_library(tmp_path / "store", chroma=chroma)
    path = slice_file(6)
    lib.ingest([path])
    name = lib.storage.identity[1]
    lib.storage.vectors.collection()  # opened, then deleted behind its back
    server_client(chroma_server).delete_collection(name)
    lib.storage.vectors.reopen()
    rep = lib.ingest([path])
    assert (rep.added, rep.unchanged) == (0, 6)
    exact(lib, 6)
    assert lib.check().healthy
