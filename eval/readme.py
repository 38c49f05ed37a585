"""Regenerate the README's answer-quality tables: ``python -m eval.readme --store STORE``.

Runs the eval once per backend (extractive, embedded, optionally Ollama), keeps each report in
``--out``, and rewrites the part of README.md between the eval-table markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.report import _table, fmt

START = "<!-- eval-table:start -->"
END = "<!-- eval-table:end -->"
DEV = Path(__file__).with_name("dev.jsonl")

RETRIEVAL = (
    ("R@1", "recall@1"),
    ("R@5", "recall@5"),
    ("R@10", "recall@10"),
    ("MRR", "mrr"),
    ("nDCG@10", "ndcg@10"),
)
BY_KIND = (
    ("R@5", "retrieval", "recall@5"),
    ("MRR", "retrieval", "mrr"),
    ("cite precision", "citations", "precision"),
    ("cite recall", "citations", "recall"),
    ("must mention", "answer", "must_mention"),
    ("faithfulness", "answer", "faithfulness"),
)


def folder_name(llm: str) -> str:
    """Where a backend's report goes under ``--out``: extractive, embedded, ollama-MODEL."""
    if llm == "none":
        return "extractive"
    return llm.replace(":", "-").replace("/", "_")


def label(report: Mapping[str, Any]) -> str:
    c = report["config"]
    if c["backend"] == "extractive":
        return "extractive"
    return f"{c['backend']} ({c['model']})"


def _ratio(questions: Sequence[Mapping[str, Any]], answerable: bool) -> str:
    qs = [q for q in questions if q["answerable"] == answerable]
    if not qs:
        return "-"
    declined = sum(1 for q in qs if q["declined"])
    return f"{declined / len(qs):.3f} ({declined}/{len(qs)})"


def _ms(speed: Mapping[str, Any], name: str) -> str:
    p50, p95 = speed.get(f"{name}_p50"), speed.get(f"{name}_p95")
    if p50 is None:
        return "-"
    return f"{p50:,.0f} / {p95:,.0f}"


def _when(config: Mapping[str, Any]) -> str:
    finished = (config.get("finished") or "")[:16].replace("T", " ")
    load = config.get("load_average")
    return f"{finished or '-'} ({' / '.join(f'{x:.1f}' for x in load) if load else '-'})"


