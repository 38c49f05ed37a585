"""Screens of the chat app."""

from tui.screens.chats import ChatsScreen
from tui.screens.help import HelpScreen
from tui.screens.ingest import IngestScreen
from tui.screens.paper import PaperScreen
from tui.screens.settings import SettingsScreen

__all__ = ["ChatsScreen", "HelpScreen", "IngestScreen", "PaperScreen", "SettingsScreen"]
