"""What the answer layer makes of unusual model replies: a chat model's "Answer:" label is a
label, a document model's invented "Question:" is cut, and a reply that leaves nothing is
never passed off as "the library has no papers"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.answer import astream_answer, clean_model_text, strip_answer_label, why_unusable
from rag.conversation import Conversation
from rag.llm.fake import ScriptedChat
from rag.prompts import NOT_IN_LIBRARY
from rag.settings import Settings
from rag.types import Answer
from tests.answer.conftest import hits_of

MARKER = re.compile(r"\[(\d+)\]")
QUESTION = "Does AWQ need backpropagation?"
CLAIM = "AWQ does not need backpropagation or reconstruction [1]."
UNUSABLE = "The model's reply could not be used"
QUOTES_ONLY = "The model added nothing the abstracts support ({why})"


async def ask(papers, embedder, reply: str, *, documents: bool = False, **kw) -> Answer:
    chat = ScriptedChat(documents=documents).enqueue(reply)
    events = [
        e
        async for e in astream_answer(
            kw.pop("question", QUESTION),
            hits_of(papers, *kw.pop("names", ("AWQ", "PB-LLM"))),
            conversation=Conversation(),
            chat=chat,
            embedder=embedder,
            settings=Settings(),
        )
    ]
    return events[-1].answer


# --- a chat model's reply is its answer, label or not ------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        f"Answer: {CLAIM}",
        f"Excerpts: {CLAIM}",
        f"**Answer:** {CLAIM}",
        f"Answer:\n{CLAIM}",
        f"Question: {QUESTION}\nAnswer: {CLAIM}",
    ],
)
async def test_a_chat_reply_beginning_with_a_label_is_kept(papers, embedder, reply):
    done = await ask(papers, embedder, reply)
    assert not done.declined
    assert done.text == CLAIM
    assert done.raw_text == reply
    assert [c.n for c in done.citations] == [1]


async def test_a_chat_reply_keeps_a_later_answer_or_question_label(papers, embedder):
    reply = f"{CLAIM} Question: is it fast? Answer: yes."
    assert clean_model_text(reply, document=False) == reply
    done = await ask(papers, embedder, reply)
    assert not done.declined and done.text.startswith(CLAIM)


def test_label_stripping_leaves_ordinary_openings_alone():
    for text in ("Answering needs no labels [1].", "Answers vary [2].", "AWQ: protects [1]."):
        assert strip_answer_label(text) == text


# --- a document model's invented continuation is cut -------------------------------------


async def test_a_document_model_is_cut_where_it_invents_the_next_question(papers, embedder):
    done = await ask(papers, embedder, f"{CLAIM}\nQuestion: What is PB-LLM?", documents=True)
    assert done.text.endswith(CLAIM) and "Question" not in done.raw_text + done.text


# --- a reply that leaves nothing is said so, with the abstracts' own words ----------------


@pytest.mark.parametrize(
    ("reply", "documents", "why"),
    [
        ("", False, "it was empty"),
        ("  \n ", False, "it was empty"),
        ("[1] [2].", False, "it held only citation numbers"),
        ("...", False, "it held no words"),
        # A document model is read only up to its invented label: the reason quotes that much.
        ("Answer: Question: What is PB-LLM?", True, "it held no answer, only 'Answer:'"),
    ],
)
async def test_a_reply_that_leaves_nothing_gets_the_extractive_answer_and_why(
    papers, embedder, reply, documents, why
):
    done = await ask(papers, embedder, reply, documents=documents)
    assert not done.declined
    assert done.text != NOT_IN_LIBRARY and NOT_IN_LIBRARY not in done.text
    # The reason is the answer's note, not a sentence of it: the text is only checked quotes.
    note, body = done.note, done.text
    # A base model (documents=True) shows the quotes first, so its note says it added nothing.
    lead = QUOTES_ONLY.split(" (")[0] if documents else UNUSABLE
    assert note.startswith(f"{lead} ({why}") and "\n" not in note
    assert {s.origin for s in done.sentences if s.status != "unsupported"} == {"abstract"}
    # The abstract sentences, each cited, and every marker a listed citation.
    assert MARKER.search(body) and "backpropagation" in body
    assert {int(n) for n in MARKER.findall(body)} == {c.n for c in done.citations}
    assert done.raw_text == ("" if documents else reply)


async def test_nothing_left_and_nothing_to_quote_is_one_line_reason(papers, embedder):
    done = await ask(
        papers,
        embedder,
        "[1]",
        question="What is the airspeed velocity of an unladen swallow?",
        names=("AdamP",),
    )
    assert done.declined and done.citations == []
    assert done.text.startswith(f"{UNUSABLE} (it held only citation numbers)")
    assert "\n" not in done.text and NOT_IN_LIBRARY not in done.text


async def test_a_model_that_says_it_cannot_answer_is_overruled_by_quotable_evidence(
    papers, embedder
):
    # Whether to decline is the retrieval's call: an abstract sentence close enough to quote
    # is shown (an empty answer is worse than a quoted abstract), and the note says why.
    done = await ask(papers, embedder, f"Answer: {NOT_IN_LIBRARY}")
    assert not done.declined and "backpropagation" in done.text
    assert done.note.startswith(f"{UNUSABLE} (the model found no answer")


async def test_a_model_that_says_it_cannot_answer_declines_with_nothing_to_quote(papers, embedder):
    done = await ask(
        papers,
        embedder,
        NOT_IN_LIBRARY,
        question="What is the airspeed velocity of an unladen swallow?",
        names=("AdamP",),
    )
    assert done.declined and done.text == NOT_IN_LIBRARY


def test_why_unusable_quotes_a_long_reply_briefly():
    why = why_unusable("Question: " + "word " * 40)
    assert why.startswith("it held no answer, only 'Question: word") and len(why) < 80


def test_the_answer_layer_names_no_backend():
    # Behaviour hangs on ChatModel capabilities (writes_documents), never on backend names.
    source = (Path(__file__).parents[2] / "rag" / "answer.py").read_text()
    assert "backend ==" not in source
    assert not re.search(r"""["'](?:ollama|embedded)["']""", source)
