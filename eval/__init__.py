"""Offline answer-quality evaluation of papers: ``python -m eval DATASET.jsonl``.

Goes only through the public API of ``rag``; ``rag`` never imports this package.
"""

from eval.metrics import aggregate
from eval.report import compare, write_report
from eval.run import run_eval

__all__ = ["aggregate", "compare", "run_eval", "write_report"]
