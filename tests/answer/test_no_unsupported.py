"""No sentence the check finds unsupported reaches the answer's text, its stream or the export.

A property test: a scripted model writes generated mixes of true sentences (from the cited
abstracts, rightly or wrongly numbered) and invented ones (cited or not), in any order; the
answer is checked against the real MiniLM support score, independently of the answer layer.
"""

from __future__ import annotations

import asyncio
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.answer import AnswerDone, TextDelta, astream_answer
from rag.citations import SUPPORT_THRESHOLD, UNSUPPORTED_MARK, support
from rag.conversation import Conversation
from rag.embedders import EmbeddingCache
from rag.llm.fake import ScriptedChat
from rag.settings import Settings
from rag.text import split_sentences, strip_markers
from tests.answer.conftest import hits_of
from tui.app import export_conversation

NAMES = ("AWQ", "PB-LLM", "PTQ1.61")
QUESTIONS = (
    "How does AWQ protect salient weights?",
    "Which papers binarize LLM weights?",
    "What bit-width does PTQ1.61 reach?",
    "Which papers quantize large language models?",
)
INVENTED = (
    "This method was first used to predict protein structures on quantum computers",
    "The authors report a 97.3% accuracy on the ImageNet sketch benchmark with no training",
    "It doubles battery life on smartphones by pruning the display driver",
    "The answer is that quantization decides which weights to protect",
    "Multimodal models reach 100% accuracy because they are more accurate than humans",
    "The results are shown in the table",
)


def _reply_parts(papers):
    true_sentences = [
        (s.rstrip("."), n)
        for n, name in enumerate(NAMES, start=1)
        for s in split_sentences(papers[name].abstract)[:3]
    ]
    part = st.one_of(
        st.tuples(st.sampled_from(true_sentences), st.sampled_from([None, 0, 1, 2, 3, 7])).map(
            lambda t: (t[0][0], t[0][1] if t[1] == 0 else t[1])
        ),
        st.tuples(st.sampled_from(INVENTED), st.sampled_from([None, 1, 2, 3, 9])),
    )
    return st.lists(part, min_size=1, max_size=6)


def _render(parts) -> str:
    return " ".join(f"{text} [{n}]." if n else f"{text}." for text, n in parts)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_unsupported_sentence_is_shown(papers, embedder, tmp_path_factory, data):
    parts = data.draw(_reply_parts(papers))
    question = data.draw(st.sampled_from(QUESTIONS))
    documents = data.draw(st.booleans())  # base model (quotes first) or chat model
    reply = _render(parts)
    hits = hits_of(papers, *NAMES)
    conversation = Conversation()
    chat = ScriptedChat(documents=documents).enqueue(reply)

    async def run():
        return [
            e
            async for e in astream_answer(
                question, hits, conversation=conversation, chat=chat,
                embedder=embedder, settings=Settings(),
            )
        ]  # fmt: skip

    events = asyncio.run(run())
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerDone)
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    numbered = {conversation.number_for(h.paper.paper_id): h.paper for h in hits}
    vectors = EmbeddingCache(embedder)

    if answer.declined:
        return
    assert streamed == answer.text
    assert UNSUPPORTED_MARK not in answer.text
    # Every unsupported sentence is absent from the text, the stream and the export.
    folder = tmp_path_factory.mktemp("export")
    md_path, _ = export_conversation(conversation, folder, 1)
    exported = md_path.read_text()
    for s in answer.sentences:
        if s.status == "unsupported" and strip_markers(s.text).strip():
            claim = strip_markers(s.text).strip()
            assert claim not in answer.text, f"unsupported shown: {s.text!r}"
            assert claim not in exported, f"unsupported exported: {s.text!r}"
    # Every sentence shown is supported by each paper it cites (the support score itself,
    # not the answer's bookkeeping), and cites at least one.
    for sentence in split_sentences(answer.text):
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
        assert numbers, f"uncited sentence shown: {sentence!r}"
        claim = strip_markers(sentence)
        for n in numbers:
            score, _ = support(claim, numbered[n], vectors)
            assert score >= SUPPORT_THRESHOLD, f"[{n}] does not support {sentence!r}"


def test_show_unsupported_keeps_them_marked(papers, embedder):
    reply = f"{INVENTED[0]} [1]. AWQ protects only 1% of salient weights [1]."
    chat = ScriptedChat().enqueue(reply)

    async def run():
        return [
            e
            async for e in astream_answer(
                QUESTIONS[0], hits_of(papers, *NAMES), conversation=Conversation(), chat=chat,
                embedder=embedder, settings=Settings(), show_unsupported=True,
            )
        ]  # fmt: skip

    answer = asyncio.run(run())[-1].answer
    assert answer.text.startswith(f"{UNSUPPORTED_MARK}{INVENTED[0]}")
    assert [s.status for s in answer.sentences][:2] == ["unsupported", "supported"]
