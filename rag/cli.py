"""The `papers` command: parses arguments, calls the public API, renders. Nothing else."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from rag import FORMATS, PapersError, one_line, plain

# These hand every argument to their own program unchanged (`papers eval --compare A B`,
# `papers bench --quick --store S`, `papers chat --help`), so argparse never sees them: its
# REMAINDER refused a first argument that looked like an option, and declaring the bench's
# options here as well kept two lists to hold equal.
PASS_THROUGH = {"eval": "eval", "chat": "tui", "bench": "eval.bench"}


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other refusal of `papers`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"papers: {one_line(message)} (see `{self.prog} --help`)\n")


def _count(text: str) -> int:
    """argparse type of ``-k``: 0 used to mean the default and -1 one paper."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more, not {text!r}")
    return n


def _question(text: str) -> str:
    """argparse type of a query or question: refused before any model or store is loaded."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: say what the papers should be about")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # argv holds undecodable bytes as surrogate escapes; dropping them would search for
        # something that was not typed.
        raise argparse.ArgumentTypeError(
            "holds bytes that are not UTF-8 text; retype it in a UTF-8 terminal"
        ) from None
    return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="library folder (default: the user data dir; env PAPERS_STORE)")
    p.add_argument("--embedder", help="'minilm' (default) or 'ollama:<model>'")
    p.add_argument(
        "--chroma-host", help="use a Chroma server at this host instead of the embedded store"
    )
    p.add_argument("--chroma-port", type=int, help="port of the Chroma server (default 8000)")
    # `papers search --debug q` as well as `papers --debug search q`.
    p.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="papers",
        description="Answer questions about research-paper abstracts, with checked citations.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (or set PAPERS_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add papers from files or folders")
    _common(p)
    p.add_argument(
        "paths",
        nargs="+",
        help="files or folders: listing pages, JSONL, CSV, arXiv metadata, "
        "BibTeX (.bib), RIS (.ris), CSL-JSON",
    )
    p.add_argument("--format", choices=FORMATS, help="override format detection")
    p.add_argument("--rebuild", action="store_true", help="forget the store and build it anew")
    p.add_argument(
        "--enrich",
        action="store_true",
        help="look up missing abstracts in OpenAlex (by DOI, else by title)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("add", help="fetch papers from arXiv (by id or search) or OpenAlex (DOI)")
    _common(p)
    p.add_argument("ids", nargs="*", help="arxiv:2306.00978, doi:10.1145/3065386, or bare ids")
    p.add_argument("--arxiv-query", type=_question, help="also add the papers of an arXiv search")
    p.add_argument("--max", type=_count, default=20, help="most papers the search adds (20)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("stats", help="what the library holds")
    _common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="find papers for a query")
    _common(p)
    p.add_argument("query", type=_question)
    p.add_argument("-k", type=_count, default=None, help="how many papers (1 or more)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--source", help="only papers from this source (file/page)")
    p.add_argument("--year", help="2023, a range 2020-2024, or open: 2020- / -2019")
    p.add_argument("--author")
    p.add_argument("--category")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-floor", action="store_true", help="list papers without judging them")

    p = sub.add_parser("ask", help="answer a question from the library, with citations")
    _common(p)
    p.add_argument("question", type=_question)
    p.add_argument("--llm", help="auto (default), ollama[:model], embedded, or none (extractive)")
    p.add_argument("-k", type=_count, default=None, help="how many papers to draw on (1 or more)")
    p.add_argument("--source", help="only papers from this source (file/page)")
    p.add_argument("--year", help="2023, a range 2020-2024, or open: 2020- / -2019")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--bibtex", metavar="FILE", help="also write the cited papers as BibTeX")
    p.add_argument(
        "--show-unsupported",
        action="store_true",
        help="keep the model's sentences no abstract supports, marked '(unsupported)'",
    )
    p.add_argument("--no-floor", action="store_true", help="answer even if no paper seems to")

    # Listed for `papers --help` only: main() hands these to their programs before parsing.
    sub.add_parser(
        "eval", help="score answer quality on a dataset (runs `python -m eval`; see its --help)"
    )
    sub.add_parser("chat", help="the chat app (runs `python -m tui`; see its --help)")

    sub.add_parser(
        "bench",
        help="speed against the standard llama-index pipeline "
        "(runs `python -m eval.bench`; see its --help)",
    )

    p = sub.add_parser(
        "doctor", help="check that the catalogue, Chroma and BM25 agree (--repair fixes them)"
    )
    _common(p)
    p.add_argument("--repair", action="store_true", help="fix every disagreement found")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

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

    missing: list = []  # --enrich: entries read without an abstract (a Problem's .record)

    def on_problem(p) -> None:
        if args.enrich and getattr(p, "record", None) is not None:
            return missing.append((p.path, p.record))
        # Problems quote the file (a title, a line): shown as text, never as escape codes.
        print(f"papers: {one_line(str(p))}", file=sys.stderr)

    with progress:
        # --rebuild forgets the store inside the writer lock: never while another ingest writes.
        rep = lib.ingest(
            args.paths,
            fmt=args.format,
            rebuild=args.rebuild,
            progress=on_progress,
            on_problem=on_problem,
        )
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        print(f"ingest: {rep.summary()}")
    if args.enrich:  # the files' papers are stored by now: OpenAlex failing loses none
        more = lib.add(missing=missing, on_problem=on_problem)
        print(f"enrich: {more.summary()}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _steps():
    """Progress bars on stderr (a terminal only), one a step: ``step(what, done, total)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    err = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def step(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bars.add_task(what, total=total or 1)
        bars.update(tasks[what], completed=done, total=total or 1)

    def note(message: str) -> None:  # a retry about to wait, shown above the bars
        err.print(f"papers: {one_line(message)}", markup=False, highlight=False)

    return bars, step, note if err.is_terminal else None


def cmd_add(args: argparse.Namespace) -> int:
    if not args.ids and not args.arxiv_query:
        raise PapersError("say what to add: ids (arxiv:2306.00978, doi:10.1145/…) or --arxiv-query")
    bars, step, note = _steps()
    with bars:
        # Everything is fetched before anything is stored: a failure stores nothing.
        rep = _library(args).add(
            args.ids,
            query=args.arxiv_query,
            max_results=args.max,
            on_fetch=lambda service, done, total: step(f"fetched from {service}", done, total),
            progress=lambda done, total: step("embedded", done, total),
            on_wait=note,
            on_problem=lambda p: print(f"papers: {one_line(str(p))}", file=sys.stderr),
        )
    print(json.dumps(rep.to_dict(), indent=2) if args.json else f"add: {rep.summary()}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    st = _library(args).stats()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    ct = st["chunk_tokens"]
    print(f"papers      {st['papers']}")
    print(f"chunks      {st['chunks']}")
    print(f"embedder    {one_line(st['embedder'])}")
    print(
        f"store       {one_line(st['store'])} ({one_line(st['chroma'])}), "
        f"{st['size_bytes'] / 1e6:.1f} MB on disk"
    )
    print(
        f"chunk size  min {ct['min']}, p50 {ct['p50']}, p90 {ct['p90']}, p99 {ct['p99']}, "
        f"max {ct['max']} word pieces (window {ct['window']})"
    )
    for src, n in st["sources"].items():
        print(f"source      {one_line(src)}: {n} papers")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    lib = _library(args)
    filters = {"source": args.source, "year": args.year, "author": args.author,
               "category": args.category}  # fmt: skip
    hits = lib.search(args.query, k=args.k, filters=filters, mode=args.mode)
    why = "" if args.no_floor or not hits else lib.relevance(args.query, hits).reason  # as ask
    if args.json:
        # The real text: json.dumps escapes every control character (and all non-ASCII).
        out = {"query": args.query, "declined": why, "hits": [h.to_dict() for h in hits]}
        print(json.dumps(out, indent=2))
        return 0
    if why:
        print(f"no paper seems to answer this ({why}); the closest:", file=sys.stderr)
    if not hits:
        print("no papers found")
    for i, h in enumerate(hits, 1):
        cos = "" if h.dense_score is None else f" cos {h.dense_score:.2f}"
        print(f"{i:2d}. {one_line(h.paper.title)}  [{one_line(h.paper.paper_id)}]{cos}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    report = _library(args).check(repair=args.repair)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            print(plain(line))
    return 0 if report.healthy else 3  # 1 is an unexpected error


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
    events = lib.stream(
        args.question,
        llm=args.llm,
        k=args.k,
        filters=filters,
        show_unsupported=args.show_unsupported or None,
        floor=False if args.no_floor else None,
    )
    for event in events:
        if isinstance(event, SourcesReady) and not args.json:
            for h in event.hits:
                n = event.numbers[h.paper.paper_id]
                print(f"  [{n}] {one_line(h.paper.title)}", file=sys.stderr)
        elif isinstance(event, TextDelta) and not args.json:
            # Per delta is enough: plain() drops every ESC and C1 byte, so a sequence split
            # across two deltas cannot reassemble on screen.
            print(plain(event.text), end="", flush=True)
            streamed = True
        elif isinstance(event, AnswerDone):
            answer = event.answer
    if answer is None:
        raise PapersError("no answer was produced")
    if args.json:
        d = answer.to_dict()
        out = {
            key: d[key]
            for key in (
                "question", "answer", "note", "sentences", "citations", "backend", "model",
                "timings",
            )
        }  # fmt: skip
        out["declined"], out["closest"] = d["declined"], d["closest"]
        print(json.dumps(out, indent=2))
    else:
        # What streamed is the checked answer, sentence by sentence: nothing follows it.
        print("\n" if streamed else plain(answer.text) + "\n")
        if answer.note:  # how the answer was made: part of it, so on stdout
            print(f"Note: {one_line(answer.note)}\n")
        print(plain(references_markdown(answer)))
        t = answer.timings
        first = "-" if t.first_token_ms is None else f"{t.first_token_ms:.0f} ms"
        print(
            f"[{one_line(answer.backend)}:{one_line(answer.model)}] "
            f"sources in {t.retrieval_ms:.0f} ms, "
            f"first token {first}, total {t.total_ms:.0f} ms",
            file=sys.stderr,
        )
    if args.bibtex:
        cited = {c.paper_id for c in answer.citations}
        bib = references_bibtex([h.paper for h in answer.sources if h.paper.paper_id in cited])
        try:
            Path(args.bibtex).write_text(bib, encoding="utf-8")
        except OSError as exc:
            raise PapersError(f"cannot write {args.bibtex}: {exc.strerror or exc}") from exc
    return 0


def run_module(module: str, args: list[str]) -> int:
    """`papers chat|eval|bench ARGS`: become `python -m MODULE ARGS`, every argument unchanged."""
    # A process boundary, not an import: rag never imports the tui or eval packages.
    os.execv(sys.executable, [sys.executable, "-m", module, *args])
    return 0  # pragma: no cover (execv does not return)


COMMANDS = {
    "ingest": cmd_ingest,
    "add": cmd_add,
    "stats": cmd_stats,
    "search": cmd_search,
    "ask": cmd_ask,
    "remove": cmd_remove,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> int:
    """Run one `papers` command and return its exit code.

    This is the one place where a failure becomes what the user sees: one line on stderr
    (``papers: ...``) and a non-zero code, whatever raised it; ``--debug`` (before the
    command) or ``PAPERS_DEBUG=1`` adds the traceback. Codes: 2 a refusal (a ``PapersError``
    or a usage error), 1 an unexpected error, 3 `papers doctor` found problems, 130
    interrupted, 141 stdout closed early.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # Read here, not through Settings: loading the settings is one of the things that can fail.
    debug = os.environ.get("PAPERS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    while argv[:1] == ["--debug"]:
        debug = True
        argv.pop(0)
    try:
        if argv and argv[0] in PASS_THROUGH:
            return run_module(PASS_THROUGH[argv[0]], argv[1:])
        args = build_parser().parse_args(argv)
        debug = debug or getattr(args, "debug", False)
        code = COMMANDS[args.command](args)
        if sys.stdout is not None:
            sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return code
    except BrokenPipeError as exc:
        if _stdout_gone():
            # `papers search --json | head -1`: the reader has what it wanted. stdout now
            # points at /dev/null so that the interpreter's last flush has nowhere to fail.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return 141  # as if killed by SIGPIPE, like other Unix tools
        return _report(exc, debug)
    except KeyboardInterrupt:
        if debug:
            print(plain(traceback.format_exc()), end="", file=sys.stderr)
        print("papers: interrupted; what was committed is kept", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report(exc, debug)


def _report(exc: Exception, debug: bool) -> int:
    """One line on stderr for ``exc`` (and the traceback under ``--debug``); the exit code."""
    if debug:
        print(plain(traceback.format_exc()), end="", file=sys.stderr)
    if isinstance(exc, PapersError):
        print(f"papers: {one_line(str(exc))}", file=sys.stderr)
        return 2
    # A third-party message can run to pages (a whole request body); one line is the promise.
    message = one_line(str(exc))
    if len(message) > 300:
        message = message[:299] + "…"
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    hint = "" if debug else " (rerun with --debug for the traceback)"
    print(f"papers: unexpected error: {what}{hint}", file=sys.stderr)
    return 1


def _stdout_gone() -> bool:
    """True when stdout is a pipe or socket whose reader has closed it."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return True  # no poll here, or no stdout left to ask: the pipe is the likely cause
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in events)


if __name__ == "__main__":
    sys.exit(main())
