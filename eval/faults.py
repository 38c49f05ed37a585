"""The fault battery: bad inputs, hostile command lines and killed ingests, run through the
real `papers` command, with what was stored counted after each.

``python -m eval.faults [--out DIR] [--kills N] [--seed S]`` prints one table and writes
``faults.json``; it exits non-zero if any case lost data, stored junk, printed a traceback or
kept quiet about a problem. The README's reliability section is this command's output.
Each case runs ``python -m rag`` in a fresh process, as a user would, so the exception
handler, the sanitiser and the exit codes are what is tested, not the library alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
# Two of the five seed pages (265 non-blank lines): big enough that a kill lands mid-ingest.
KILL_SEEDS = ("001_3f22487a5093c2fe.txt", "003_afdb77409e507053.txt")

_ABSTRACT = (
    "We study how {topic} behaves when the training data is small. Our method combines a "
    "simple baseline with careful regularisation and reaches strong results on three "
    "public benchmarks, while using a fraction of the compute of earlier work."
)


def _abstract(topic: str) -> str:
    return _ABSTRACT.format(topic=topic)


def _jsonl(*objs: object) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objs).encode()


def _good(n: int, tag: str) -> dict[str, str]:
    return {"title": f"A sound paper {tag} number {n}", "abstract": _abstract(f"{tag} {n}")}


@dataclass
class BadInput:
    """One kind of bad input: a file, and how many of its papers are sound."""

    name: str
    filename: str
    content: bytes
    sound: int  # papers in the file that must be stored
    # The whole run is refused (nothing read, good.jsonl included), e.g. a missing path.
    refuses_run: bool = False


def bad_inputs() -> list[BadInput]:
    g = _good
    deep = "[" * 100_000 + "]" * 100_000
    return [
        BadInput("jsonl: broken JSON line", "a.jsonl", _jsonl(g(1, "a")) + b"{not json\n", 1),
        BadInput("jsonl: a line that is not an object", "b.jsonl", _jsonl(g(1, "b"), [1, 2]), 1),
        BadInput("jsonl: no abstract", "c.jsonl", _jsonl(g(1, "c"), {"title": "Only a title"}), 1),
        BadInput("jsonl: no title", "d.jsonl", _jsonl(g(1, "d"), {"abstract": _abstract("x")}), 1),
        BadInput(
            "jsonl: wrong types (title a number, abstract a list)",
            "e.jsonl",
            _jsonl(g(1, "e"), {"title": 42, "abstract": ["a", "b"]}, {"title": None}),
            1,
        ),
        BadInput(
            "jsonl: lone surrogate escape",
            "f.jsonl",
            _jsonl(g(1, "f"), {"title": "Bad \ud800 title", "abstract": _abstract("surrogate")}),
            1,
        ),
        BadInput("jsonl: NUL bytes in a line", "g.jsonl", _jsonl(g(1, "g")) + b'{"t\x00": 1}\n', 1),
        BadInput(
            "jsonl: invalid UTF-8 bytes",
            "h.jsonl",
            _jsonl(g(1, "h")) + b'{"title": "caf\xe9 \xff", "abstract": "x"}\n',
            1,
        ),
        BadInput("jsonl: nesting 100,000 deep", "i.jsonl", _jsonl(g(1, "i")) + deep.encode(), 1),
        BadInput("jsonl: UTF-8 BOM", "j.jsonl", b"\xef\xbb\xbf" + _jsonl(g(1, "j"), g(2, "j")), 2),
        BadInput(
            "jsonl: UTF-16 with BOM",
            "k.jsonl",
            _jsonl(g(1, "k"), g(2, "k")).decode().encode("utf-16"),
            2,
        ),
        BadInput("jsonl: empty file", "l.jsonl", b"", 0),
        BadInput(
            "jsonl: terminal escapes in a title",
            "m.jsonl",
            _jsonl({"title": "Clear \x1b[2J\x1b]0;pwned\x07 screen", "abstract": _abstract("m")}),
            1,
        ),
        BadInput(
            "jsonl: same title twice, different abstracts",
            "n.jsonl",
            _jsonl(g(1, "n"), {"title": g(1, "n")["title"], "abstract": _abstract("other")}),
            1,
        ),
        BadInput("csv: no title/abstract columns", "a.csv", b"name,text\nx,y\n", 0),
        BadInput(
            "csv: UTF-8 BOM before the header",
            "b.csv",
            b"\xef\xbb\xbftitle,abstract\n" + f'Bom paper,"{_abstract("bom")}"\n'.encode(),
            1,
        ),
        BadInput(
            "csv: ragged rows and an unclosed quote",
            "c.csv",
            (
                f'title,abstract\nRagged paper,"{_abstract("csv")}"\nonly one field\n'
                '"unclosed,quote\n'
            ).encode(),
            1,
        ),
        BadInput(
            "arxiv: authors_parsed with a name of one part",
            "a-arxiv.json",
            _jsonl(
                {
                    "id": "2101.00001",
                    "title": "Arxiv one",
                    "abstract": _abstract("ax1"),
                    "authors_parsed": [["Only"]],
                    "versions": [{"created": "Mon, 4 Jan 2021"}],
                }
            ),  # fmt: skip
            1,
        ),
        BadInput(
            "arxiv: versions not a list / a null version",
            "b-arxiv.json",
            _jsonl(
                {
                    "id": "2101.00002",
                    "title": "Arxiv two",
                    "abstract": _abstract("ax2"),
                    "authors_parsed": [],
                    "versions": "notalist",
                },
                {
                    "id": "2101.00003",
                    "title": "Arxiv three",
                    "abstract": _abstract("ax3"),
                    "authors_parsed": [],
                    "versions": [None],
                },
            ),  # fmt: skip
            2,
        ),
        BadInput(
            "pages: a title with no abstract, an abstract with no title",
            "a.txt",
            (
                "Subscribe\nA title alone\n\nA second title\n"
                + _abstract("pages")
                + "\n"
                + _abstract("orphan")
                + "\n"
            ).encode(),  # fmt: skip
            1,
        ),
        BadInput(
            "BibTeX file (a format papers does not read)",
            "refs.bib",
            b"@article{key,\n  title = {A title},\n  archiveprefix = {arXiv},\n}\n",
            0,
        ),
        BadInput(
            "RIS file (a format papers does not read)",
            "refs.ris",
            b"TY  - JOUR\nTI  - Bayesian measures of model complexity and fit\nER  - \n",
            0,
        ),
        BadInput("binary file (PNG header)", "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00", 0),
        BadInput("random bytes", "noise.txt", random.Random(7).randbytes(4096), 0),
        BadInput("a path that does not exist", "missing/nothing.jsonl", b"", 0, refuses_run=True),
    ]


@dataclass
class Outcome:
    case: str
    ok: bool
    why: str = ""
    exit_code: int | None = None
    stderr_lines: int = 0
    papers_before: int | None = None
    papers_after: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _papers(
    args: list[str], env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=kw.pop("timeout", 600),
        **kw,
    )


def _count(store: Path) -> dict[str, int]:
    out = _papers(["stats", "--json", "--store", str(store)])
    if out.returncode != 0:
        raise RuntimeError(f"stats failed: {out.stderr.decode(errors='replace')[-300:]}")
    st = json.loads(out.stdout)
    return {"papers": int(st["papers"]), "chunks": int(st["chunks"])}


def _health(store: Path) -> tuple[bool, str]:
    """Catalogue, Chroma and BM25 agree (``papers doctor``), or why not."""
    out = _papers(["doctor", "--json", "--store", str(store)])
    if out.returncode != 0:
        return False, (out.stdout + out.stderr).decode(errors="replace").strip()[-300:]
    return True, ""


_EXPECTED_STDERR = re.compile(r"papers|\s+\[\d+\] |\[[^\]]*\] sources in ")


def _stderr_problem(proc: subprocess.CompletedProcess) -> str:
    """Why the command's error output is not what a user should see, or ''."""
    err = proc.stderr.decode("utf-8", errors="replace")
    if "Traceback" in err:
        return "printed a traceback"
    # `papers ask` lists its sources ("  [1] title") and its timings on stderr too.
    stray = [ln for ln in err.splitlines() if ln.strip() and not _EXPECTED_STDERR.match(ln)]
    if stray:
        return f"stderr line not from papers: {stray[0][:120]!r}"
    return ""


