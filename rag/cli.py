"""The `papers` command: parses arguments, calls the public API, renders. Nothing else."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag import PapersError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="library folder (default: the user data dir; env PAPERS_STORE)")
    p.add_argument("--embedder", help="'minilm' (default) or 'ollama:<model>'")
    p.add_argument(
        "--chroma-host", help="use a Chroma server at this host instead of the embedded store"
    )
    p.add_argument("--chroma-port", type=int, help="port of the Chroma server (default 8000)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="papers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add papers from files or folders")
    _common(p)
    p.add_argument(
        "paths", nargs="+", help="files or folders: listing pages, JSONL, CSV, arXiv metadata"
    )
    p.add_argument(
        "--format", choices=["pages", "jsonl", "csv", "arxiv"], help="override format detection"
    )
    p.add_argument("--rebuild", action="store_true", help="forget the store and build it anew")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("stats", help="what the library holds")
    _common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="find papers for a query")
    _common(p)
    p.add_argument("query")
    p.add_argument("-k", type=int, default=None, help="how many papers")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--source", help="only papers from this source (file/page)")
    p.add_argument("--year", help="2023, a range 2020-2024, or open: 2020- / -2019")
    p.add_argument("--author")
    p.add_argument("--category")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question from the library, with citations")
    _common(p)
    p.add_argument("question")
    p.add_argument("--llm", help="auto (default), ollama[:model], embedded, or none (extractive)")
    p.add_argument("-k", type=int, default=None, help="how many papers to draw on")
    p.add_argument("--source", help="only papers from this source (file/page)")
    p.add_argument("--year", help="2023, a range 2020-2024, or open: 2020- / -2019")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--bibtex", metavar="FILE", help="also write the cited papers as BibTeX")

    p = sub.add_parser("eval", help="score answer quality on a dataset (runs `python -m eval`)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="see `papers eval --help`")

    p = sub.add_parser("chat", help="the chat app (runs `python -m tui`)")
    p.add_argument("--store", help="library folder (default: the user data dir; env PAPERS_STORE)")
    p.add_argument("--llm", help="auto (default), ollama[:model], embedded, or none (extractive)")
    p.add_argument("--seeds", help="corpus offered for ingestion when the library is empty")

    # The options of `python -m eval.bench`, declared here too so that they show in --help;
    # tests/eval/test_bench.py keeps the two lists equal.
    p = sub.add_parser(
        "bench",
        help="speed against the standard llama-index pipeline (runs `python -m eval.bench`)",
    )
    p.add_argument("--out", default="bench-out", help="folder for bench.json (default ./bench-out)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="only re-ingest, retrieval and time to sources, on an existing --store (< 2 min)",
    )
    p.add_argument("--store", help="for --quick: a store that already holds the seeds")
    p.add_argument(
        "--scale",
        default="10000,50000",
        help="synthetic chunk counts, comma-separated (1000000 allowed; default 10000,50000)",
    )
    p.add_argument(
        "--scale-only",
        action="store_true",
        help="only the synthetic scale steps (e.g. --scale-only --scale 1000000, about 30 min)",
    )
    p.add_argument("--seeds", help="the seed corpus (default: ../shared/seeds beside the repo)")
    p.add_argument(
        "--llm",
        help="answer backends to time, comma-separated (default none,embedded; none with --quick)",
    )

    p = sub.add_parser("remove", help="remove papers by id or by source")
    _common(p)
    p.add_argument("--source", help="remove what came only from this source")
    p.add_argument("--paper", action="append", default=[], help="a paper id (repeatable)")
    return parser


def _library(args: argparse.Namespace):
    from rag import Library, Settings

    overrides: dict = {"store": args.store, "embedder": args.embedder}
    base = Settings.load(**{k: v for k, v in overrides.items() if v})
    if args.chroma_host or args.chroma_port:
        chroma = base.chroma.model_copy(
            update={
                k: v for k, v in {"host": args.chroma_host, "port": args.chroma_port}.items() if v
            }
        )
        base = base.model_copy(update={"chroma": chroma})
    return Library(base)


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    err = Console(stderr=True)
    lib = _library(args)
    if args.rebuild:
        lib.rebuild()
    progress = Progress(
        TextColumn("embedding papers"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )
    task = None
    import time

    start = time.perf_counter()

    def on_progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task("ingest", total=total or 1, rate="")
        rate = done / max(1e-6, time.perf_counter() - start)
        progress.update(task, completed=done, rate=f"{rate:.1f} papers/s")

    def on_problem(p) -> None:
        print(f"papers: {p}", file=sys.stderr)

    with progress:
        rep = lib.ingest(args.paths, fmt=args.format, progress=on_progress, on_problem=on_problem)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        print(f"ingest: {rep.summary()}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    st = _library(args).stats()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    ct = st["chunk_tokens"]
    print(f"papers      {st['papers']}")
    print(f"chunks      {st['chunks']}")
    print(f"embedder    {st['embedder']}")
    print(f"store       {st['store']} ({st['chroma']}), {st['size_bytes'] / 1e6:.1f} MB on disk")
    print(
        f"chunk size  min {ct['min']}, p50 {ct['p50']}, p90 {ct['p90']}, p99 {ct['p99']}, "
        f"max {ct['max']} word pieces (window {ct['window']})"
    )
    for src, n in st["sources"].items():
        print(f"source      {src}: {n} papers")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    lib = _library(args)
    filters = {
        "source": args.source,
        "year": args.year,
        "author": args.author,
        "category": args.category,
    }
    hits = lib.search(args.query, k=args.k, filters=filters, mode=args.mode)
    if args.json:
        print(json.dumps({"query": args.query, "hits": [h.to_dict() for h in hits]}, indent=2))
        return 0
    if not hits:
        print("no papers found")
    for i, h in enumerate(hits, 1):
        cos = "" if h.dense_score is None else f" cos {h.dense_score:.2f}"
        print(f"{i:2d}. {h.paper.title}  [{h.paper.paper_id}]{cos}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    if not args.source and not args.paper:
        raise PapersError("say what to remove: --source NAME or --paper ID")
    gone = _library(args).remove(source=args.source, paper_ids=args.paper or None)
    print(f"removed {len(gone)} papers")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag import AnswerDone, SourcesReady, TextDelta, references_bibtex, references_markdown

    lib = _library(args)
    filters = {"source": args.source, "year": args.year}
    answer = None
    streamed = False
    for event in lib.stream(args.question, llm=args.llm, k=args.k, filters=filters):
        if isinstance(event, SourcesReady) and not args.json:
            for h in event.hits:
                print(f"  [{event.numbers[h.paper.paper_id]}] {h.paper.title}", file=sys.stderr)
        elif isinstance(event, TextDelta) and not args.json:
            print(event.text, end="", flush=True)
            streamed = True
        elif isinstance(event, AnswerDone):
            answer = event.answer
    if answer is None:
        raise PapersError("no answer was produced")
    if args.json:
        d = answer.to_dict()
        out = {
            key: d[key]
            for key in ("question", "answer", "citations", "backend", "model", "timings")
        }
        out["declined"] = d["declined"]
        print(json.dumps(out, indent=2))
    else:
        if streamed:
            print("\n")
        # The checked text can differ from the stream: unsupported citations are removed.
        print(answer.text if not streamed or answer.text != answer.raw_text else "", end="")
        if streamed and answer.text != answer.raw_text:
            print("Checked answer:\n" + answer.text)
        print("\n" + references_markdown(answer))
        t = answer.timings
        first = "-" if t.first_token_ms is None else f"{t.first_token_ms:.0f} ms"
        print(
            f"[{answer.backend}:{answer.model}] sources in {t.retrieval_ms:.0f} ms, "
            f"first token {first}, total {t.total_ms:.0f} ms",
            file=sys.stderr,
        )
    if args.bibtex:
        cited = {c.paper_id for c in answer.citations}
        Path(args.bibtex).write_text(
            references_bibtex([h.paper for h in answer.sources if h.paper.paper_id in cited])
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import os

    # A process boundary, not an import: rag never imports eval, where the bench lives.
    argv = [sys.executable, "-m", "eval.bench", "--out", args.out, "--scale", args.scale]
    for flag in ("store", "seeds", "llm"):
        if getattr(args, flag):
            argv += [f"--{flag}", getattr(args, flag)]
    argv += [f"--{f.replace('_', '-')}" for f in ("quick", "scale_only") if getattr(args, f)]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


def cmd_chat(args: argparse.Namespace) -> int:
    import os

    # A process boundary, not an import: rag never imports the tui package.
    argv = [sys.executable, "-m", "tui"]
    for flag in ("store", "llm", "seeds"):
        if getattr(args, flag):
            argv += [f"--{flag}", str(getattr(args, flag))]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover (execv does not return)


def cmd_eval(args: argparse.Namespace) -> int:
    import os

    # A process boundary, not an import: rag never imports eval.
    argv = [sys.executable, "-m", "eval", *args.rest]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


COMMANDS = {
    "ingest": cmd_ingest,
    "stats": cmd_stats,
    "search": cmd_search,
    "ask": cmd_ask,
    "remove": cmd_remove,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PapersError as exc:
        print(f"papers: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("papers: interrupted; what was committed is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
