"""How long `papers chat` takes to become usable: process start to the focused question box.

    .venv/bin/python scripts/chat_launch_time.py --store STORE [--runs 5]

Each run is a fresh Python process that starts the app headless on STORE exactly as
``python -m tui`` would, and reports when the first screen is painted with the input
focused; the parent times it from just before spawning the process. Prints every run and
the median. "ready" is when the library is open and MiniLM is loaded (in the background).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(store: str, history: str) -> None:
    """Run the app headless; print one JSON line when interactive and one when ready."""
    from textual.widgets import Input

    import tui.app
    from tui.app import PapersApp

    class Timed(PapersApp):
        CSS_PATH = Path(tui.app.__file__).with_name("app.tcss")  # not relative to this script

        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(self._interactive)

        def _interactive(self) -> None:
            assert self.focused is self.query_one("#question", Input)
            print(json.dumps({"interactive_ms": self.interactive_ms}), flush=True)
            self.run_worker(self._ready_then_quit())

        async def _ready_then_quit(self) -> None:
            await self.ready.wait()
            print(json.dumps({"ready_ms": self.ready_ms}), flush=True)
            self.exit(0)

    Timed(store=store, llm="none", seeds=None, history_path=history).run(headless=True)


def one_run(store: str) -> tuple[float, float]:
    """(ms from spawn to interactive, ms from spawn to ready) for one fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--child", "--store", store]
        cmd += ["--history", str(Path(tmp) / "chats.sqlite")]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert proc.stdout is not None
        interactive = ready = None
        for line in proc.stdout:
            now = (time.perf_counter() - t0) * 1000
            if line.startswith("{"):
                key = next(iter(json.loads(line)))
                if key == "interactive_ms":
                    interactive = now
                elif key == "ready_ms":
                    ready = now
        if proc.wait() != 0 or interactive is None or ready is None:
            raise SystemExit(f"the app did not start (exit code {proc.returncode})")
        return interactive, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="a populated library (the seed store)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--history", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.store, args.history)
        return
    runs = [one_run(args.store) for _ in range(args.runs)]
    for i, (interactive, ready) in enumerate(runs, 1):
        print(f"run {i}: interactive {interactive:.0f} ms, ready {ready:.0f} ms")
    med_i = statistics.median(r[0] for r in runs)
    med_r = statistics.median(r[1] for r in runs)
    print(f"median of {len(runs)}: interactive {med_i:.0f} ms, ready {med_r:.0f} ms")


if __name__ == "__main__":
    main()