def run_bad_inputs(work: Path, say: Callable[[str], None]) -> list[Outcome]:
    """Each bad input ingested beside a sound file into a store that already holds papers."""
    outcomes = []
    for i, case in enumerate(bad_inputs()):
        say(f"bad input {i + 1}: {case.name}")
        folder = work / f"bad-{i:02d}"
        store = folder / "store"
        folder.mkdir(parents=True)
        base = folder / "base.jsonl"
        base.write_bytes(_jsonl(*(_good(n, f"base{i}") for n in range(3))))
        first = _papers(["ingest", "--store", str(store), str(base)])
        before = _count(store)["papers"] if first.returncode == 0 else None
        good = folder / "good.jsonl"
        good.write_bytes(_jsonl(_good(1, f"good{i}")))
        bad = folder / case.filename
        if not case.refuses_run:
            bad.parent.mkdir(parents=True, exist_ok=True)
            bad.write_bytes(case.content)
        proc = _papers(["ingest", "--store", str(store), str(good), str(bad)])
        after = _count(store)["papers"]
        want = (before or 0) + (0 if case.refuses_run else 1 + case.sound)
        why = _stderr_problem(proc)
        if not why and after != want:
            why = f"stored {after} papers, expected {want}"
        if not why and case.sound == 0 and not case.refuses_run and proc.stderr.strip() == b"":
            why = "said nothing about a file it could not use"
        if not why and case.refuses_run and proc.returncode == 0:
            why = "exit code 0 for a path that does not exist"
        if not why:
            healthy, detail = _health(store)
            why = "" if healthy else f"store not healthy after: {detail}"
        outcomes.append(
            Outcome(case.name, not why, why, proc.returncode,
                    len(proc.stderr.splitlines()), before, after)
        )  # fmt: skip
    return outcomes


