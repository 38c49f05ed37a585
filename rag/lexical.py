"""The BM25 index beside the vectors, built with bm25s from the catalogue's chunks."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag.errors import StoreError

_PARTS = re.compile(r"[.\-]")
_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
# A short English stoplist: BM25 gains little from function words and they cost time. The
# question words (what, how, does, ...) are in it because a question is made of them and
# abstracts are not: "What does FDEN do?" gave "what", "doe", "do" the weight to put the
# titles "What Do Single-view 3D Reconstruction Networks Learn?" and "Zoom is what you need"
# beside the one paper saying FDEN (see rag/retrieve.py for what it changed, measured).
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their "
    "this to was we were which with our these those can also than via "
    "what how why when where who whom whose does do did".split()
)


def _load_stemmer() -> Callable[[list[str]], list[str]] | None:
    try:
        import Stemmer  # PyStemmer: the Snowball stemmers in C, what bm25s itself uses
    except ImportError:  # pragma: no cover (a dependency; a missing wheel costs only stemming)
        return None
    return Stemmer.Stemmer("english").stemWords


_STEM = _load_stemmer()
# Saved with the index: an index built by another tokenizer is rebuilt, never queried with
# tokens it does not hold ("quantiz" against "quantization").
TOKENIZER = "words+parts+snowball-en/2" if _STEM else "words+parts/2"


def tokenize(text: str) -> list[str]:
    """Lowercased words without stopwords, compounds also as their parts, Snowball-stemmed.

    Measured with ``python -m eval.fusion_sweep`` (BM25 alone, nDCG@10 on the tune halves,
    unstemmed -> stemmed -> stemmed with parts): SciFact train odd ids 0.647 -> 0.675 ->
    0.698; eval/dev.jsonl odd lines 0.897 -> 0.907 -> 0.917; paraphrase 0.776 -> 0.825 ->
    0.788; acronym 0.984 throughout. Parts ("pre-trained" is also "pre", "trained") lose on
    paraphrases alone but win fused (0.932 -> 0.935 there, see rag/retrieve.py).
    """
    words = [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]
    out: list[str] = []
    for t in words:
        out.append(t)
        if "-" in t or "." in t:
            out.extend(p for p in _PARTS.split(t) if p and p not in _STOP)
    return _STEM(out) if _STEM else out


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
                "tokenizer": TOKENIZER,
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
            if meta.get("tokenizer") != TOKENIZER:
                return False
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
        """(library id, generation) of the saved index; (None, -1) when there is none, or
        when it was built by another tokenizer (so ``papers doctor --repair`` rebuilds it)."""
        try:
            meta = json.loads((self.folder / "ids.json").read_text())
            if meta.get("tokenizer") != TOKENIZER:
                return None, -1
            return meta.get("library_id"), int(meta["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, -1

    def saved_by_another_tokenizer(self) -> bool:
        """Whether a saved index exists but was built by another tokenizer (an older papers)."""
        try:
            meta = json.loads((self.folder / "ids.json").read_text())
        except (OSError, ValueError):
            return False
        return isinstance(meta, dict) and meta.get("tokenizer") != TOKENIZER

    def saved_ids(self) -> list[str] | None:
        """The chunk ids of the saved index, without loading it; None when there is none."""
        try:
            return list(json.loads((self.folder / "ids.json").read_text())["ids"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def idf(self, tokens: list[str]) -> dict[str, float]:
        """BM25's idf of each token over the indexed chunks; a token no chunk holds gets the
        highest idf there is (the library never uses that word: telling, not neutral)."""
        n = len(self._ids)
        if self._bm25 is None or not n:
            return {t: 0.0 for t in tokens}
        vocab, indptr = self._bm25.vocab_dict, self._bm25.scores["indptr"]
        out = {}
        for t in tokens:
            i = vocab.get(t)
            df = 0 if i is None else int(indptr[i + 1] - indptr[i])
            out[t] = math.log((n - df + 0.5) / (df + 0.5) + 1.0)
        return out

    def papers_holding(self, token: str) -> int:
        """How many papers hold ``token`` in some chunk (0 when the library never uses it)."""
        return len(self.papers_with(token))

    def papers_with(self, token: str) -> set[str]:
        """The ids of the papers holding ``token`` in some chunk."""
        if self._bm25 is None:
            return set()
        i = self._bm25.vocab_dict.get(token)
        if i is None:
            return set()
        indptr, docs = self._bm25.scores["indptr"], self._bm25.scores["indices"]
        return {self._paper_ids[d] for d in docs[indptr[i] : indptr[i + 1]]}

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
