"""Check the evaluation development set (eval/dev.jsonl) against the seed corpus.

Usage::

    python eval/check_dataset.py eval/dev.jsonl [--seeds DIR]

The seed corpus is read with a small self-contained parser (both listing layouts
found in shared/seeds), so this script runs without the rest of the project.
It prints one line per problem (``dev.jsonl:12: ...``) and exits 1, or a one-line
summary and exits 0.

Checks:
 1. every line is a JSON object with the required keys and types; ids are unique;
    ``kind`` is one of KINDS; ``answerable`` agrees with the kind;
 2. every gold title is in the corpus (matched through ``normalize_title``) and is
    spelled exactly as in the seed files;
 3. every ``must_mention`` string occurs (case-insensitive) in a gold abstract;
 4. unanswerable items have no gold and no must_mention; the set has at least
    MIN_TOTAL questions, MIN_UNANSWERABLE unanswerable, MIN_FOLLOWUP follow-ups
    (with ``context_question``), MIN_PARAPHRASE paraphrases, and every seed file
    has at least MIN_GOLD_PER_FILE of its papers among the gold titles;
 5. a paraphrase question shares no distinctive word (nor crude stem) with any of
    its gold titles, and names nothing from a gold abstract: no all-caps acronym,
    no CamelCase token and no capitalised mid-sentence word that also occurs there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"

KINDS = ("fact", "which-paper", "multi", "unanswerable", "followup", "paraphrase")
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "question": str,
    "gold_titles": list,
    "answerable": bool,
    "reference_answer": str,
    "must_mention": list,
    "kind": str,
}
OPTIONAL: dict[str, type | tuple[type, ...]] = {"context_question": str}

MIN_TOTAL = 60
MIN_UNANSWERABLE = 10
MIN_FOLLOWUP = 5
MIN_PARAPHRASE = 20
MIN_GOLD_PER_FILE = 5
MAX_MUST_MENTION_CHARS = 40

# ---------------------------------------------------------------------------
# Seed corpus parsing
# ---------------------------------------------------------------------------

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox once a day!",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
DATE_LINE = re.compile(
    r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(, ?\d{4})?$", re.I
)
SUBSCRIBE = "Subscribe"


@dataclass(frozen=True)
class SeedPaper:
    title: str
    abstract: str
    source: str  # seed file name


def parse_seed_text(text: str) -> list[tuple[str, str]]:
    """Return (title, abstract) pairs from one saved listing page.

    Layout (a): header lines, then "Subscribe" glued to the first title, then
    alternating title line / abstract line. Layout (b): blank-line separated
    paragraphs, header paragraphs (new, Subscribe, Daily Papers, byAK..., a date),
    then alternating title / abstract paragraphs.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if re.search(r"\n[ \t]*\n", text):
        chunks = [" ".join(p.split("\n")).strip() for p in re.split(r"\n[ \t]*\n", text)]
    else:
        chunks = [line.strip() for line in text.split("\n")]
    chunks = [c for c in chunks if c]
    start = 0
    while start < len(chunks):
        c = chunks[start]
        if c.casefold() in HEADER_LINES or DATE_LINE.match(c):
            start += 1
            continue
        if c.startswith(SUBSCRIBE) and len(c) > len(SUBSCRIBE):
            chunks[start] = c[len(SUBSCRIBE) :].strip()
        break
    body = chunks[start:]
    pairs = []
    for i in range(0, len(body), 2):
        title = body[i]
        abstract = body[i + 1] if i + 1 < len(body) else ""
        pairs.append((title, abstract))
    return pairs


def load_corpus(seeds_dir: Path) -> list[SeedPaper]:
    papers: list[SeedPaper] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        for title, abstract in parse_seed_text(path.read_text(encoding="utf-8")):
            papers.append(SeedPaper(title, abstract, path.name))
    return papers


