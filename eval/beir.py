"""Retrieval quality on a BEIR-format benchmark (SciFact, ...): ingest its corpus into a
library, search every query in each mode, and score the rankings against its qrels.

``python -m eval.beir DATA_DIR --store STORE`` (also ``papers eval DATA_DIR --store STORE``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from eval import metrics as m
from rag import SourceError

if TYPE_CHECKING:
    from rag import Hit, IngestReport, Library, Record

MODES = ("hybrid", "dense", "bm25")
# Hits of each mode written per query to the JSONL, beside the ranks of every relevant doc.
TOP_PER_QUERY = 10
# What BEIR-format folders hold; qrels/<split>.tsv is checked when read.
LAYOUT = ("corpus.jsonl", "queries.jsonl", "qrels")
# Published nDCG@10 by benchmark (named by the folder's name), for orientation only: they are
# figures on BEIR's *test* split (300 SciFact claims), which is kept out of this repo.
PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    "scifact": {
        "bm25": (0.665, "BM25, BEIR (Thakur et al. 2021), test split"),
        "dense": (0.645, "all-MiniLM-L6-v2, MTEB, test split"),
    },
}

Say = Callable[[str], None]


class BeirFormatError(SourceError):
    """A BEIR file cannot be used as it is; the message names the file and line."""


def is_beir_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder laid out as BEIR's: corpus.jsonl, queries.jsonl, qrels/."""
    p = Path(path)
    return p.is_dir() and all((p / name).exists() for name in LAYOUT)


# --- reading ------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The corpus as records to ingest, and the way back from our paper ids to BEIR's ids."""

    records: list[tuple[str, Record]]
    doc_of: dict[str, str]  # our paper id -> the BEIR id of the document stored under it
    # Paper ids that several documents share (same normalised title, no arXiv id or DOI):
    # the library keeps the first, so the others can never be retrieved.
    collisions: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "file:line: why" of unusable docs

    @property
    def lost(self) -> set[str]:
        return {d for docs in self.collisions.values() for d in docs[1:]}


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BeirFormatError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("_id"), (str, int)):
                raise BeirFormatError(f'{path}:{n}: expected a JSON object with an "_id"')
            yield n, obj


def read_corpus(path: Path, *, source: str) -> Corpus:
    """Records of ``corpus.jsonl`` (``_id``, ``title``, ``text``), the BEIR id as citekey."""
    from rag import Record, paper_id

    corpus = Corpus(records=[], doc_of={})
    met: dict[str, list[str]] = {}
    for n, obj in _json_lines(path):
        doc = str(obj["_id"])
        title, text = obj.get("title"), obj.get("text")
        if not isinstance(title, str) or not title.strip():
            # A paper is known by its title; without one every such doc would share one id.
            corpus.skipped.append(f"{path}:{n}: document {doc} has no title; skipped")
            continue
        if not isinstance(text, str) or not text.strip():
            corpus.skipped.append(f"{path}:{n}: document {doc} has no text; skipped")
            continue
        rec = Record(title=title.strip(), abstract=text.strip(), source=source, line=n,
                     citekey=doc)  # fmt: skip
        corpus.records.append((str(path), rec))
        met.setdefault(paper_id(rec.title), []).append(doc)
    # Records are ingested in file order and the library keeps the first of a paper id.
    corpus.doc_of = {pid: docs[0] for pid, docs in met.items()}
    corpus.collisions = {pid: docs for pid, docs in met.items() if len(docs) > 1}
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text, in file order."""
    out: dict[str, str] = {}
    for n, obj in _json_lines(path):
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BeirFormatError(f'{path}:{n}: query {obj["_id"]} has no "text"')
        out[str(obj["_id"])] = text
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Query id -> {doc id: grade} of a qrels TSV (``query-id``, ``corpus-id``, ``score``).

    A malformed line stops the run rather than costing its judgment: a score computed
    without one of its judgments is a wrong score that looks right.
    """
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BeirFormatError(f"{path}: no such qrels file") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip() or (n == 1 and line.startswith("query-id")):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0] or not parts[1] or not _is_int(parts[2]):
            raise BeirFormatError(
                f"{path}:{n}: expected query-id, corpus-id and a whole-number score separated "
                f"by tabs, got {line[:80]!r}"
            )
        qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = int(parts[2])
    if not qrels:
        raise BeirFormatError(f"{path}: no judgments")
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# --- running ------------------------------------------------------------------------------


def ingest_corpus(lib: Library, corpus: Corpus, say: Say) -> IngestReport:
    """Bring the library in step with the corpus; only what it does not hold yet is embedded."""

    def progress(done: int, total: int) -> None:
        if total:
            say(f"embedding: {done:,} of {total:,} abstracts")

    rep = lib.ingest(records=corpus.records, progress=progress)
    say(f"ingest: {rep.summary()}")
    return rep


def _doc_id(hit: Hit, doc_of: dict[str, str]) -> str:
    # A paper that is not from the corpus (the store held others too) is never relevant.
    return doc_of.get(hit.paper.paper_id, f"papers:{hit.paper.paper_id}")


