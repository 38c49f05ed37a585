"""`papers chat` starts the app in its own process; rag never imports tui or textual."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from rag import cli

RAG = Path(__file__).resolve().parents[2] / "rag"


def test_rag_imports_neither_tui_nor_textual():
    pattern = re.compile(r"^\s*(from|import)\s+(tui|eval|textual)\b", re.M)
    offenders = [str(p) for p in RAG.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_papers_chat_execs_the_tui_module(monkeypatch):
    calls = []

    def fake_execv(path, argv):
        calls.append((path, argv))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_execv)
    with pytest.raises(SystemExit):
        cli.main(["chat", "--store", "/tmp/lib", "--llm", "none"])
    assert calls == [
        (sys.executable, [sys.executable, "-m", "tui", "--store", "/tmp/lib", "--llm", "none"])
    ]


def test_the_first_screen_needs_no_rag_import():
    """rag (pydantic, numpy, chromadb) loads in the background: the app is usable sooner."""
    import subprocess

    code = "import sys, tui.app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rag'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
