"""The `papers` command: parses arguments, calls the public API, renders. Nothing else."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.errors import PapersError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="library folder (default: the user data dir; env PAPERS_STORE)")
    p.add_argument("--embedder", help="'minilm' (default) or 'ollama:<model>'")
    p.add_argument("--chroma-host", help="use a Chroma server at this host instead of the embedded store")
    p.add_argument("--chroma-port", type=int, help="port of the Chroma server (default 8000)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="papers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add papers from files or folders")
    _common(p)
    p.add_argument("paths", nargs="+", help="files or folders: listing pages, JSONL, CSV, arXiv metadata")
    p.add_argument("--format", choices=["pages", "jsonl", "csv", "arxiv"], help="override format detection")
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
    p.add_argument("--year", type=int)
    p.add_argument("--author")
    p.add_argument("--category")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("remove", help="remove papers by id or by source")
    _common(p)
    p.add_argument("--source", help="remove what came only from this source")
    p.add_argument("--paper", action="append", default=[], help="a paper id (repeatable)")
    return parser


def _library(args: argparse.Namespace):
    from rag.library import Library
    from rag.settings import Settings

    overrides: dict = {"store": args.store, "embedder": args.embedder}
    base = Settings.load(**{k: v for k, v in overrides.items() if v})
    if args.chroma_host or args.chroma_port:
        chroma = base.chroma.model_copy(
            update={k: v for k, v in {"host": args.chroma_host, "port": args.chroma_port}.items() if v}
        )
        base = base.model_copy(update={"chroma": chroma})
    return Library(base)


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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
    filters = {"source": args.source, "year": args.year, "author": args.author, "category": args.category}
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


COMMANDS = {"ingest": cmd_ingest, "stats": cmd_stats, "search": cmd_search, "remove": cmd_remove}


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