def _hit_row(rank: int, hit: Hit, doc: str, grades: dict[str, int]) -> dict[str, Any]:
    return {
        "rank": rank,
        "doc_id": doc,
        "grade": grades.get(doc, 0),
        "paper_id": hit.paper.paper_id,
        "score": round(hit.score, 6),
        "dense_rank": hit.dense_rank,
        "bm25_rank": hit.bm25_rank,
        "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
    }


def evaluate(
    lib: Library,
    corpus: Corpus,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    modes: Sequence[str] = MODES,
    k: int = 100,
    say: Say = lambda _: None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Each mode's mean measures and seconds, and one record per query (ranks of its relevant
    docs in each mode, its measures, the top hits with their dense and BM25 ranks)."""
    per_query: list[dict[str, Any]] = [
        {"query_id": q, "query": queries[q], "relevant": qrels[q], "modes": {}} for q in qrels
    ]
    summary: dict[str, dict[str, Any]] = {}
    lost = corpus.lost
    for mode in modes:
        rankings: dict[str, list[str]] = {}
        t0 = time.perf_counter()
        for i, rec in enumerate(per_query, start=1):
            hits = lib.search(rec["query"], k=k, mode=mode)  # type: ignore[arg-type]
            docs = [_doc_id(h, corpus.doc_of) for h in hits]
            rankings[rec["query_id"]] = docs
            rows = [_hit_row(r, h, d, rec["relevant"]) for r, (h, d) in
                    enumerate(zip(hits, docs, strict=True), start=1)]  # fmt: skip
            found = {row["doc_id"]: row for row in rows}
            rec["modes"][mode] = {
                # Each relevant doc with its rank, and its dense and BM25 ranks (None: not
                # in the top k), whether found or not, for reading fusion failures.
                "relevant": [
                    found.get(d) or {"doc_id": d, "grade": g, "rank": None, "lost": d in lost}
                    for d, g in rec["relevant"].items()
                ],
                "top": rows[:TOP_PER_QUERY],
            }
            if i % 100 == 0 or i == len(per_query):
                say(f"{mode}: {i:,} of {len(per_query):,} queries")
        seconds = time.perf_counter() - t0
        scores = m.ranking_measures(rankings, qrels, k=k)
        for rec in per_query:
            rec["modes"][mode]["measures"] = scores[rec["query_id"]]
        names = next(iter(scores.values())).keys()
        summary[mode] = {name: m.mean(s[name] for s in scores.values()) for name in names}
        summary[mode]["seconds"] = round(seconds, 1)
    return summary, per_query


# --- reporting ----------------------------------------------------------------------------


def published(name: str) -> dict[str, tuple[float, str]]:
    """Published nDCG@10 by mode for the benchmark folder ``name`` ("scifact-train": SciFact)."""
    low = name.lower()
    return next((v for key, v in PUBLISHED.items() if low.startswith(key)), {})


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, one row per mode, published figures beside."""
    c = report["config"]
    summary = report["modes"]
    names = [n for n in next(iter(summary.values())) if n != "seconds"]
    head = ["mode", *names, "published nDCG@10"]
    lines = [
        f"{c['dataset']} ({c['split']} split): {c['queries']:,} queries, "
        f"{c['documents']:,} documents, k={c['k']}, embedder {c['embedder']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for mode, values in summary.items():
        pub = c["published"].get(mode)
        ref = f"{pub[0]:.3f} ({pub[1]})" if pub else "-"
        cells = [mode, *(f"{values[n]:.3f}" for n in names), ref]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if c["published"]:
        notes.append("Published figures are on BEIR's test split; compare with care.")
    if c["collisions"]:
        notes.append(
            f"{len(c['collisions'])} titles are shared by several documents; "
            f"{c['lost_documents']} documents were not stored "
            f"({c['judged_lost']} of them judged relevant)."
        )
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def write_report(out: Path, report: dict[str, Any], per_query: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "beir.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    (out / "beir.md").write_text(markdown(report), "utf-8")
    with (out / "beir-queries.jsonl").open("w", encoding="utf-8") as fh:
        for rec in per_query:
            fh.write(json.dumps(rec) + "\n")


def run_beir(
    lib: Library,
    data_dir: str | Path,
    *,
    split: str = "train",
    modes: Sequence[str] = MODES,
    k: int = 100,
    limit: int | None = None,
    out: str | Path | None = None,
    say: Say = lambda _: None,
) -> dict[str, Any]:
    """Ingest the corpus of ``data_dir`` into ``lib``, evaluate, write ``out`` if given."""
    data = Path(data_dir)
    qrels = read_qrels(data / "qrels" / f"{split}.tsv")
    queries = read_queries(data / "queries.jsonl")
    unknown = [q for q in qrels if q not in queries]
    if unknown:
        raise BeirFormatError(
            f"{data / 'qrels' / f'{split}.tsv'}: {len(unknown)} query ids are not in "
            f"queries.jsonl (first: {unknown[0]})"
        )
    # Queries in file order, those judged in this split only (BEIR's practice).
    asked = [q for q in queries if q in qrels][:limit]
    qrels = {q: qrels[q] for q in asked}
    corpus = read_corpus(data / "corpus.jsonl", source=f"{data.name}/corpus.jsonl")
    for line in corpus.skipped:
        say(line)
    if corpus.collisions:
        say(f"{len(corpus.collisions)} titles are shared by several documents; the library "
            f"keeps the first of each, so {len(corpus.lost)} documents are not stored")  # fmt: skip
    rep = ingest_corpus(lib, corpus, say)
    # The way back from our ids to BEIR's is worked out from the titles, as the library
    # makes ids; checked here against what the library holds, so a change in how it makes
    # ids shows as missing documents rather than as a quietly lower score.
    stored = lib.papers(corpus.doc_of)
    missing = len(corpus.doc_of) - len(stored)
    if missing:
        say(f"{missing:,} documents are not in the library under the ids expected; "
            "they count as never found")  # fmt: skip
    citekeys = sum(1 for pid, p in stored.items() if p.citekey == corpus.doc_of[pid])
    foreign = lib.paper_count() - len(stored)
    if foreign > 0:
        say(f"the store holds {foreign:,} papers not in this corpus; they count as not relevant")
    summary, per_query = evaluate(lib, corpus, queries, qrels, modes=modes, k=k, say=say)
    judged_docs = {d for docs in qrels.values() for d in docs}
    report = {
        "config": {
            "dataset": data.name,
            "data_dir": str(data),
            "split": split,
            "queries": len(qrels),
            "documents": len(corpus.records),
            "k": k,
            "store": str(lib.store_dir),
            "embedder": lib.settings.embedder,
            "retrieval": lib.settings.retrieval.model_dump(),
            "ingest": rep.to_dict(),
            "collisions": corpus.collisions,
            "lost_documents": len(corpus.lost),
            "judged_lost": len(corpus.lost & judged_docs),
            "skipped_documents": corpus.skipped,
            "foreign_papers": max(foreign, 0),
            "missing_documents": missing,
            # Papers that kept their BEIR id as citekey through the catalogue.
            "citekeys_kept": citekeys,
            "published": {mode: list(v) for mode, v in published(data.name).items()},
        },
        "modes": summary,
    }
    if out is not None:
        write_report(Path(out), report, per_query)
    return report


# --- command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="papers eval",
        description="Retrieval quality on a BEIR-format benchmark folder (corpus.jsonl, "
        "queries.jsonl, qrels/SPLIT.tsv): nDCG@10, recall@K, MRR@10, recall@1/5 per mode.",
    )
    p.add_argument("data_dir", help="BEIR folder, e.g. ../shared/benchmarks/scifact-train")
    p.add_argument(
        "--store",
        required=True,
        help="library to hold the corpus (made if missing; use one of its own)",
    )
    p.add_argument("--split", default="train", help="qrels/SPLIT.tsv to score (default train)")
    p.add_argument(
        "--modes",
        default=",".join(MODES),
        help="search modes, comma-separated (default hybrid,dense,bm25)",
    )
    p.add_argument("--k", type=int, default=100, help="papers retrieved per query (default 100)")
    p.add_argument("--limit", type=int, help="only the first N judged queries")
    p.add_argument("--out", default="eval-out/beir",
                   help="folder for beir.json, beir.md and beir-queries.jsonl")  # fmt: skip
    return p


def _say(stream: TextIO) -> Say:
    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    modes = [x.strip() for x in args.modes.split(",") if x.strip()]
    bad = [x for x in modes if x not in MODES]
    if bad or not modes:
        p.error(f"unknown mode {', '.join(bad) or '(none)'}; use {', '.join(MODES)}")
    if args.k < 1 or (args.limit is not None and args.limit < 1):
        p.error("--k and --limit must be 1 or more")
    if not is_beir_dir(args.data_dir):
        print(f"papers eval: {args.data_dir} is not a BEIR folder (it needs "
              f"{', '.join(LAYOUT)})", file=sys.stderr)  # fmt: skip
        return 1

    try:
        import pytrec_eval  # noqa: F401  (looked for before a long ingest, not after it)
    except ImportError:
        print("papers eval: scoring needs pytrec_eval; run `pip install 'papers[eval]'`",
              file=sys.stderr)  # fmt: skip
        return 1
    from rag import Library, PapersError

    try:
        lib = Library.open(args.store)
        try:
            report = run_beir(lib, args.data_dir, split=args.split, modes=modes, k=args.k,
                              limit=args.limit, out=args.out, say=_say(sys.stderr))  # fmt: skip
        finally:
            lib.close()
    except (PapersError, OSError) as exc:
        print(f"papers eval: {exc}", file=sys.stderr)
        return 1
    print(markdown(report), end="")
    print(f"\nreport: {Path(args.out) / 'beir.json'}; per query: "
          f"{Path(args.out) / 'beir-queries.jsonl'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