# A question the command store answers, so that the model is really asked.
ON_TOPIC = "How does a simple regularised baseline behave when the training data is small?"


def run_command_faults(work: Path, say: Callable[[str], None]) -> list[Outcome]:
    """Hostile but fair command lines against a store holding papers."""
    store = work / "cmd-store"
    seed = work / "cmd.jsonl"
    seed.write_bytes(_jsonl(*(_good(n, "cmd") for n in range(5))))
    _papers(["ingest", "--store", str(store), str(seed)], check=True)
    a_file = work / "a-file"
    a_file.write_text("not a folder")
    s = ["--store", str(store)]
    cases: list[tuple[str, list[str], dict[str, str], bool]] = [
        # (name, argv, env, must fail)
        ("--store is a regular file (stats)", ["stats", "--store", str(a_file)], {}, True),
        ("--store is a regular file (ingest)",
         ["ingest", "--store", str(a_file), str(seed)], {}, True),
        ("--store under a regular file", ["stats", "--store", str(a_file / "x")], {}, True),
        ("empty query", ["search", "  ", *s], {}, True),
        ("-k 0", ["search", "speech", "-k", "0", *s], {}, True),
        ("-k -1", ["search", "speech", "-k", "-1", *s], {}, True),
        # --no-floor: these are about reaching the model, which a declined question never does.
        ("Ollama host with an invalid port",
         ["ask", ON_TOPIC, "--llm", "ollama:m", "--no-floor", *s],
         {"OLLAMA_HOST": "http://127.0.0.1:99999"}, True),
        ("Ollama host not listening",
         ["ask", ON_TOPIC, "--llm", "ollama:m", "--no-floor", *s],
         {"OLLAMA_HOST": "http://127.0.0.1:9"}, True),
        ("unknown --llm backend", ["ask", "q?", "--llm", "gpt9", *s], {}, True),
        ("bad --year", ["search", "speech", "--year", "20x4", *s], {}, True),
        ("remove with nothing named", ["remove", *s], {}, True),
    ]  # fmt: skip
    outcomes = []
    before = _count(store)["papers"]
    for name, argv, env, must_fail in cases:
        say(f"command: {name}")
        proc = _papers(argv, env)
        why = _stderr_problem(proc)
        if not why and must_fail and proc.returncode == 0:
            why = "exit code 0"
        said = [ln for ln in proc.stderr.decode(errors="replace").splitlines()
                if ln.startswith("papers:")]  # fmt: skip
        if not why and must_fail and len(said) != 1:
            why = f"{len(said)} `papers:` lines on stderr, not one"
        after = _count(store)["papers"]
        if not why and after != before:
            why = f"papers {before} -> {after}"
        outcomes.append(Outcome(name, not why, why, proc.returncode,
                                len(proc.stderr.splitlines()), before, after))  # fmt: skip
    outcomes.append(_invalid_utf8_query(store, before, say))
    outcomes.append(_broken_pipe(store, before, say))
    outcomes.append(_rebuild_while_writing(store, seed, before, say))
    return outcomes


