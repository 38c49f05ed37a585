"""The only module that talks to chromadb: chunk vectors, embedded or on a Chroma server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import EmbedderMismatch, StoreError


@dataclass(frozen=True)
class VectorHit:
    chunk_id: str
    paper_id: str
    similarity: float


class VectorStore:
    """Chunk vectors in a Chroma collection (cosine space).

    The collection records which embedder and dimension built it; opening it with another
    raises ``EmbedderMismatch`` naming the command that rebuilds.
    """

    def __init__(
        self,
        *,
        path: Path,
        collection: str,
        embedder: str,
        dim: int,
        host: str | None = None,
        port: int = 8000,
    ) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.collection_name = collection
        self.embedder = embedder
        self.dim = dim
        self._client: Any = None  # a chromadb client, made on first use
        self._collection: Any = None

    def where(self) -> str:
        return f"Chroma server {self.host}:{self.port}" if self.host else str(self.path)

    def _open(self):
        if self._collection is not None:
            return self._collection
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.host:
                self._client = chromadb.HttpClient(
                    host=self.host, port=self.port, settings=chroma_settings
                )
                self._client.heartbeat()
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(self.path), settings=chroma_settings
                )
            # embedding_function=None: Chroma's default embedder downloads a model; we embed ourselves.
            col = self._client.get_or_create_collection(
                self.collection_name,
                metadata={"hnsw:space": "cosine", "embedder": self.embedder, "dim": self.dim},
                embedding_function=None,
            )
        except Exception as exc:  # chromadb raises many kinds; one line for the user
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open the Chroma store at {self.where()}: {exc}") from None
        meta = col.metadata or {}
        built = meta.get("embedder")
        if built and (built != self.embedder or int(meta.get("dim", self.dim)) != self.dim):
            raise EmbedderMismatch(
                f"the store at {self.where()} was built with {built} (dim {meta.get('dim')}), not "
                f"{self.embedder} (dim {self.dim}); use --embedder {built}, or rebuild with "
                f"`papers ingest --rebuild --embedder {self.embedder} PATH...`"
            )
        self._collection = col
        return col

    def reopen(self) -> None:
        """Drop cached handles so the next call sees other processes' writes."""
        self._collection = None
        if not self.host:
            try:
                from chromadb.api.client import SharedSystemClient

                SharedSystemClient.clear_system_cache()
            except Exception:  # an older or newer chromadb without it: reopening still helps
                pass
        self._client = None

    def count(self) -> int:
        return self._open().count()

    def collection(self):
        """The chromadb collection itself, for integrations (llama-index's ChromaVectorStore)."""
        return self._open()

    def iter_rows(self, *, step: int = 2000):
        """Every stored chunk as (ids, embeddings, metadatas), a page at a time."""
        col = self._open()
        offset = 0
        while True:
            got = col.get(include=["embeddings", "metadatas"], limit=step, offset=offset)
            if len(got["ids"]):
                yield got["ids"], got["embeddings"], got["metadatas"]
            if len(got["ids"]) < step:
                return
            offset += step

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        paper_ids: Sequence[str],
    ) -> None:
        """Store vectors under ``ids``. The texts stay in the catalogue, not in Chroma: Chroma
        indexes every document for full-text search (a trigram index), which we never query
        and which measured 2.2x the CPU time and 7x the disk of the vectors alone (20k chunks:
        191 vs 436 inserts/s, 327 vs 47 MB)."""
        col = self._open()
        step = 4000  # below Chroma's max batch size
        for i in range(0, len(ids), step):
            col.upsert(
                ids=list(ids[i : i + step]),
                # A numpy array goes to Chroma as it is; lists of lists are converted.
                embeddings=_rows(embeddings[i : i + step]),
                metadatas=[{"paper_id": p} for p in paper_ids[i : i + step]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            col = self._open()
            for i in range(0, len(ids), 4000):
                col.delete(ids=list(ids[i : i + 4000]))

    def all_ids(self) -> list[str]:
        col = self._open()
        out: list[str] = []
        offset, step = 0, 10000
        while True:
            got = col.get(include=[], limit=step, offset=offset)["ids"]
            out.extend(got)
            if len(got) < step:
                return out
            offset += step

    def query(self, embedding: Sequence[float], n: int) -> list[VectorHit]:
        col = self._open()
        # No count() first: it grows with the collection (7.4 ms of a 12.4 ms query at 100k
        # chunks), and Chroma answers an n larger than the collection (or an empty one) with
        # what it has.
        res = col.query(
            query_embeddings=_rows([embedding]),  # a list or a numpy row alike
            n_results=n,
            include=["metadatas", "distances"],
        )
        return [
            VectorHit(cid, (meta or {}).get("paper_id", cid.split("#")[0]), 1.0 - float(dist))
            for cid, meta, dist in zip(
                res["ids"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]

    def drop(self) -> None:
        """Delete the whole collection (for --rebuild)."""
        self._open()
        assert self._client is not None  # _open made it
        self._client.delete_collection(self.collection_name)
        self._collection = None


def _rows(embeddings):
    """Chroma takes a 2-D numpy array without a per-float Python conversion."""
    import numpy as np

    if isinstance(embeddings, np.ndarray):
        return embeddings.astype(np.float32, copy=False)
    return np.asarray(embeddings, dtype=np.float32)