def normalize_title(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    return re.sub(r"[\W_]+", " ", s).strip()


# ---------------------------------------------------------------------------
# Paraphrase word overlap
# ---------------------------------------------------------------------------

# Common English function words, then generic research words that say nothing
# about which paper is meant. Anything else shared with a gold title is
# "distinctive" and fails a paraphrase.
FUNCTION_WORDS = """
a an the of for in on with to and or by from at as is are was were be been being
do does did done doing not no nor but if then than so such this that these those
it its it's they them their there here we our us you your i me my he she his her
what which who whom whose when where why how all any each every both either neither
some many much more most less least few one two three into onto out up down over
under about above below between among through across without within along after
before again back also only just very really still even can could may might must
shall should will would need needs needed have has had get gets got make makes made
let lets s t vs etc e g ie eg de
""".split()

GENERIC_RESEARCH_WORDS = """
paper papers work works study studies studied approach approaches method methods
technique techniques framework frameworks model models modeling modelling system systems
learning learn learns learned learnt using use used uses via based toward towards new
novel network networks net nets deep neural data dataset datasets analysis analyzing
analyze efficient effective effectively improving improve improved improves simple
task tasks general generic better good large scale scalable performance result results
problem problems solution solutions algorithm algorithms architecture architectures
perspective perspectives review survey benchmark benchmarks evaluation evaluating evaluate
""".split()

STOPWORDS = frozenset(FUNCTION_WORDS) | frozenset(GENERIC_RESEARCH_WORDS)

# Longest first; a suffix is stripped only if at least 3 characters remain.
SUFFIXES = (
    "izations", "ization", "ications", "ication", "ational", "ations", "ation", "itions",
    "ition", "ating", "ated", "ates", "ate", "ings", "ing", "ments", "ment", "ness", "ities",
    "ity", "ives", "ive", "ers", "er", "ies", "ied", "ed", "es", "ly", "al", "s",
)  # fmt: skip


def tokenize(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return [t for t in re.split(r"[\W_]+", text) if t]


def stem(word: str) -> str:
    """A crude stemmer: strip one common suffix, a final 'e' and a doubled consonant."""
    for suf in SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            word = word[: -len(suf)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


def distinctive_tokens(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in STOPWORDS and len(t) > 1]


def _same_root(a: str, b: str) -> bool:
    """Two stems share a root if equal, or if the shorter (>= 4 letters) begins the longer
    (so "quantiz" ~ "quant", "simul" ~ "simul", "photo" ~ "photograph")."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def shared_title_words(question: str, title: str) -> list[str]:
    """Distinctive words of ``title`` that ``question`` repeats, directly or by stem."""
    q_tokens = set(distinctive_tokens(question))
    q_stems = {stem(t) for t in q_tokens}
    shared = []
    for t in distinctive_tokens(title):
        if t in shared:
            continue
        if t in q_tokens or any(_same_root(stem(t), s) for s in q_stems):
            shared.append(t)
    return shared


ACRONYM = re.compile(r"^[A-Z0-9]*[A-Z][A-Z0-9]*[A-Z][A-Z0-9]*s?$")  # two or more capitals
CAMEL = re.compile(r"^[A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*$")  # a capital after lowercase


def name_like_tokens(question: str, abstract: str) -> list[str]:
    """Acronyms, CamelCase words and capitalised mid-sentence words of ``question``
    that also occur (case-insensitively) as tokens of ``abstract``."""
    abstract_tokens = set(tokenize(abstract))
    found: list[str] = []
    question = unicodedata.normalize("NFKC", question)
    for sentence in re.split(r"(?<=[.?!:;])\s+", question):
        words = [t for t in re.split(r"[^0-9A-Za-z]+", sentence) if t]
        for i, tok in enumerate(words):
            is_name = bool(ACRONYM.match(tok) or CAMEL.match(tok))
            if not is_name and i > 0 and tok[:1].isupper():
                is_name = True  # capitalised mid-sentence: a proper name
            if is_name and tok.casefold() in abstract_tokens and tok not in found:
                found.append(tok)
    return found


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    problems: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    per_file: Counter = field(default_factory=Counter)
    total: int = 0

    def add(self, lineno: int | None, msg: str) -> None:
        where = f"{self.name}:{lineno}" if lineno is not None else self.name
        self.problems.append(f"{where}: {msg}")

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {self.kinds.get(k, 0)}" for k in KINDS)
        files = ", ".join(f"{f[:3]} {n}" for f, n in sorted(self.per_file.items()))
        return (
            f"{self.name}: {self.total} questions ok ({kinds}; gold papers per seed file: {files})"
        )


def _check_types(item: dict, report: Report, lineno: int) -> bool:
    good = True
    for key, typ in REQUIRED.items():
        if key not in item:
            report.add(lineno, f"missing key {key!r}")
            good = False
        elif not isinstance(item[key], typ):
            report.add(lineno, f"key {key!r} should be {typ.__name__}")
            good = False
    for key, typ in OPTIONAL.items():
        if key in item and not isinstance(item[key], typ):
            report.add(lineno, f"key {key!r} should be {typ.__name__}")
            good = False
    unknown = set(item) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        report.add(lineno, f"unknown keys {sorted(unknown)}")
    if not good:
        return False
    for key in ("gold_titles", "must_mention"):
        if not all(isinstance(x, str) and x.strip() for x in item[key]):
            report.add(lineno, f"{key!r} must hold non-empty strings")
            good = False
    for key in ("id", "question", "reference_answer"):
        if not item[key].strip():
            report.add(lineno, f"{key!r} is empty")
            good = False
    return good


def check_dataset(dataset: Path, seeds_dir: Path) -> Report:
    report = Report(dataset.name)
    corpus = load_corpus(seeds_dir)
    if not corpus:
        report.add(None, f"no seed papers found in {seeds_dir}")
        return report
    by_norm: dict[str, list[SeedPaper]] = {}
    for p in corpus:
        by_norm.setdefault(normalize_title(p.title), []).append(p)

    ids: dict[str, int] = {}
    gold_by_file: dict[str, set[str]] = {}
    followups_with_context = 0
    lines = dataset.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            report.add(lineno, f"invalid JSON: {e.msg}")
            continue
        if not isinstance(item, dict):
            report.add(lineno, "line is not a JSON object")
            continue
        report.total += 1
        if not _check_types(item, report, lineno):
            continue

        qid, kind, golds = item["id"], item["kind"], item["gold_titles"]
        if qid in ids:
            report.add(lineno, f"duplicate id {qid!r} (first on line {ids[qid]})")
        else:
            ids[qid] = lineno
        if kind not in KINDS:
            report.add(lineno, f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
            continue
        report.kinds[kind] += 1

        # 4. unanswerable / answerable consistency
        if kind == "unanswerable":
            if item["answerable"] is not False:
                report.add(lineno, "unanswerable item must have answerable=false")
            if golds:
                report.add(lineno, "unanswerable item must have no gold_titles")
            if item["must_mention"]:
                report.add(lineno, "unanswerable item must have no must_mention")
        else:
            if item["answerable"] is not True:
                report.add(lineno, f"{kind} item must have answerable=true")
            if not golds:
                report.add(lineno, f"{kind} item has no gold_titles")
        if kind == "multi" and len(golds) < 2:
            report.add(lineno, "multi item needs at least 2 gold titles")
        if kind == "fact" and not item["must_mention"]:
            report.add(lineno, "fact item needs at least one must_mention")
        if kind == "followup":
            if item.get("context_question", "").strip():
                followups_with_context += 1
            else:
                report.add(lineno, "followup item has no context_question")
        if len(set(map(normalize_title, golds))) != len(golds):
            report.add(lineno, "gold_titles repeats a title")

        # 2. gold titles exist
        gold_papers: list[SeedPaper] = []
        for title in golds:
            matches = by_norm.get(normalize_title(title))
            if not matches:
                report.add(lineno, f"gold title not in corpus: {title!r}")
                continue
            if all(m.title != title for m in matches):
                report.add(
                    lineno,
                    f"gold title not spelled as in the corpus: {title!r} "
                    f"(corpus: {matches[0].title!r})",
                )
            gold_papers.extend(matches)
            for m in matches:
                gold_by_file.setdefault(m.source, set()).add(normalize_title(m.title))

        # 3. must_mention occurs in a gold abstract
        abstracts = [p.abstract for p in gold_papers]
        for s in item["must_mention"]:
            if len(s) > MAX_MUST_MENTION_CHARS:
                report.add(lineno, f"must_mention too long (> {MAX_MUST_MENTION_CHARS}): {s!r}")
            if abstracts and not any(s.casefold() in a.casefold() for a in abstracts):
                report.add(lineno, f"must_mention not in any gold abstract: {s!r}")

        # 5. paraphrase: no distinctive title word, no names from the abstract
        if kind == "paraphrase":
            for title in golds:
                shared = shared_title_words(item["question"], title)
                if shared:
                    report.add(
                        lineno,
                        f"paraphrase shares title words {shared} with {title!r}",
                    )
            for p in gold_papers:
                names = name_like_tokens(item["question"], p.abstract)
                if names:
                    report.add(
                        lineno,
                        f"paraphrase names {names} from the abstract of {p.title!r}",
                    )
                    break

    # 4. counts
    if report.total < MIN_TOTAL:
        report.add(None, f"only {report.total} questions (need >= {MIN_TOTAL})")
    if report.kinds["unanswerable"] < MIN_UNANSWERABLE:
        report.add(
            None,
            f"only {report.kinds['unanswerable']} unanswerable (need >= {MIN_UNANSWERABLE})",
        )
    if followups_with_context < MIN_FOLLOWUP:
        report.add(
            None,
            f"only {followups_with_context} followups with context (need >= {MIN_FOLLOWUP})",
        )
    if report.kinds["paraphrase"] < MIN_PARAPHRASE:
        report.add(
            None, f"only {report.kinds['paraphrase']} paraphrases (need >= {MIN_PARAPHRASE})"
        )
    for source in sorted({p.source for p in corpus}):
        n = len(gold_by_file.get(source, ()))
        report.per_file[source] = n
        if n < MIN_GOLD_PER_FILE:
            report.add(
                None, f"seed file {source} has {n} gold papers (need >= {MIN_GOLD_PER_FILE})"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="the JSONL file to check")
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="seed corpus directory")
    args = ap.parse_args(argv)
    if not args.dataset.is_file():
        print(f"{args.dataset}: no such file")
        return 2
    if not args.seeds.is_dir():
        print(f"{args.seeds}: no such seed directory")
        return 2
    report = check_dataset(args.dataset, args.seeds)
    if report.ok:
        print(report.summary())
        return 0
    for problem in report.problems:
        print(problem)
    print(f"{report.name}: {len(report.problems)} problem(s) in {report.total} questions")
    return 1


if __name__ == "__main__":
    sys.exit(main())
