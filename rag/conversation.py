"""A conversation: its turns and stable citation numbers, saving and restoring it, and
turning a follow-up question into a standalone one for retrieval (``rag.followup`` decides
which questions follow up)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rag.followup import anaphora, decide
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, iterate_async
from rag.prompts import CONDENSE_PROMPT
from rag.text import asked_part, content_words, strip_markers, with_context
from rag.types import Answer, Citation, Hit, Paper, Sentence, Timings

# What the decision searches with: the library's search, its k and filters bound.
Search = Callable[[str], list[Hit]]

__all__ = ["Conversation", "acondense_question", "condense_question", "is_followup"]


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
        sentences=[Sentence(**s) for s in d.get("sentences", [])],
        note=d.get("note", ""),
    )


def is_followup(question: str) -> bool:
    """True when words of ``question`` point back to an earlier turn ("it", "the second one").

    Only the words: :func:`acondense_question` given a ``search`` also decides from what the
    question finds on its own (see ``rag.followup``).
    """
    return anaphora(question) is not None


def _heuristic_condense(question: str, conversation: Conversation) -> str:
    previous_question, previous = conversation.turns[-1]
    topic = previous.standalone_question or previous_question
    # Only the previous question's own words: its appended context would snowball.
    topic = asked_part(topic)
    context = [" ".join(dict.fromkeys(content_words(topic)))]
    titles = [c.title for c in sorted(previous.citations, key=lambda c: c.n)]
    if not titles:
        # A declined turn has no sources but names its closest papers: still the topic.
        titles = [h.paper.title for h in previous.sources or previous.closest]
    context.extend(dict.fromkeys(titles[:2]))
    context = [c for c in context if c]
    return with_context(question, context)


def _condense_messages(question: str, conversation: Conversation) -> list[ChatMessage]:
    history = "\n".join(f"Q: {q}\nA: {strip_markers(a.text)}" for q, a in conversation.turns[-3:])
    return [ChatMessage("user", CONDENSE_PROMPT.format(history=history, question=question))]


def _clean_condensed(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line.strip("\"' ")


def _previous_papers(conversation: Conversation) -> list[Paper] | None:
    if not conversation.turns:
        return None
    last = conversation.turns[-1][1]
    return [h.paper for h in last.sources or last.closest]


async def acondense_question(
    question: str,
    conversation: Conversation,
    chat: ChatModel | None = None,
    *,
    search: Search | None = None,
) -> str:
    """The question to search: as asked when it is new, made standalone when it follows up.

    Whether it follows up is ``rag.followup.decide``: its pointing words, then (given
    ``search``) what it finds on its own. A follow-up is rewritten by a model that can
    condense (``ChatModel.can_condense``; not the embedded base model); otherwise the previous
    question's words and the titles of the papers it cited are appended.
    """
    import asyncio

    question = question.strip()
    previous = _previous_papers(conversation)
    if search is None or previous is None:
        decision = decide(question, previous)
    else:
        decision = await asyncio.to_thread(decide, question, previous, search)
    if not decision.followup:
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
    question: str,
    conversation: Conversation,
    chat: ChatModel | None = None,
    *,
    search: Search | None = None,
) -> str:
    """Sync twin of :func:`acondense_question`."""
    question = question.strip()
    if chat is None or not chat.can_condense:
        if not decide(question, _previous_papers(conversation), search).followup:
            return question
        return _heuristic_condense(question, conversation)

    async def one() -> AsyncIterator[str]:
        yield await acondense_question(question, conversation, chat, search=search)

    return next(iter(iterate_async(one())))
