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
