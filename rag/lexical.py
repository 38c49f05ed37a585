"""The BM25 index beside the vectors, built with bm25s from the catalogue's chunks."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
# A short English stoplist: BM25 gains little from function words and they cost time.
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their "
    "this to was we were which with our these those can also than via".split()
)


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


class LexicalIndex:
    """BM25 over chunk texts (title + abstract piece), saved with the generation it reflects."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.generation = -1
        self._bm25 = None
        self._ids: list[str] = []
        self._paper_ids: list[str] = []

    def build(
        self, ids: list[str], paper_ids: list[str], texts: list[str], generation: int
    ) -> None:
        import bm25s

        self._ids, self._paper_ids, self.generation = ids, paper_ids, generation
        if not ids:
            self._bm25 = None
            return
        bm25 = bm25s.BM25()
        bm25.index([tokenize(t) for t in texts], show_progress=False)
        self._bm25 = bm25

    def save(self) -> None:
        """Write to a fresh folder and swap it in, so a reader never loads half an index."""
        tmp = self.folder.with_name(self.folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp / "bm25"))
        (tmp / "ids.json").write_text(
            json.dumps(
                {"generation": self.generation, "ids": self._ids, "paper_ids": self._paper_ids}
            )
        )
        old = self.folder.with_name(self.folder.name + f".old{os.getpid()}")
        if self.folder.exists():
            self.folder.rename(old)
        tmp.rename(self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def load(self) -> bool:
        try:
            meta = json.loads((self.folder / "ids.json").read_text())
        except (OSError, ValueError):
            return False
        self._ids, self._paper_ids = meta["ids"], meta["paper_ids"]
        self.generation = int(meta["generation"])
        self._bm25 = None
        if self._ids:
            import bm25s

            self._bm25 = bm25s.BM25.load(str(self.folder / "bm25"))
        return True

    def saved_generation(self) -> int:
        try:
            return int(json.loads((self.folder / "ids.json").read_text())["generation"])
        except (OSError, ValueError, KeyError):
            return -1

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
