"""The check on a streaming reply: each sentence is checked as soon as it is complete,
so only checked sentences are ever shown."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rag.citations import check_sentences
from rag.embedders import EmbeddingCache, TextEmbedder
from rag.model_text import cut_invented, sentence_key, strip_answer_label, unloop
from rag.prompts import NOT_IN_LIBRARY
from rag.text import content_words, figures, sentence_spans, strip_markers
from rag.types import UNSUPPORTED, Paper, Sentence

__all__ = ["SentenceGate", "numbers_in"]


numbers_in = figures
_WORD = re.compile(r"\w")


class SentenceGate:
    """Checks a streaming reply sentence by sentence, so that only checked sentences are
    ever shown: a sentence is checked once the next one has begun (or the reply ended).

    Incremental: each call looks only at the text after the last complete sentence, so a
    long reply costs linear time (re-cleaning the whole reply per token was quadratic: a
    270 kB reply took minutes).
    """

    def __init__(
        self,
        numbered: Mapping[int, Paper],
        embedder: TextEmbedder,
        vectors: EmbeddingCache,
        *,
        document: bool,
    ) -> None:
        self.numbered, self.embedder, self.vectors = numbered, embedder, vectors
        self.document = document
        self.sentences: list[Sentence] = []
        self.declined = False
        self._pos = 0  # where the text not yet checked starts in the raw reply
        self._seen: set[str] = set()  # repeated sentences are dropped (clean_model_text)
        self._quoted: list[tuple[set[str], set[str]]] = []  # (words, figures) shown already

    def already_shown(self, quotes: Sequence[str]) -> None:
        """Sentences shown before the model's (quotes): a model sentence that only repeats
        one of them (its words nearly all there, no figure of its own) is dropped."""
        self._quoted = [(set(content_words(q)), numbers_in(q)) for q in quotes]

    def _repeats_a_quote(self, sentence: str) -> bool:
        words = set(content_words(strip_markers(sentence)))
        figures = numbers_in(sentence)
        return bool(words) and any(
            len(words & qw) >= 0.8 * len(words) and figures <= qf for qw, qf in self._quoted
        )

    def feed(self, raw: str, *, final: bool = False) -> list[Sentence]:
        text = cut_invented(raw) if self.document else raw
        start = self._pos
        if start == 0 and not self.document:
            # A chat model's leading "Answer:" label; the label is whole by the time the
            # first sentence is (the next one has begun).
            start = len(text) - len(strip_answer_label(text))
        pending = text[start:]
        spans = sentence_spans(pending)
        complete = spans if final else spans[:-1]
        new: list[Sentence] = []
        for a, b in complete:
            sentence = unloop(pending[a:b])
            key = sentence_key(sentence)
            if (
                key in self._seen
                or not _WORD.search(strip_markers(sentence))  # "[3] [4] [" is not a sentence
                or self._repeats_a_quote(sentence)
            ):
                continue
            self._seen.add(key)
            lead = " " if self.sentences or new else ""
            if NOT_IN_LIBRARY.lower().rstrip(".") in sentence.lower():
                # The model's "no papers" is not a claim; whether to decline is the
                # retrieval's call (see astream_answer).
                self.declined = True
                new.append(Sentence(sentence, UNSUPPORTED, lead=lead))
                continue
            checked = check_sentences(sentence, self.numbered, self.embedder, cache=self.vectors)
            if checked:
                checked[0].lead = lead
            new.extend(checked)
        if complete:
            self._pos = start + complete[-1][1]
        self.sentences.extend(new)
        return new
