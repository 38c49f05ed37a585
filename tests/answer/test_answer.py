"""Answering: event order, numbering across turns, follow-ups, declining, extractive
answers, prompt budgeting and references."""

from __future__ import annotations

import re

import pytest

from rag.answer import (
    AnswerDone,
    SourcesReady,
    TextDelta,
    answer,
    astream_answer,
    select_evidence,
)
from rag.conversation import Conversation, condense_question
from rag.llm.fake import ScriptedChat
from rag.prompts import NOT_IN_LIBRARY
from rag.references import references_bibtex, references_markdown
from rag.settings import Settings
from rag.text import split_sentences
from rag.types import Paper
from tests.answer.conftest import hits_of

MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture
def settings() -> Settings:
    return Settings()


async def collect(question, hits, **kwargs):
    return [event async for event in astream_answer(question, hits, **kwargs)]


async def test_sources_come_first_and_deltas_join_to_the_checked_text(papers, embedder, settings):
    reply = (
        "AWQ does not need backpropagation or reconstruction [1]. "
        "AWQ outperforms existing work on language modeling and domain-specific benchmarks [1]."
    )
    chat = ScriptedChat().enqueue(reply)
    hits = hits_of(papers, "AWQ", "PB-LLM")
    events = await collect(
        "Does AWQ need backpropagation?",
        hits,
        conversation=Conversation(),
        chat=chat,
        embedder=embedder,
        settings=settings,
        retrieval_ms=12.5,
    )
    assert isinstance(events[0], SourcesReady)
    assert events[0].numbers == {hits[0].paper.paper_id: 1, hits[1].paper.paper_id: 2}
    assert isinstance(events[-1], AnswerDone)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    # Checked sentence by sentence: each streams once the next one has begun.
    assert len(deltas) == 2
    done = events[-1].answer
    assert "".join(deltas) == done.text == reply == done.raw_text
    assert [s.status for s in done.sentences] == ["supported", "supported"]
    assert [c.paper_id for c in done.citations] == [hits[0].paper.paper_id]
    assert done.backend == "scripted" and done.model == "scripted"
    assert done.timings.retrieval_ms == 12.5
    assert done.timings.first_token_ms is not None
    assert done.timings.total_ms >= 12.5
    # The prompt: numbered excerpts with titles, the labels the embedded model expects.
    user = chat.calls[0][-1].content
    assert user.startswith("Excerpts:\n[1] Title: AWQ")
    assert "\n\n[2] Title: PB-LLM" in user
    assert user.endswith("Question: Does AWQ need backpropagation?")


