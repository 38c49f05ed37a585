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
            bad += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in {"tui", "eval", "textual"}
            ]
    assert not bad, bad


def test_importing_rag_is_light():
    # Nothing heavy at import time: no torch, chromadb, llama_cpp or textual.
    code = (
        "import sys, rag; heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'textual',"
        " 'sentence_transformers') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _module_name(path: Path) -> str:
    parts = path.relative_to(RAG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """rag module -> the rag modules it imports, anywhere (in functions, under TYPE_CHECKING)."""
    files = {_module_name(p): p for p in RAG.rglob("*.py")}

    def known(name: str) -> str | None:
        # ``from rag.llm import base`` is a module; ``from rag.llm import ChatModel``, the package.
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names if a.name.split(".")[0] == "rag"}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                if base.split(".")[0] == "rag":
                    targets |= {known(f"{base}.{a.name}") for a in node.names}
        graph[mod] = {t for t in targets if t and t != mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles found by a depth-first walk, each as a path back to where it starts."""
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        stack, on_path = [(start, iter(sorted(graph[start])))], [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                cycles.append([*on_path[on_path.index(child) :], child])
            elif child not in done:
                stack.append((child, iter(sorted(graph.get(child, ())))))
                on_path.append(child)
    return cycles


def test_the_cycle_check_can_fail():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_inside_rag():
    graph = _import_graph()
    assert "rag.library" in graph and "rag.storage" in graph["rag.library"]
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_in_rag_exceeds_500_lines():
    long = {
        str(p.relative_to(RAG.parent)): n
        for p in RAG.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"split these modules: {long}"
