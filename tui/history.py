"""Saved conversations: one SQLite file of chats and their turns."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag import Conversation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    conversation TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS turns (
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, idx)
);
CREATE TABLE IF NOT EXISTS prefs (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ChatSummary:
    """One saved chat as the chats list shows it."""

    chat_id: int
    title: str
    updated: float
    turns: int


class ChatHistory:
    """The saved chats at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(
            self.path, timeout=10, check_same_thread=False, isolation_level=None
        )
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def pref(self, key: str) -> Any:
        """A saved preference (JSON), or None if never saved or unreadable."""
        row = self.db.execute("SELECT value FROM prefs WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return None

    def set_pref(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO prefs (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def new_chat(self, title: str) -> int:
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO chats (title, created, updated) VALUES (?, ?, ?)", (title, now, now)
        )
        return int(cur.lastrowid)

    def save_turn(
        self, chat_id: int, question: str, answer: dict[str, Any], conversation: dict[str, Any]
    ) -> None:
        """Append a turn and store the conversation as it stands after it."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            (idx,) = self.db.execute(
                "SELECT COUNT(*) FROM turns WHERE chat_id = ?", (chat_id,)
            ).fetchone()
            self.db.execute(
                "INSERT INTO turns (chat_id, idx, question, answer, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (chat_id, idx, question, json.dumps(answer), now),
            )
            self.db.execute(
                "UPDATE chats SET conversation = ?, updated = ? WHERE id = ?",
                (json.dumps(conversation), now, chat_id),
            )

    def chats(self) -> list[ChatSummary]:
        """Every saved chat, the latest first."""
        rows = self.db.execute(
            "SELECT c.id, c.title, c.updated, COUNT(t.idx) FROM chats c "
            "LEFT JOIN turns t ON t.chat_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id DESC"
        ).fetchall()
        return [ChatSummary(int(i), t, u, int(n)) for i, t, u, n in rows]

    def conversation(self, chat_id: int) -> Conversation:
        row = self.db.execute("SELECT conversation FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise KeyError(chat_id)
        from rag import Conversation

        return Conversation.from_dict(json.loads(row[0] or "{}"))

    def title(self, chat_id: int) -> str:
        row = self.db.execute("SELECT title FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return row[0] if row else ""

    def rename(self, chat_id: int, title: str) -> None:
        self.db.execute("UPDATE chats SET title = ? WHERE id = ?", (title, chat_id))

    def delete(self, chat_id: int) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM turns WHERE chat_id = ?", (chat_id,))
            self.db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
