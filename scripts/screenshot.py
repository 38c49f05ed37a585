"""The README screenshot: a real answer with citations on the seed corpus, as SVG and PNG.

    .venv/bin/python scripts/screenshot.py --store STORE [--llm embedded] [--out docs/chat]

Asks QUESTION through the chat app (headless, 120x34), saves ``OUT.svg`` with Textual and
converts it to ``OUT.png`` with ``rsvg-convert`` (Debian: ``apt-get install librsvg2-bin``).
Prints the answer, so the caption can say what the model wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

QUESTION = "What does AWQ protect when it quantizes LLM weights, and how?"
SIZE = (120, 34)


async def shoot(store: str, llm: str, question: str, out: Path) -> None:
    from textual.widgets import Input

    from tui.app import PapersApp
    from tui.widgets import AnswerView

    with tempfile.TemporaryDirectory() as tmp:
        app = PapersApp(store=store, llm=llm, seeds=None, history_path=Path(tmp) / "chats.sqlite")
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            box = app.query_one("#question", Input)
            box.cursor_blink = False
            box.value = question
            await pilot.press("enter")
            while not app.query(AnswerView) or app.query_one(AnswerView).busy:
                await asyncio.sleep(0.05)
            await pilot.pause(0.5)
            answer = app.conversation.turns[-1][1]
            print(f"{answer.backend}:{answer.model}\n{answer.text}")
            out.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=out.name + ".svg", path=str(out.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="the seed store")
    parser.add_argument("--llm", default="embedded", help="embedded (default), none, ollama:x")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--out", default="docs/chat", help="path without extension")
    args = parser.parse_args()
    out = Path(args.out)
    asyncio.run(shoot(args.store, args.llm, args.question, out))
    svg, png = out.with_suffix(".svg"), out.with_suffix(".png")
    if shutil.which("rsvg-convert") is None:
        raise SystemExit(f"wrote {svg}; install librsvg2-bin for rsvg-convert to make the PNG")
    subprocess.run(["rsvg-convert", "--zoom", "1.5", str(svg), "-o", str(png)], check=True)
    print(f"wrote {svg} and {png}")


if __name__ == "__main__":
    main()
