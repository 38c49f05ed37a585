"""A conversation: its turns and stable citation numbers, saving and restoring it, and
turning a follow-up question into a standalone one for retrieval."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.prompts import CONDENSE_PROMPT
from rag.text import content_words, strip_markers
from rag.types import Answer, Citation, Hit, Paper, Timings

__all__ = ["Conversation", "acondense_question", "condense_question", "is_followup"]

_FOLLOWUP_PRONOUNS = frozenset({"it", "its", "they", "their", "them", "this", "that", "these",
                                "those", "he", "she", "his", "her"})  # fmt: skip
_FOLLOWUP_PHRASES = re.compile(
    r"\bthe (paper|papers|method|methods|approach|model|technique|authors|same|above)\b", re.I
)
# Questions with fewer content words than this are read as follow-ups in a conversation.
_FOLLOWUP_MAX_CONTENT_WORDS = 3


@dataclass
class Conversation:
    """The turns of one conversation and its citation numbers, stable across turns."""

    turns: list[tuple[str, Answer]] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def number_for(self, paper_id: str) -> int:
        """The paper's citation number, assigning the next free one on first sight."""
        if paper_id not in self.numbers:
            self.numbers[paper_id] = max(self.numbers.values(), default=0) + 1
        return self.numbers[paper_id]

    def add_turn(self, question: str, answer: Answer) -> None:
        self.turns.append((question, answer))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numbers": dict(self.numbers),
            "turns": [
                {"question": q, "answer": a.to_dict(), "abstracts": _abstracts(a)}
                for q, a in self.turns
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        turns = [(t["question"], _answer_from_dict(t["answer"], t.get("abstracts", {})))
                 for t in data.get("turns", [])]  # fmt: skip
        return cls(turns=turns, numbers={k: int(v) for k, v in data.get("numbers", {}).items()})


def _abstracts(answer: Answer) -> dict[str, str]:
    return {h.paper.paper_id: h.paper.abstract for h in answer.sources}


def _answer_from_dict(d: Mapping[str, Any], abstracts: Mapping[str, str]) -> Answer:
    timings = d.get("timings") or {}
    return Answer(
        question=d["question"],
        text=d["answer"],
        raw_text=d.get("raw_answer", d["answer"]),
        citations=[Citation(**c) for c in d.get("citations", [])],
        sources=[
            Hit(
                paper=Paper(
                    paper_id=s["paper_id"],
                    title=s["title"],
                    abstract=abstracts.get(s["paper_id"], ""),
                    sources=tuple(s.get("sources", ())),
                ),
                score=s.get("score", 0.0),
                chunks=list(s.get("chunks", [])),
                dense_rank=s.get("dense_rank"),
                bm25_rank=s.get("bm25_rank"),
                dense_score=s.get("dense_score"),
            )
            for s in d.get("sources", [])
        ],
        backend=d.get("backend", ""),
        model=d.get("model", ""),
        timings=Timings(
            retrieval_ms=timings.get("retrieval_ms", 0.0),
            first_token_ms=timings.get("first_token_ms"),
            total_ms=timings.get("total_ms", 0.0),
        ),
        declined=d.get("declined", False),
        standalone_question=d.get("standalone_question"),
    )


def is_followup(question: str) -> bool:
    words = re.findall(r"[a-z']+", question.lower())
    if any(w in _FOLLOWUP_PRONOUNS for w in words) or _FOLLOWUP_PHRASES.search(question):
        return True
    return len(content_words(question)) < _FOLLOWUP_MAX_CONTENT_WORDS


def _heuristic_condense(question: str, conversation: Conversation) -> str:
    previous_question, previous = conversation.turns[-1]
    topic = previous.standalone_question or previous_question
    # Only the previous question's own words: its appended context would snowball.
    topic = topic.split(" (context: ", 1)[0]
    context = [" ".join(dict.fromkeys(content_words(topic)))]
    titles = [c.title for c in sorted(previous.citations, key=lambda c: c.n)]
    if not titles:
        titles = [h.paper.title for h in previous.sources]
    context.extend(dict.fromkeys(titles[:2]))
    context = [c for c in context if c]
    return f"{question} (context: {'; '.join(context)})" if context else question


def _condense_messages(question: str, conversation: Conversation) -> list[ChatMessage]:
    history = "\n".join(f"Q: {q}\nA: {strip_markers(a.text)}" for q, a in conversation.turns[-3:])
    return [ChatMessage("user", CONDENSE_PROMPT.format(history=history, question=question))]


def _clean_condensed(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line.strip("\"' ")


async def acondense_question(
    question: str, conversation: Conversation, chat: ChatModel | None = None
) -> str:
    """A follow-up question made standalone, for retrieval.

    Without a model, or with one that cannot condense (``ChatModel.can_condense``: the
    embedded base model), the previous question's words and the titles of the papers it
    cited are appended to a question that looks like a follow-up. Other models are asked
    to rewrite it.
    """
    question = question.strip()
    if not conversation.turns or not is_followup(question):
        return question
    if chat is not None and chat.can_condense:
        options = GenerationOptions(max_tokens=64, temperature=0.0, stop=("\n",))
        parts = [
            p async for p in chat.astream_chat(_condense_messages(question, conversation), options)
        ]
        rewritten = _clean_condensed("".join(parts))
        if 3 <= len(rewritten) <= 400:
            return rewritten
    return _heuristic_condense(question, conversation)


def condense_question(
    question: str, conversation: Conversation, chat: ChatModel | None = None
) -> str:
    """Sync twin of :func:`acondense_question`."""
    question = question.strip()
    if not conversation.turns or not is_followup(question):
        return question
    if chat is None or not chat.can_condense:
        return _heuristic_condense(question, conversation)

    async def one() -> AsyncIterator[str]:
        yield await acondense_question(question, conversation, chat)

    return next(iter(iterate_async(one())))
