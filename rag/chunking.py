"""Sentence-aware chunks of abstracts that fit the embedder's window, title included."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from rag.types import Chunk, Paper

# Between title and text in what is embedded; counts toward the window.
_TITLE_SEP = "\n"


class Chunker:
    """Packs an abstract's sentences into even chunks that fit the embedder's window.

    Sentences come from llama-index's sentence tokenizer (the one its ``SentenceSplitter``
    uses). We pack them ourselves instead of calling ``SentenceSplitter.split_text``:
    measured on the seed corpus, the splitter re-tokenises every candidate split and took
    12 s for 808 abstracts, against well under 1 s for tokenising each sentence once here;
    and it fills chunks greedily, leaving a 254-token chunk followed by a 40-token scrap,
    where even chunks retrieve better. Each chunk carries the paper's title, and the budget
    for its text is the window minus the title, so nothing is silently truncated.
    """

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        *,
        max_tokens: int,
        overlap_tokens: int = 24,
        count_many: Callable[[list[str]], list[int]] | None = None,
    ) -> None:
        self.count_tokens = count_tokens
        self.count_many = count_many or (lambda texts: [count_tokens(t) for t in texts])
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self._sentences: Callable[[str], list[str]] | None = None

    def sentences(self, text: str) -> list[str]:
        if self._sentences is None:
            from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

            self._sentences = split_by_sentence_tokenizer()
        return [s.strip() for s in self._sentences(text) if s.strip()]

    def chunk(self, paper: Paper) -> list[Chunk]:
        title = self._fit_title(paper.title)
        budget = self.max_tokens - self.count_tokens(title + _TITLE_SEP)
        sents = self.sentences(paper.abstract) or [paper.abstract]
        counts = self.count_many(sents)
        # A "sentence" longer than the budget (a formula, a list) is cut by words.
        pieces: list[tuple[str, int]] = []
        for sent, n in zip(sents, counts, strict=True):
            if n <= budget:
                pieces.append((sent, n))
            else:
                pieces.extend((w, self.count_tokens(w)) for w in self._cut_words(sent, budget))
        total = sum(n for _, n in pieces)
        target = math.ceil(total / max(1, math.ceil(total / budget)))
        groups: list[list[tuple[str, int]]] = [[]]
        for piece in pieces:
            size = sum(n for _, n in groups[-1])
            if groups[-1] and (size + piece[1] > budget or size >= target):
                prev = groups[-1][-1]
                carry = (
                    [prev]
                    if prev[1] <= self.overlap_tokens and prev[1] + piece[1] <= budget
                    else []
                )
                groups.append(carry)
            groups[-1].append(piece)
        texts = [" ".join(s for s, _ in g) for g in groups if g]
        embed_texts = [f"{title}{_TITLE_SEP}{t}" for t in texts]
        n_tokens = self.count_many(embed_texts)
        digest = content_hash(paper)[:8]
        return [
            Chunk(
                chunk_id=f"{paper.paper_id}#{digest}#{i}",
                paper_id=paper.paper_id,
                index=i,
                text=text,
                embed_text=et,
                n_tokens=n,
            )
            for i, (text, et, n) in enumerate(zip(texts, embed_texts, n_tokens, strict=True))
        ]

    def _fit_title(self, title: str) -> str:
        # A title longer than half the window is cut so the abstract still has room.
        words = title.split()
        while (
            len(words) > 1
            and self.count_tokens(" ".join(words) + _TITLE_SEP) > self.max_tokens // 2
        ):
            words.pop()
        return " ".join(words)

    def _cut_words(self, text: str, budget: int) -> list[str]:
        out: list[str] = []
        current: list[str] = []
        for word in text.split():
            if current and self.count_tokens(" ".join([*current, word])) > budget:
                out.append(" ".join(current))
                current = []
            current.append(word)
        if current:
            out.append(" ".join(current))
        return out


def content_hash(paper: Paper) -> str:
    """What decides whether a paper's chunks must be rebuilt: its title and abstract."""
    return hashlib.sha1(f"{paper.title}\x1f{paper.abstract}".encode()).hexdigest()
