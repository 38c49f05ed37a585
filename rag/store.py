"""The only module that talks to chromadb: chunk vectors, embedded or on a Chroma server.

Every chromadb or network failure leaves this module as a one-line ``StoreError`` that says
where the vectors are and what to do (a killed ``chroma run`` raised httpx's ConnectError
with a traceback).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import CollectionMismatch, EmbedderMismatch, PapersError, StoreError


@dataclass(frozen=True)
class VectorHit:
    chunk_id: str
    paper_id: str
    similarity: float


class VectorStore:
    """Chunk vectors in a Chroma collection (cosine space).

    The collection records which embedder and dimension built it, and which library it
    belongs to (``library_id``, from the catalogue): opening it with another embedder raises
    ``EmbedderMismatch``, and from another library ``CollectionMismatch``, each naming the
    command that fixes it. Two libraries on one Chroma server each have their own collection;
    the check catches one pointed at another's.
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
        library_id: str | None = None,
    ) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.collection_name = collection
        self.embedder = embedder
        self.dim = dim
        self.library_id = library_id
        self._client: Any = None  # a chromadb client, made on first use
        self._collection: Any = None

    def where(self) -> str:
        return f"Chroma server {self.host}:{self.port}" if self.host else str(self.path)

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn whatever chromadb or httpx raise into one ``StoreError`` line saying what to do."""
        try:
            yield
        except PapersError:
            raise
        except Exception as exc:
            # Forget the handles: the next call reconnects (a restarted server, a freed disk).
            self._collection = None
            self._client = None
            raise StoreError(self._explain(doing, exc)) from exc

    def _explain(self, doing: str, exc: Exception) -> str:
        reason = _first_line(exc)
        if self.host:
            at = f"{self.host}:{self.port}"
            return (
                f"lost the Chroma server at {at} while {doing} ({reason}); is `chroma run` "
                f"still running at {at}? Start it and rerun: what was committed is kept"
            )
        return (
            f"the Chroma store at {self.path} failed while {doing} ({reason}); check that its "
            f"disk has space and the folder is writable, then rerun"
        )

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.host:
            client = chromadb.HttpClient(host=self.host, port=self.port, settings=chroma_settings)
            client.heartbeat()
            return client
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a Chroma folder; choose another --store")
        key = str(self.path.resolve())
        if key in _embedded_files and _embedded_files[key] != _chroma_file(self.path):
            _clear_chroma_cache()
        self.path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)
        _embedded_files[key] = _chroma_file(self.path)
        return client

    def _open(self) -> Any:
        if self._collection is not None:
            return self._collection
        col, meta = self._get_collection()
        built = meta.get("embedder")
        if built and (built != self.embedder or int(meta.get("dim", self.dim)) != self.dim):
            raise EmbedderMismatch(
                f"the store at {self.where()} was built with {built} (dim {meta.get('dim')}), not "
                f"{self.embedder} (dim {self.dim}); use --embedder {built}, or rebuild with "
                f"`papers ingest --rebuild --embedder {self.embedder} PATH...`"
            )
        owner = meta.get("library_id")
        if self.library_id and owner and owner != self.library_id:
            raise CollectionMismatch(
                f"the Chroma collection '{self.collection_name}' at {self.where()} holds another "
                f"library's vectors (library {owner}, not {self.library_id}); run `papers doctor "
                f"--repair` to give this library its own collection, or `papers ingest --rebuild "
                f"PATH...`"
            )
        self._collection = col
        return col

    def _get_collection(self) -> tuple[Any, dict[str, Any]]:
        """The collection (made if missing) and its metadata."""
        with self._guard("opening the collection"):
            self._client = self._connect()
            metadata: dict[str, Any] = {
                "hnsw:space": "cosine",
                "embedder": self.embedder,
                "dim": self.dim,
            }
            if self.library_id:
                metadata["library_id"] = self.library_id
            # embedding_function=None: Chroma's default embedder downloads a model; we embed.
            col = self._client.get_or_create_collection(
                self.collection_name, metadata=metadata, embedding_function=None
            )
            meta = dict(col.metadata or {})
            if self.library_id and "library_id" not in meta:
                # A collection from before library ids: this library claims it, so a second
                # library pointed at it later is refused instead of deleting its vectors.
                # (Chroma refuses any change to hnsw:space; the space stays in its configuration.)
                meta.pop("hnsw:space", None)
                meta["library_id"] = self.library_id
                col.modify(metadata=meta)
        return col, meta

    def reopen(self) -> None:
        """Drop cached handles so the next call sees other processes' writes."""
        self._collection = None
        if not self.host:
            _clear_chroma_cache()
        self._client = None

    def count(self) -> int:
        col = self._open()
        with self._guard("counting vectors"):
            return int(col.count())

    def collection(self) -> Any:
        """The chromadb collection itself, for integrations (llama-index's ChromaVectorStore)."""
        return self._open()

    def iter_rows(self, *, step: int = 2000) -> Iterator[tuple[list[str], Any, list[Any]]]:
        """Every stored chunk as (ids, embeddings, metadatas), a page at a time."""
        col = self._open()
        offset = 0
        while True:
            with self._guard("reading vectors"):
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
        with self._guard("writing vectors"):
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
            with self._guard("deleting vectors"):
                for i in range(0, len(ids), 4000):
                    col.delete(ids=list(ids[i : i + 4000]))

    def all_ids(self) -> list[str]:
        col = self._open()
        out: list[str] = []
        offset, step = 0, 10000
        with self._guard("listing vectors"):
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
        with self._guard("searching"):
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
        """Delete the collection if it is this library's (for --rebuild).

        A collection that another library claims, or one from before library ids that no
        library has claimed yet, may hold other libraries' vectors (chunk ids are the same for
        the same paper everywhere), so it is left alone: a leftover costs disk, a deletion
        would cost another library its papers.
        """
        with self._guard("deleting the collection"):
            if self._client is None:
                self._client = self._connect()
            from chromadb.errors import NotFoundError

            try:
                col = self._client.get_collection(self.collection_name, embedding_function=None)
            except NotFoundError:
                return
            owner = (col.metadata or {}).get("library_id")
            if self.library_id and owner == self.library_id:
                self._client.delete_collection(self.collection_name)
        self._collection = None


# chromadb keeps one client system per folder for the whole process. When another process
# deletes the folder and makes it anew (`papers ingest --rebuild`), that system goes on using
# the deleted files ("attempt to write a readonly database", "no such table: max_seq_id").
# The database file's identity when this process last connected tells when to start afresh.
_embedded_files: dict[str, tuple[int, int] | None] = {}


def _chroma_file(folder: Path) -> tuple[int, int] | None:
    try:
        st = (folder / "chroma.sqlite3").stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _clear_chroma_cache() -> None:
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # an older or newer chromadb without it: reopening still helps
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _rows(embeddings):
    """Chroma takes a 2-D numpy array without a per-float Python conversion."""
    import numpy as np

    if isinstance(embeddings, np.ndarray):
        return embeddings.astype(np.float32, copy=False)
    return np.asarray(embeddings, dtype=np.float32)
