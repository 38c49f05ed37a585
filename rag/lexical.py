"""The BM25 index beside the vectors, built with bm25s from the catalogue's chunks."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from rag.errors import StoreError

_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
# A short English stoplist: BM25 gains little from function words and they cost time.
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their "
    "this to was we were which with our these those can also than via".split()
)


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


class LexicalIndex:
    """BM25 over chunk texts (title + abstract piece), saved with the generation it reflects.

    The saved index also records which library it was built for, so a folder left over from
    before a rebuild (whose generations count from 0 again) is never taken for the current one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.generation = -1
        self.library_id: str | None = None
        self._bm25 = None
        self._ids: list[str] = []
        self._paper_ids: list[str] = []

    def build(
        self,
        ids: list[str],
        paper_ids: list[str],
        texts: list[str],
        generation: int,
        *,
        library_id: str | None = None,
    ) -> None:
        import bm25s

        self._ids, self._paper_ids, self.generation = ids, paper_ids, generation
        self.library_id = library_id
        if not ids:
            self._bm25 = None
            return
        bm25 = bm25s.BM25()
        bm25.index([tokenize(t) for t in texts], show_progress=False)
        self._bm25 = bm25

    def save(self) -> None:
        """Write to a fresh folder and swap it in, so a reader never loads half an index.

        Between the two renames there is no folder at all; a reader then rebuilds from the
        catalogue (``Storage.refresh``), and a writer killed there leaves ``.tmp``/``.old``
        folders that the next save clears (only the writer, holding the lock, saves).
        """
        try:
            for leftover in self.folder.parent.glob(self.folder.name + ".*"):
                shutil.rmtree(leftover, ignore_errors=True)
            tmp = self.folder.with_name(self.folder.name + f".tmp{os.getpid()}")
            tmp.mkdir(parents=True)
            if self._bm25 is not None:
                self._bm25.save(str(tmp / "bm25"))
            meta = {
                "generation": self.generation,
                "library_id": self.library_id,
                "ids": self._ids,
                "paper_ids": self._paper_ids,
            }
            (tmp / "ids.json").write_text(json.dumps(meta))
            old = self.folder.with_name(self.folder.name + f".old{os.getpid()}")
            if self.folder.exists():
                self.folder.rename(old)
            tmp.rename(self.folder)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise StoreError(
                f"cannot save the BM25 index in {self.folder}: {exc.strerror or exc}; free disk "
                f"space or make the store writable, then rerun `papers ingest` or `papers doctor "
                f"--repair`"
            ) from exc

    def load(self) -> bool:
        """Load the saved index; False if there is none or it cannot be read whole."""
        try:
            meta = json.loads((self.folder / "ids.json").read_text())
            ids, paper_ids = list(meta["ids"]), list(meta["paper_ids"])
            bm25 = None
            if ids:
                import bm25s

                bm25 = bm25s.BM25.load(str(self.folder / "bm25"))
                # A writer swapping folders between our two reads: the parts would not match.
                if int(bm25.scores["num_docs"]) != len(ids):
                    return False
        except Exception:  # missing, half-written or from another bm25s: rebuild instead
            return False
        self._ids, self._paper_ids, self._bm25 = ids, paper_ids, bm25
        self.generation = int(meta["generation"])
        self.library_id = meta.get("library_id")
        return True

    def saved_generation(self) -> int:
        return self.saved_stamp()[1]

    def saved_stamp(self) -> tuple[str | None, int]:
        """(library id, generation) of the saved index; (None, -1) when there is none."""
        try:
            meta = json.loads((self.folder / "ids.json").read_text())
            return meta.get("library_id"), int(meta["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, -1

    def saved_ids(self) -> list[str] | None:
        """The chunk ids of the saved index, without loading it; None when there is none."""
        try:
            return list(json.loads((self.folder / "ids.json").read_text())["ids"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def query(self, text: str, n: int) -> list[tuple[str, str, float]]:
        """(chunk id, paper id, score) of the best ``n`` chunks with a positive score."""
        if self._bm25 is None:
            return []
        tokens = tokenize(text)
        if not tokens:
            return []
        n = min(n, len(self._ids))
        # get_scores avoids bm25s' per-call tokenizer objects; argpartition keeps it O(N).
        scores = self._bm25.get_scores(tokens)
        if n < len(scores):
            top = np.argpartition(-scores, n - 1)[:n]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top])]
        return [(self._ids[i], self._paper_ids[i], float(scores[i])) for i in top if scores[i] > 0]
