"""rag is the core: it never imports the chat app, the eval package or textual."""

import ast
import subprocess
import sys
from pathlib import Path

RAG = Path(__file__).resolve().parents[1] / "rag"


def test_rag_source_imports_no_front_end():
    bad = []
    for path in RAG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"tui", "eval", "textual"}]
    assert not bad, bad


def test_importing_rag_is_light():
    # Nothing heavy at import time: no torch, chromadb, llama_cpp or textual.
    code = (
        "import sys, rag; heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'textual',"
        " 'sentence_transformers') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
