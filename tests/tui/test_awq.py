"""The chat answers the acronym question the old dense-only floor declined, and its settings
toggle answers even when the relevance rule would decline.

A library of the whole seed page 003 (74 papers), not the shared ten-paper one: the rule's
fused-score signal is a z-score over the retrievers' pools, and ten papers cap it at 3 (the
AWQ question scores p=0.19 there against 0.78 with 74 papers), so a ten-paper library is not
what the rule was fitted on.
"""

from __future__ import annotations

import pytest

from rag.library import Library
from tests.conftest import seed_file
from tests.tui.conftest import script
from tests.tui.test_app import SIZE, ask, make_app, source_titles
from tui.widgets import AnswerView

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def page_library(tmp_path_factory, open_library) -> Library:
    lib = open_library(tmp_path_factory.mktemp("awq") / "store")
    assert lib.ingest([seed_file("003")]).added == 74
    return lib


@pytest.fixture
def library(page_library: Library) -> Library:
    page_library.__dict__["_chat_models"] = {}
    return page_library


AWQ = "How does AWQ decide which weights to protect?"
OFF = "How does AlphaFold predict protein structures from amino acid sequences?"


async def test_chat_answers_awq_with_its_paper(library, tmp_path):
    script(library, "AWQ protects the 1% of salient weights found from activations [1].")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, AWQ)
        assert source_titles(app)[1].startswith("AWQ: Activation-aware")
        answer = app.conversation.turns[-1][1]
        assert not answer.declined
        assert answer.citations[0].title.startswith("AWQ: Activation-aware")
        assert "[1]" in app.query_one(AnswerView).markdown.source


async def test_no_floor_choice_answers_an_off_corpus_question(library, tmp_path):
    script(library, "", "")
    app = make_app(library, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, app, OFF)
        declined = app.conversation.turns[-1][1]
        assert declined.declined and declined.closest and not source_titles(app)
        assert "(closest: " in app.query(AnswerView).last().markdown.source
        app.choices = app.choices.with_(no_floor=True)
        await ask(pilot, app, OFF)
        answered = app.conversation.turns[-1][1]
        assert answered.sources and answered.closest == []