def render(
    reports: Sequence[Mapping[str, Any]], *, command: str, note: str = "", ollama_ran: bool = False
) -> str:
    """The generated section (without the markers): overall, latency and per-kind tables."""
    first = reports[0]["config"]
    lines = [
        "<!-- generated: edit eval/readme.py and rerun it, not this text -->",
        "",
        f"`{command}` on `eval/{first['dataset']}` (sha256 `{first['dataset_sha256'][:12]}`), "
        f"{note}k={first['k']}, "
        f"eval support cosine {first['support_cosine']}:",
        "",
    ]
    rows = []
    for r in reports:
        o = r["overall"]
        rows.append(
            [
                label(r),
                str(r["config"]["n"]),
                *(fmt(o["retrieval"].get(key)) for _, key in RETRIEVAL),
            ]
        )
    lines += [_table(["backend", "questions", *(h for h, _ in RETRIEVAL)], rows), ""]

    rows = []
    for r in reports:
        c, a = r["overall"]["citations"], r["overall"]["answer"]
        rows.append(
            [
                label(r),
                fmt(c["precision"]),
                fmt(c["recall"]),
                fmt(c["cited_sentences"]),
                str(c["dangling"]),
                fmt(a["must_mention"]),
                fmt(a["faithfulness"]),
                _ratio(r["questions"], False),
                _ratio(r["questions"], True),
            ]
        )
    header = [
        "backend",
        "cite precision",
        "cite recall",
        "sentences cited",
        "dangling",
        "must mention",
        "faithfulness",
        "unanswerable declined",
        "answerable declined",
    ]
    lines += [_table(header, rows), ""]

    rows = []
    for r in reports:
        c, st = r["overall"]["citations"], r["overall"].get("sentences", {})
        rows.append(
            [
                label(r),
                fmt(c.get("cited_gold_fact_which_multi")),
                fmt((st.get("supported_share") or 0) + (st.get("attributed_share") or 0)),
                fmt(st.get("supported_share")),
                fmt(st.get("attributed_share")),
                str(st.get("unsupported_shown", "-")),
                str(st.get("unsupported_removed", "-")),
                str(st.get("model_sentences_shown", "-")),
                "-" if st.get("answer_words") is None else f"{st['answer_words']:.0f}",
            ]
        )
    header = [
        "backend",
        "cited papers that are gold (fact, which-paper, multi)",
        "sentences with a supported citation",
        "supported as cited",
        "attributed",
        "unsupported shown",
        "unsupported removed",
        "model sentences shown",
        "words",
    ]
    lines += [_table(header, rows), ""]

    rows = [
        [
            label(r),
            *(
                _ms(r["overall"]["speed"], n)
                for n in ("retrieval_ms", "first_token_ms", "total_ms")
            ),
            _when(r["config"]),
        ]
        for r in reports
    ]
    header = ["backend", "sources", "first text", "whole answer", "run finished (load average)"]
    lines += [
        "Latency in ms, p50 / p95 (2 cores, shared with other jobs):",
        "",
        _table(header, rows),
        "",
    ]

    for r in reports:
        rows = [
            [kind, str(s["n"]["questions"]), *(fmt(s[sec].get(key)) for _, sec, key in BY_KIND)]
            for kind, s in r["by_kind"].items()
        ]
        lines += [
            f"By kind of question, {label(r)}:",
            "",
            _table(["kind", "n", *(h for h, _, _ in BY_KIND)], rows),
            "",
        ]

    if not ollama_ran:
        lines += [
            "Ollama: not run for these tables, because no Ollama server can be installed on the "
            "machine they were made on. Where one runs, "
            "`OLLAMA_HOST=http://127.0.0.1:11434 .venv/bin/python -m eval.readme --store STORE "
            "--reuse --ollama MODEL` adds its rows (`--reuse` keeps the extractive and embedded "
            "reports already in `--out`).",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` with everything between the START and END markers replaced by ``section``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"the README needs exactly one {START} ... {END} pair")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{section}{END}{tail}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.readme",
        description="Run the eval per backend and rewrite README.md's answer-quality tables.",
    )
    p.add_argument("--store", help="library folder holding the seed corpus (env PAPERS_STORE)")
    p.add_argument("--dataset", default=str(DEV), help="dev-set JSONL (default eval/dev.jsonl)")
    p.add_argument(
        "--llm",
        default="none,embedded",
        help="backends to run, comma-separated (default none,embedded)",
    )
    p.add_argument("--ollama", metavar="MODEL", help="also run ollama:MODEL (OLLAMA_HOST)")
    p.add_argument(
        "--embedded-slice",
        action="store_true",
        help="embedded on the CI slice (eval/thresholds.py) instead of every question",
    )
    p.add_argument("--out", default="out/eval-readme", help="folder for the per-backend reports")
    p.add_argument("--readme", default="README.md", help="the file to rewrite")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="keep a backend's report already in --out instead of running it again",
    )
    return p


def _progress(name: str):
    def update(done: int, total: int, qid: str) -> None:
        if done == total or done % 10 == 0:
            print(f"{name}: {done}/{total}", file=sys.stderr, flush=True)

    return update


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    readme = Path(args.readme)
    try:
        text = readme.read_text("utf-8")
        replace_section(text, "")  # fail before an hour of evaluation, not after
    except (OSError, ValueError) as exc:
        print(f"eval.readme: {exc}", file=sys.stderr)
        return 1

    from eval.run import run_eval
    from eval.thresholds import EMBEDDED_SLICE_IDS
    from rag import Library, PapersError

    llms = [s.strip() for s in args.llm.split(",") if s.strip()]
    if args.ollama:
        llms.append(f"ollama:{args.ollama}")
    reports = []
    try:
        lib = Library.open(args.store)
        papers = lib.stats().get("papers")
        for llm in llms:
            out = Path(args.out) / folder_name(llm)
            saved = out / "report.json"
            if args.reuse and saved.is_file():
                reports.append(json.loads(saved.read_text("utf-8")))
                continue
            ids = EMBEDDED_SLICE_IDS if llm == "embedded" and args.embedded_slice else None
            reports.append(
                run_eval(
                    args.dataset,
                    llm=llm,
                    ids=ids,
                    out_dir=out,
                    library=lib,
                    progress=_progress(llm),
                )
            )
    except (PapersError, ValueError) as exc:
        print(f"eval.readme: {exc}", file=sys.stderr)
        return 1

    command = ".venv/bin/python -m eval.readme --store STORE" + "".join(
        f" {flag}" for flag, on in [("--embedded-slice", args.embedded_slice)] if on
    )
    if args.llm != "none,embedded":
        command += f" --llm {args.llm}"
    note = f"a store of {papers} papers (the seed corpus), "
    section = render(
        reports,
        command=command,
        note=note,
        ollama_ran=any(r["config"]["backend"] == "ollama" for r in reports),
    )
    # Read again: the runs take minutes, and the rest of the README may have changed meanwhile.
    try:
        text = replace_section(readme.read_text("utf-8"), section)
    except (OSError, ValueError) as exc:
        print(f"eval.readme: {exc}; the reports are in {args.out}", file=sys.stderr)
        return 1
    readme.write_text(text, "utf-8")
    print(f"rewrote the eval tables in {readme} ({', '.join(label(r) for r in reports)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
