"""Saved chats round-trip through SQLite."""

from rag.conversation import Conversation
from rag.types import Answer, Citation, Hit, Paper
from tui.history import ChatHistory


def _answer(q: str) -> Answer:
    paper = Paper("p1", "A paper", "An abstract. It says things.")
    return Answer(q, "It says things [1].", "It says things [1].",
                  [Citation(1, "p1", "A paper", "It says things.", 0.9, None, True)],
                  [Hit(paper, 0.5, ["It says things."])], "scripted", "scripted")  # fmt: skip


def test_save_reopen_rename_delete(tmp_path):
    conv = Conversation()
    conv.number_for("p1")
    a = _answer("what?")
    conv.add_turn("what?", a)
    h = ChatHistory(tmp_path / "chats.sqlite")
    cid = h.new_chat("what?")
    h.save_turn(cid, "what?", a.to_dict(), conv.to_dict())
    h.close()

    h = ChatHistory(tmp_path / "chats.sqlite")
    [summary] = h.chats()
    assert (summary.title, summary.turns) == ("what?", 1)
    again = h.conversation(cid)
    assert again.numbers == {"p1": 1}
    assert again.turns[0][1].sources[0].paper.abstract == "An abstract. It says things."
    h.rename(cid, "renamed")
    assert h.title(cid) == "renamed"
    h.delete(cid)
    assert h.chats() == []
