"""Widgets of the chat app."""

from tui.widgets.messages import AnswerView, QuestionView
from tui.widgets.sources import SourceItem, SourcesPanel

__all__ = ["AnswerView", "QuestionView", "SourceItem", "SourcesPanel"]
