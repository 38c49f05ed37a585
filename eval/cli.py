"""The `papers-eval` command (also `python -m eval`): parse, run or compare, print a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="papers-eval",
        description="Evaluate answer quality on a dev set, offline. "
        "Or compare two reports: --compare A/report.json B/report.json",
    )
    p.add_argument("dataset", nargs="?",
                   help="dev-set JSONL (e.g. eval/dev.jsonl), or a BEIR folder (corpus.jsonl, "
                   "queries.jsonl, qrels/): see `python -m eval.beir --help`")  # fmt: skip
    p.add_argument("--store", help="library folder (default: the user data dir; env PAPERS_STORE)")
    p.add_argument(
        "--llm", default="none", help="none (extractive, default), embedded, auto or ollama:MODEL"
    )
    p.add_argument("--k", type=int, default=5, help="papers drawn on per answer (default 5)")
    p.add_argument("--out", default="eval-out", help="folder for report.json, report.md and plots")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--ids", help="only these question ids, comma-separated (e.g. q001,q020)")
    p.add_argument(
        "--judge",
        metavar="ollama:MODEL",
        help="grade answers 1-5 with an Ollama model (off by default)",
    )
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two report.json files")
    return p


def _progress(stream):
    """A rich progress bar on a terminal; nothing otherwise."""
    if not stream.isatty():
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), transient=True)  # fmt: skip
    task = bar.add_task("evaluating", total=None)

    def update(done: int, total: int, qid: str) -> None:
        bar.update(task, completed=done, total=total, description=f"evaluating {qid}".rstrip())

    return bar, update


def _summary(report) -> str:
    from eval.report import _table, by_kind_rows, fmt, summary_rows

    return (_table(["metric", "value"], [[n, fmt(v)] for n, v in summary_rows(report)])
            + "\n\n" + _table(*by_kind_rows(report)))  # fmt: skip


def _ids(text: str | None) -> list[str] | None:
    return [i.strip() for i in text.split(",") if i.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from eval.beir import is_beir_dir

    # A BEIR folder is a retrieval benchmark, not a dev set: it has its own options
    # (--modes, --split), so it goes to its own command whole.
    if any(is_beir_dir(a) for a in argv if not a.startswith("-")):
        from eval.beir import main as beir_main

        return beir_main(argv)
    args = build_parser().parse_args(argv)
    if args.compare:
        from eval.report import compare

        try:
            print(compare(*args.compare), end="")
        except (OSError, ValueError, KeyError) as exc:
            print(f"papers-eval: cannot compare: {exc}", file=sys.stderr)
            return 1
        return 0
    if not args.dataset:
        build_parser().error("give a dataset JSONL, or --compare A B")
    if Path(args.dataset).is_dir():
        print(f"papers-eval: {args.dataset} is a folder but not a BEIR benchmark (it needs "
              "corpus.jsonl, queries.jsonl and qrels/); a dev set is a JSONL file",
              file=sys.stderr)  # fmt: skip
        return 1
    if not Path(args.dataset).is_file():
        print(f"papers-eval: no such dataset: {args.dataset}", file=sys.stderr)
        return 1

    from eval.run import run_eval
    from rag import Library, PapersError

    try:
        lib = Library.open(args.store)
        judge = None
        if args.judge:
            from eval.judge import OllamaJudge

            model = args.judge.removeprefix("ollama:")
            judge = OllamaJudge(model, lib.settings.ollama_host())
            notice = judge.unavailable()
            if notice:
                print(f"papers-eval: {notice}", file=sys.stderr)
                judge = None
        bar, update = _progress(sys.stderr)
        if bar is not None:
            bar.start()
        try:
            report = run_eval(args.dataset, store=args.store, llm=args.llm, k=args.k,
                              limit=args.limit, ids=_ids(args.ids), out_dir=args.out,
                              progress=update, judge=judge, library=lib)  # fmt: skip
        finally:
            if bar is not None:
                bar.stop()
    except (PapersError, ValueError) as exc:
        print(f"papers-eval: {exc}", file=sys.stderr)
        return 1
    c = report["config"]
    print(f"{c['n']} questions, backend {c['backend']} ({c['model']}), k={c['k']}")
    print(_summary(report))
    print(f"\nreport: {Path(args.out) / 'report.json'}")
    return 0
