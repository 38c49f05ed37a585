"""The `papers chat` terminal app: ask the library questions, read the cited abstracts."""

__all__ = ["run", "main"]


def run(store: str | None = None, llm: str | None = None, **kwargs) -> int:
    """Run the chat app (see :func:`tui.app.run`)."""
    from tui.app import run as _run

    return _run(store=store, llm=llm, **kwargs)


def main(argv: list[str] | None = None) -> int:
    from tui.app import main as _main

    return _main(argv)