async def test_invented_followup_question_is_cut(papers, embedder, settings):
    # Only a model that writes documents (the embedded base model) invents the next question.
    chat = ScriptedChat(documents=True).enqueue(
        "AWQ does not need backpropagation or reconstruction [1]. "
        "AWQ does not need backpropagation or reconstruction [1].\nQuestion: What is PB-LLM?"
    )
    events = await collect(
        "Does AWQ need backpropagation?",
        hits_of(papers, "AWQ"),
        conversation=Conversation(),
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    done = events[-1].answer
    assert "Question" not in done.raw_text and "Question" not in done.text
    # A base model's checked sentence follows the quotes (ChatModel.quotes_first), once.
    claim = "AWQ does not need backpropagation or reconstruction [1]."
    assert done.text.endswith(claim) and done.text.count(claim) == 1
    assert done.sentences[0].origin == "abstract" and done.sentences[-1].origin == "model"


async def test_numbers_are_stable_across_turns(papers, embedder, settings):
    conversation = Conversation()
    chat = ScriptedChat().enqueue(
        "PB-LLM keeps a small fraction of salient weights in higher precision [2].",
        "PB-LLM keeps a small fraction of salient weights in higher precision [2].",
    )
    first = await collect(
        "How does PB-LLM binarize?",
        hits_of(papers, "AWQ", "PB-LLM"),
        conversation=conversation,
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    assert [c.n for c in first[-1].answer.citations] == [2]
    # Turn two retrieves PB-LLM first and a new paper: PB-LLM is still [2], the new one [3].
    second = await collect(
        "What about its salient weights?",
        hits_of(papers, "PB-LLM", "PTQ1.61", "AWQ"),
        conversation=conversation,
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    numbers = second[0].numbers
    assert numbers[papers["PB-LLM"].paper_id] == 2
    assert numbers[papers["AWQ"].paper_id] == 1
    assert numbers[papers["PTQ1.61"].paper_id] == 3
    assert "[2] Title: PB-LLM" in chat.calls[1][-1].content
    done = second[-1].answer
    # The model's sentence cites PB-LLM as [2]; quotes it did not carry keep their numbers.
    assert (2, papers["PB-LLM"].paper_id) in [(c.n, c.paper_id) for c in done.citations]
    assert {(c.n, c.paper_id) for c in done.citations} <= {(n, p) for p, n in numbers.items()}
    assert len(conversation.turns) == 2
    # The conversation survives a round trip through a dict (e.g. JSON on disk).
    restored = Conversation.from_dict(conversation.to_dict())
    assert restored.numbers == conversation.numbers
    assert restored.turns[1][1].text == done.text
    assert restored.number_for("t:new") == 4


def test_followup_is_condensed_with_the_previous_topic(papers, embedder, settings):
    conversation = Conversation()
    chat = ScriptedChat().enqueue("AWQ does not need backpropagation or reconstruction [1].")
    answer(
        "How does activation-aware weight quantization work?",
        hits_of(papers, "AWQ"),
        conversation=conversation,
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    standalone = condense_question("What speedup does it get?", conversation, None)
    assert standalone.startswith("What speedup does it get?")
    assert "activation" in standalone and "quantization" in standalone
    assert papers["AWQ"].title in standalone
    # A full new question is left alone, and so is any question in a new conversation.
    new = "Which methods binarize large language model weights to one bit?"
    assert condense_question(new, conversation, None) == new
    assert condense_question("What speedup does it get?", Conversation(), None) == (
        "What speedup does it get?"
    )


def test_followup_is_condensed_by_a_capable_model(papers, embedder, settings):
    conversation = Conversation()
    answer(
        "How does activation-aware weight quantization work?",
        hits_of(papers, "AWQ"),
        conversation=conversation,
        chat=None,
        embedder=embedder,
        settings=settings,
    )
    chat = ScriptedChat().enqueue("What speedup does AWQ get over GPTQ?")
    assert condense_question("What speedup does it get?", conversation, chat) == (
        "What speedup does AWQ get over GPTQ?"
    )
    assert "Follow-up question: What speedup does it get?" in chat.calls[0][0].content


async def test_no_hits_declines_without_calling_the_model(embedder, settings):
    chat = ScriptedChat()
    conversation = Conversation()
    events = await collect(
        "What is the airspeed of a swallow?",
        [],
        conversation=conversation,
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    assert isinstance(events[0], SourcesReady) and events[0].hits == []
    assert [e.text for e in events if isinstance(e, TextDelta)] == [NOT_IN_LIBRARY]
    done = events[-1].answer
    assert done.declined and done.text == NOT_IN_LIBRARY and done.citations == []
    assert chat.calls == []
    assert len(conversation.turns) == 1


async def test_extractive_answer_cites_every_sentence(papers, embedder, settings):
    hits = hits_of(papers, "AWQ", "PB-LLM", "AdamP")
    events = await collect(
        "What speedup does AWQ get over GPTQ?",
        hits,
        conversation=Conversation(),
        chat=None,
        embedder=embedder,
        settings=settings,
    )
    done = events[-1].answer
    assert done.backend == "extractive" and done.model == "extractive"
    assert not done.declined
    sentences = split_sentences(done.text)
    assert 2 <= len(sentences) <= 4
    assert all(MARKER.search(s) for s in sentences)
    assert "1.45x speedup over GPTQ" in done.text
    assert {c.n for c in done.citations} == {int(n) for n in MARKER.findall(done.text)}
    # Deterministic.
    again = await collect(
        "What speedup does AWQ get over GPTQ?",
        hits,
        conversation=Conversation(),
        chat=None,
        embedder=embedder,
        settings=settings,
    )
    assert again[-1].answer.text == done.text


def test_evidence_keeps_the_title_and_the_relevant_sentences(papers, embedder):
    evidence = select_evidence(
        "What speedup does AWQ get over GPTQ?", hits_of(papers, "AWQ", "AdamP"), embedder
    )
    assert [e.title for e in evidence] == [papers["AWQ"].title, papers["AdamP"].title]
    assert any("1.45x" in s for s in evidence[0].sentences)
    assert all(len(e.sentences) == 2 == len(e.scores) for e in evidence)


async def test_prompt_is_budgeted_to_a_small_window(papers, embedder, settings):
    chat = ScriptedChat(window=600).enqueue("AWQ does not need backpropagation [1].")
    hits = hits_of(papers, "AWQ", "PB-LLM", "PTQ1.61", "AdamP")
    await collect(
        "Which quantization methods protect salient weights?",
        hits,
        conversation=Conversation(),
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    messages = chat.calls[0]
    used = sum(chat.count_tokens(m.content) + 8 for m in messages)
    assert used + settings.llm.max_answer_tokens <= 600
    assert "[1] Title: AWQ" in messages[-1].content
    assert "[4] Title: AdamP" not in messages[-1].content


def test_references_markdown_and_bibtex(papers, embedder, settings):
    done = answer(
        "What speedup does AWQ get over GPTQ?",
        hits_of(papers, "AWQ"),
        conversation=Conversation(),
        chat=None,
        embedder=embedder,
        settings=settings,
    )
    md = references_markdown(done)
    assert md.startswith("1. AWQ: Activation-aware Weight Quantization")
    assert f"(`{papers['AWQ'].paper_id}`)" in md

    paper = Paper(
        "arxiv:2306.00978",
        "AWQ: {Activation}-aware & 100% fast_quant",
        "",
        authors=("Ji Lin", "Jiaming Tang"),
        year=2023,
        arxiv_id="2306.00978",
    )
    plain = Paper("t:abc", "The Weight Compander", "", year=2021)
    bib = references_bibtex([paper, plain, plain])
    assert "@misc{lin2023awq," in bib
    assert r"\{Activation\}-aware \& 100\% fast\_quant" in bib
    assert "author = {Ji Lin and Jiaming Tang}" in bib
    assert "eprint = {2306.00978}" in bib
    assert "url = {https://arxiv.org/abs/2306.00978}" in bib
    assert "@misc{weight2021," in bib and "@misc{weight2021a," in bib
    assert bib.count("{") == bib.count("}") + bib.count(r"\{") - bib.count(r"\}")


@pytest.mark.slow
def test_real_embedded_model_answers_with_valid_citations(papers, embedder, settings):
    from rag.llm.embedded import EmbeddedChat

    chat = EmbeddedChat()
    hits = hits_of(papers, "AWQ", "PB-LLM", "PTQ1.61")
    done = answer(
        "How does AWQ decide which weights to protect during quantization?",
        hits,
        conversation=Conversation(),
        chat=chat,
        embedder=embedder,
        settings=settings,
    )
    assert done.backend == "embedded"
    assert done.raw_text
    listed = {c.n for c in done.citations}
    assert {int(n) for n in MARKER.findall(done.text)} <= listed
    hit_ids = {h.paper.paper_id for h in hits}
    assert all(c.paper_id in hit_ids for c in done.citations)
    print(done.raw_text, "\n---\n", done.text, done.timings)