def _invalid_utf8_query(store: Path, before: int, say: Callable[[str], None]) -> Outcome:
    say("command: invalid UTF-8 in a query")
    argv = [os.fsencode(sys.executable), b"-m", b"rag", b"search", b"q \xff\xfe w",
            b"--store", os.fsencode(store)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, timeout=600)
    why = _stderr_problem(proc)
    return Outcome("invalid UTF-8 in a query", not why, why, proc.returncode,
                   len(proc.stderr.splitlines()), before, _count(store)["papers"])  # fmt: skip


def _broken_pipe(store: Path, before: int, say: Callable[[str], None]) -> Outcome:
    say("command: output into a closed pipe")
    cmd = (
        f"{sys.executable} -m rag search speech -k 20 --json --store {store} | head -c 20 "
        ">/dev/null; exit ${PIPESTATUS[0]}"
    )
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=600)
    why = _stderr_problem(proc)
    return Outcome("search --json | head (a closed pipe)", not why, why, proc.returncode,
                   len(proc.stderr.splitlines()), before, _count(store)["papers"])  # fmt: skip


def _rebuild_while_writing(
    store: Path, seed: Path, before: int, say: Callable[[str], None]
) -> Outcome:
    """`ingest --rebuild` while another writer holds the lock must refuse and delete nothing."""
    say("command: ingest --rebuild while another ingest writes")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from filelock import FileLock; "
         f"l = FileLock({str(store / '.ingest.lock')!r}); l.acquire(); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        proc = _papers(["ingest", "--rebuild", "--store", str(store), str(seed)])
    finally:
        holder.kill()
        holder.wait()
    after = _count(store)["papers"]
    why = _stderr_problem(proc)
    if not why and proc.returncode == 0:
        why = "exit code 0"
    if not why and after != before:
        why = f"papers {before} -> {after}"
    return Outcome("ingest --rebuild while another ingest writes", not why, why,
                   proc.returncode, len(proc.stderr.splitlines()), before, after)  # fmt: skip


def run_kills(work: Path, kills: int, seed: int, say: Callable[[str], None]) -> list[Outcome]:
    """SIGKILL an ingest at a random moment, ``kills`` times, then finish it: exact counts."""
    files = [SEEDS / name for name in KILL_SEEDS]
    ref = work / "kill-reference"
    t0 = time.perf_counter()
    _papers(["ingest", "--store", str(ref), *map(str, files)], check=True)
    full = time.perf_counter() - t0
    want = _count(ref)
    rng = random.Random(seed)
    outcomes = []
    for i in range(kills):
        store = work / f"kill-store-{i}"  # a fresh store each time: a kill mid-ingest
        delay = rng.uniform(0.3, full)
        say(f"kill {i + 1}/{kills} after {delay:.1f} s")
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "ingest", "--store", str(store), *map(str, files)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        mid = _count(store)
        rerun = _papers(["ingest", "--store", str(store), *map(str, files)])
        got = _count(store)
        why = _stderr_problem(rerun)
        if not why and got != want:
            why = f"after the rerun {got}, expected {want}"
        if not why:
            healthy, detail = _health(store)
            why = "" if healthy else f"store not healthy: {detail}"
        outcomes.append(Outcome(
            f"ingest killed after {delay:.1f} s" + ("" if killed else " (had finished)"),
            not why, why, rerun.returncode, 0, mid["papers"], got["papers"],
            {"killed": killed, "committed_before_rerun": mid},
        ))  # fmt: skip
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.faults", description=__doc__)
    parser.add_argument("--out", default="faults-out", help="folder for faults.json")
    parser.add_argument("--kills", type=int, default=6, help="ingests to kill (default 6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the kill times")
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        print(f"faults: {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="papers-faults-") as tmp:
        work = Path(tmp)
        sections = {
            "bad inputs": run_bad_inputs(work, say),
            "command lines": run_command_faults(work, say),
            "killed ingests": run_kills(work, args.kills, args.seed, say),
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "faults.json").write_text(
        json.dumps({k: [asdict(o) for o in v] for k, v in sections.items()}, indent=2)
    )
    print("| faults | kinds tried | handled (one-line message, nothing lost, no junk) |")
    print("| --- | --- | --- |")
    for name, outcomes in sections.items():
        print(f"| {name} | {len(outcomes)} | {sum(o.ok for o in outcomes)} |")
    failed = [(n, o) for n, outs in sections.items() for o in outs if not o.ok]
    for name, o in failed:
        print(f"FAILED {name}: {o.case}: {o.why}")
    print(f"wrote {out / 'faults.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
