"""Front-ends stand on rag's public API: the chat, the CLI and the eval import what they
need from ``rag`` itself, and every such name is exported and resolves."""

from __future__ import annotations

import ast
from pathlib import Path

import rag

ROOT = Path(__file__).resolve().parents[1]
# The speed benchmark times the store's parts one by one (Chroma alone, BM25 alone at 1M
# chunks), so it may import rag's modules, though never a private name from them.
MAY_REACH_IN = {ROOT / "eval" / "bench.py"}


def _front_end_files() -> list[Path]:
    return [
        *sorted((ROOT / "tui").rglob("*.py")),
        *sorted((ROOT / "eval").rglob("*.py")),
        ROOT / "rag" / "cli.py",
    ]


def _rag_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of rag in ``path``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "rag":
                found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rag":
                    found.append((node.lineno, alias.name, []))
    return found


def test_front_ends_import_only_rags_public_names():
    bad = []
    for path in _front_end_files():
        where = path.relative_to(ROOT)
        for line, module, names in _rag_imports(path):
            if path in MAY_REACH_IN:
                bad += [f"{where}:{line}: {module}.{n}" for n in names if n.startswith("_")]
            elif module != "rag":
                bad.append(f"{where}:{line}: imports {module}; import from rag instead")
    assert not bad, "\n".join(bad)


def test_every_name_front_ends_use_is_exported_and_resolves():
    used = {
        n
        for path in _front_end_files()
        if path not in MAY_REACH_IN
        for _, module, names in _rag_imports(path)
        if module == "rag"
        for n in names
    }
    assert used, "the front-ends were not found"
    missing = sorted(n for n in used if n not in rag.__all__)
    assert not missing, f"used by a front-end but not in rag.__all__: {missing}"
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name


def test_the_check_sees_a_reach_in(tmp_path):
    # The rule above must be able to fail: a private import is found.
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from rag.answer import cut_invented\n")
    assert _rag_imports(sample) == [(2, "rag.answer", ["cut_invented"])]
