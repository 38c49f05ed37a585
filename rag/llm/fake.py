"""A scripted chat model for tests where the LLM is not what is being tested."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions


@dataclass
class ScriptedChat(ChatModel):
    """Replies with queued texts, in order, streamed word by word.

    ``enqueue("text [1].", ...)`` queues replies; a callable reply gets the messages.
    ``calls`` records every message list it was sent. ``documents=True`` makes it stand in
    for a base model that writes documents (see ``ChatModel.writes_documents``).
    """

    model: str = "scripted"
    window: int = 8192
    delay_s: float = 0.0
    documents: bool = False
    replies: list = field(default_factory=list)
    calls: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.backend = "scripted"

    def enqueue(self, *replies) -> ScriptedChat:
        self.replies.extend(replies)
        return self

    def context_window(self) -> int:
        return self.window

    def writes_documents(self) -> bool:
        return self.documents

    async def astream_chat(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        reply = self.replies.pop(0) if self.replies else "I cannot answer that from the library."
        if callable(reply):
            reply = reply(messages)
        words = reply.split(" ")
        for i, word in enumerate(words):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield word if i == 0 else " " + word
