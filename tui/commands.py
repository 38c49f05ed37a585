"""Command-palette commands (ctrl+p): switch the model, filter by source page or year."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import PapersApp

# "year 2023", "years 2020-2024": the palette's one command that takes what was typed.
_YEAR_QUERY = re.compile(r"^\s*(?:filter\s*:?\s*)?years?\s*:?\s+(\S.*)$", re.I)

Command = tuple[str, str, Callable[[], object]]


def palette_commands(app: PapersApp) -> list[Command]:
    """(name, help, callback) for every fixed command the palette offers."""
    commands: list[Command] = [
        ("Settings: model and filters", "open the settings screen (f2)", app.action_settings),
        (
            "Filter: year…",
            "type `year 2023` or `year 2020-2024` here, or set it in settings",
            partial(app.action_settings, focus="#settings-years"),
        ),
        ("Filter: clear", "cite papers from the whole library again", app.clear_filters),
    ]
    current = app.backend_spec
    for spec in dict.fromkeys([*app.backends, current]):
        mark = " (in use)" if spec == current else ""
        commands.append(
            (f"Model: {spec}", f"answer with {spec}{mark}", partial(app.set_backend, spec))
        )
    for name, n in app.sources.items():
        commands.append(
            (
                f"Filter: source {name}",
                f"cite only the {n} paper{'s' * (n != 1)} from this page",
                partial(app.set_source, name),
            )
        )
    return commands


class PapersCommands(Provider):
    """The chat app's own commands, beside Textual's system commands."""

    async def discover(self) -> Hits:
        for name, help_text, callback in palette_commands(self.app):  # type: ignore[arg-type]
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        m = _YEAR_QUERY.match(query)
        if m:
            text = m.group(1).strip()
            yield Hit(
                1.0,
                f"Filter: year {text}",
                partial(self.app.set_years_text, text),  # type: ignore[attr-defined]
                help="cite only papers from these years",
            )
        matcher = self.matcher(query)
        for name, help_text, callback in palette_commands(self.app):  # type: ignore[arg-type]
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
