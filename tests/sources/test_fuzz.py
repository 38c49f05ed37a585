"""Property-based fuzzing of every reader and of format detection.

Each test writes a file mixing good records with bad ones of known kinds, in a random
encoding, and checks the accounting: nothing raises out of ``iter_records``/``read_papers``,
every good record comes out exactly once, every bad one costs exactly one problem line naming
its file and line, and nothing that comes out holds a lone surrogate or a NUL. The expected
outcome of a line is worked out from the bytes written (does this line decode?), not by
running the readers' own code.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.ids import normalise_title
from rag.sources import FORMATS, Problem, Record, detect_format, iter_records, read_papers
from rag.sources.fields import TITLE_MAX_CHARS, clean
from rag.sources.textfile import HEAD_BYTES

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SURROGATE = re.compile("[\ud800-\udfff]")
LINE_BREAK = re.compile(r"\r\n|\r|\n")

BASE_ABSTRACT = (
    "We study a problem that matters to many people. Our method is simple and it works well "
    "on three benchmarks, beating strong baselines by a clear margin while using fewer "
    "parameters and less compute than the methods that came before it"
)


@contextmanager
def scratch() -> Iterator[Path]:
    # Hypothesis runs many examples per test, so pytest's function-scoped tmp_path won't do.
    with tempfile.TemporaryDirectory(prefix="papers-fuzz-") as d:
        yield Path(d)


def read(path: Path, **kw) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    return list(iter_records(path, problems.append, **kw)), problems


def assert_clean(records: list[Record]) -> None:
    """What comes out is text a store can hold: no lone surrogates, no NUL, right types."""
    for r in records:
        texts = [r.title, r.abstract, r.source, *r.authors, *r.categories]
        texts += [t for t in (r.arxiv_id, r.doi, r.url) if t is not None]
        assert all(isinstance(t, str) for t in texts), r
        assert not any(SURROGATE.search(t) or "\x00" in t for t in texts), r
        assert r.title and r.abstract and r.title == clean(r.title)
        assert all(texts[2:]), r  # no blank names or categories
        assert r.year is None or (isinstance(r.year, int) and 1800 <= r.year < 2100), r
        r.title.encode("utf-8")  # what failed in chunking before


# -- encodings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Enc:
    name: str
    bom: bytes
    codec: str  # encodes one line, no mark
    bad_unit: bytes | None  # an undecodable code unit, aligned to the codec's unit size
    unicode: bool = True  # can encode any character

    def encode(self, text: str) -> bytes:
        return text.encode(self.codec, "strict" if self.unicode else "replace")

    def decodes(self, data: bytes) -> str | None:
        """``data`` as text if the reader's encoding decodes it, else None."""
        codec = "utf-8" if self.codec == "latin-1" else self.codec
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            return None


ENCODINGS = [
    Enc("utf-8", b"", "utf-8", b"\xff"),
    Enc("utf-8 with BOM", codecs.BOM_UTF8, "utf-8", b"\xc3("),
    Enc("utf-16-le with BOM", codecs.BOM_UTF16_LE, "utf-16-le", b"\x00\xd8"),
    Enc("utf-16-be with BOM", codecs.BOM_UTF16_BE, "utf-16-be", b"\xdc\x00"),
    Enc("utf-32-le with BOM", codecs.BOM_UTF32_LE, "utf-32-le", b"\x00\x00\x11\x00"),
    Enc("utf-32-be with BOM", codecs.BOM_UTF32_BE, "utf-32-be", b"\x00\x00\xd8\x00"),
    Enc("latin-1", b"", "latin-1", b"\xe9", unicode=False),
]
# UTF-16 without a mark is recognised by its zero bytes: only for mostly-ASCII text.
UTF16_NO_BOM = Enc("utf-16-le without BOM", b"", "utf-16-le", None)

# Any character but surrogates; newlines kept out where a line break would split a record.
any_char = st.characters(exclude_categories=("Cs",))
no_newline = st.characters(exclude_categories=("Cs",), exclude_characters="\n")
few_controls = st.sampled_from(["", "\t", "\x1b", "\x07", "\x7f", "\x85", "\u2028"])
snippet = st.builds(
    lambda s, c: s + c,
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=3),
    few_controls,
)


def loose(enc: Enc, data: bytes) -> str:
    """``data`` decoded as the reader sees it before it judges the line."""
    return data.decode("utf-8" if enc.codec == "latin-1" else enc.codec, "replace")


def splice(data: bytes, unit: int, what: bytes) -> bytes:
    """Insert ``what`` after the first character of an encoded line."""
    return data[:unit] + what + data[unit:]


def unit_size(enc: Enc) -> int:
    return {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}.get(enc.codec, 1)


# -- JSON Lines -------------------------------------------------------------------------

GOOD_JSON_KINDS = ["good", "half"]
BAD_JSON_KINDS = [
    "broken",
    "not_object",
    "no_title",
    "no_abstract",
    "title_type",
    "abstract_type",
    "surrogate_title",
    "surrogate_abstract",
    "deep",
    "huge_int",
    "long_title",
    "bad_bytes",
    "nul",
]
JUNK = [5, True, {"a": 1}, [None], [1, "x"], ["ok", {"b": 2}], 2.5]


@st.composite
def json_item(draw, enc: Enc) -> tuple[str, bytes, tuple[str, str] | None]:
    """``(kind, encoded line, (title, abstract) as they should come out, or None)``."""
    kinds = GOOD_JSON_KINDS + [k for k in BAD_JSON_KINDS if k != "bad_bytes" or enc.bad_unit]
    kind = draw(st.sampled_from(kinds))
    title = draw(st.text(any_char, min_size=1, max_size=30).filter(lambda t: clean(t) != ""))
    abstract = draw(st.text(any_char, min_size=1, max_size=80).filter(lambda t: clean(t) != ""))
    ascii_only = draw(st.booleans()) or not enc.unicode or enc is UTF16_NO_BOM
    obj: object = {"title": title, "abstract": abstract}
    assert isinstance(obj, dict)
    if draw(st.booleans()):
        obj["authors"] = draw(st.one_of(st.text(any_char, max_size=20), st.lists(st.text())))
        obj["year"] = draw(st.one_of(st.integers(1900, 2030), st.text(max_size=12), st.none()))
    if kind == "half":
        field = draw(st.sampled_from(["authors", "categories", "year", "doi", "url", "arxiv_id"]))
        junk = draw(st.sampled_from(JUNK))
        if field in ("authors", "categories") and junk == 2.5:
            junk = {"a": 1}
        if field not in ("authors", "categories") and isinstance(junk, (int, float)):
            junk = [junk] if not isinstance(junk, bool) or field != "year" else junk
        obj[field] = junk
    elif kind == "no_title":
        obj["title"] = draw(st.sampled_from([None, "", "  \t", "\u0000"]))
        if obj["title"] is None:
            del obj["title"]
    elif kind == "no_abstract":
        obj["abstract"] = draw(st.sampled_from([None, "", " \n "]))
    elif kind in ("title_type", "abstract_type"):
        obj[kind.split("_")[0]] = draw(st.sampled_from([42, 1.5, True, [title], {"t": title}]))
    elif kind in ("surrogate_title", "surrogate_abstract"):
        lone = chr(draw(st.integers(0xD800, 0xDFFF)))
        key = kind.split("_")[1]
        at = draw(st.integers(0, len(obj[key])))
        obj[key] = obj[key][:at] + lone + obj[key][at:]
        ascii_only = True  # json.dumps escapes it as \udxxx
    elif kind == "long_title":
        obj["title"] = "T" * (TITLE_MAX_CHARS + 1)
    elif kind == "not_object":
        obj = draw(st.sampled_from([[1, 2], 3, "text", None, True]))
    line = json.dumps(obj, ensure_ascii=ascii_only)
    if kind == "broken":
        line = line[:-1]
    elif kind == "deep":
        depth = 2000
        line = draw(
            st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
        )
    elif kind == "huge_int":
        line = '{"title": "T", "abstract": "A", "year": 1' + "0" * 5000 + "}"
    data = enc.encode(line)
    if kind == "bad_bytes":
        assert enc.bad_unit
        data = splice(data, unit_size(enc), enc.bad_unit)
    elif kind == "nul":
        data = splice(data, unit_size(enc), enc.encode("\x00"))
    expected = (clean(title), clean(abstract)) if kind in GOOD_JSON_KINDS else None
    return kind, data, expected


@st.composite
def jsonl_file(draw):
    enc = draw(st.sampled_from([*ENCODINGS, UTF16_NO_BOM]))
    items = draw(st.lists(json_item(enc), min_size=1, max_size=12))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    blanks = draw(
        st.lists(st.sampled_from(["", "", "  "]), min_size=len(items), max_size=len(items))
    )
    return enc, items, eol, blanks


@FUZZ
@given(jsonl_file())
def test_jsonl_accounting(case):
    enc, items, eol, blanks = case
    chunks = [enc.bom]
    expected_records: list[tuple[int, str, str]] = []
    expected_problems: list[tuple[int, str]] = []
    any_object = False
    n = 0
    size = len(enc.bom)
    for (kind, data, expected), blank in zip(items, blanks, strict=True):
        n += 1
        chunks.append(data + enc.encode(eol))
        size += len(chunks[-1])
        if size <= HEAD_BYTES:  # detection looks at the first 64 KiB
            try:
                any_object |= isinstance(json.loads(loose(enc, data)), dict)
            except (ValueError, RecursionError):
                pass
        text = enc.decodes(data)
        if text is None or "\x00" in text:
            expected_problems.append((n, "line skipped"))
        elif expected is None:
            expected_problems.append((n, "skipped"))
        else:
            expected_records.append((n, *expected))
            if kind == "half":
                expected_problems.append((n, "the rest of the record was read"))
        if blank:
            n += 1
            chunks.append(enc.encode(blank + eol))
    with scratch() as d:
        path = d / "fuzz.jsonl"
        path.write_bytes(b"".join(chunks))
        records, problems = read(path)
    assert all(p.path == str(path) for p in problems)
    assert_clean(records)
    if not any_object and not loose(enc, items[0][1]).startswith("{"):
        # Nothing in the file is a JSON object: refused whole, in one line.
        assert records == [] and [p.line for p in problems] == [0], problems
        return
    assert [(r.line, r.title, r.abstract) for r in records] == expected_records
    assert [p.line for p in problems] == [n for n, _ in expected_problems], problems
    for p, (_, ending) in zip(problems, expected_problems, strict=True):
        assert p.message.endswith(ending), (p, ending)


# -- the arXiv snapshot: every field may hold any JSON -----------------------------------

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(any_char, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
good_text = st.text(any_char, min_size=1, max_size=40).filter(lambda t: clean(t) != "")


def sound(value: object) -> bool:
    return isinstance(value, str) and not SURROGATE.search(value) and clean(value) != ""


@st.composite
def arxiv_object(draw) -> dict[str, object]:
    def maybe(good):
        return draw(st.one_of(good, json_junk))

    return {
        "id": maybe(st.sampled_from(["2101.00001", "hep-th/9901001v2", "1706.03762v7", ""])),
        "versions": maybe(
            st.lists(st.fixed_dictionaries({"created": st.sampled_from(["Mon, 4 Jan 2021", "x"])}))
        ),
        "authors_parsed": maybe(st.lists(st.lists(st.text(max_size=8), max_size=4), max_size=3)),
        "title": maybe(good_text),
        "abstract": maybe(good_text),
        "authors": maybe(st.text(max_size=20)),
        "doi": maybe(st.text(max_size=12)),
        "categories": maybe(st.text(max_size=12)),
        "update_date": maybe(st.sampled_from(["2023-12-19", "soon"])),
    }


@FUZZ
@given(st.lists(arxiv_object(), min_size=1, max_size=10))
def test_arxiv_accounting(objs):
    with scratch() as d:
        path = d / "arxiv-metadata-oai-snapshot.json"
        path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
        assert detect_format(path) == "arxiv"
        records, problems = read(path)
    assert_clean(records)
    by_line: dict[int, list[Problem]] = {}
    for p in problems:
        by_line.setdefault(p.line, []).append(p)
    assert set(by_line) <= set(range(1, len(objs) + 1))
    assert all(len(ps) == 1 for ps in by_line.values()), problems
    kept = [n for n, o in enumerate(objs, start=1) if sound(o["title"]) and sound(o["abstract"])]
    assert [r.line for r in records] == kept
    for n in range(1, len(objs) + 1):
        if n in kept:
            assert n not in by_line or "ignored" in by_line[n][0].message
        else:
            assert by_line[n][0].message.endswith("skipped")


# -- listing pages ----------------------------------------------------------------------

FURNITURE = [
    "new",
    "Get trending papers in your email inbox once a day!",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
    "Mar 11",
]
PAGE_KINDS = ["good", "good", "orphan_title", "orphan_abstract", "bad_title", "bad_abstract"]


@st.composite
def pages_file(draw):
    enc = draw(st.sampled_from([*ENCODINGS, UTF16_NO_BOM]))
    header = draw(st.lists(st.sampled_from(FURNITURE), min_size=1, max_size=4))
    kinds: list[str] = []
    for _ in range(draw(st.integers(1, 12))):
        options = [k for k in PAGE_KINDS if not k.startswith("bad") or enc.bad_unit]
        if kinds and kinds[-1] == "orphan_title":
            options = [k for k in options if k != "orphan_abstract"]  # they would pair up
        kinds.append(draw(st.sampled_from(options)))
    lines: list[tuple[str, str, bool]] = []  # (role, text, spoil it)
    for i, kind in enumerate(kinds):
        title = f"Study {draw(snippet)} number {i}"
        abstract = f"{BASE_ABSTRACT} {draw(snippet)}{draw(st.sampled_from(['', '.']))}"
        if enc is UTF16_NO_BOM:
            title, abstract = f"Study number {i}", BASE_ABSTRACT
        if kind != "orphan_abstract":
            lines.append(("title", title, kind == "bad_title"))
        if kind != "orphan_title":
            lines.append(("abstract", abstract, kind == "bad_abstract"))
    glue = draw(st.booleans()) and header[-1] == "Subscribe" and lines[0][0] == "title"
    blank_between = draw(st.booleans())
    spoil_with_nul = draw(st.booleans())
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return enc, header, kinds, lines, glue, blank_between, spoil_with_nul, eol


@FUZZ
@given(pages_file())
def test_pages_accounting(case):
    enc, header, kinds, lines, glue, blank_between, spoil_with_nul, eol = case
    out = [enc.bom]
    n = 0

    def put(data: bytes) -> int:
        nonlocal n
        n += 1
        out.append(data + enc.encode(eol))
        if blank_between:
            out.append(enc.encode(eol))
            return (n := n + 1) - 1
        return n

    for h in header[:-1] if glue else header:
        put(enc.encode(h))
    placed: list[tuple[str, int, str | None]] = []  # (role, line, decoded text or None)
    for i, (role, text, spoil) in enumerate(lines):
        glued = "Subscribe" if glue and i == 0 else ""
        data = enc.encode(glued + text)
        if spoil:  # in the title or abstract, not in the "Subscribe" glued to it
            what = enc.encode("\x00") if spoil_with_nul or not enc.bad_unit else enc.bad_unit
            data = splice(data, unit_size(enc) * (1 + len(glued)), what)
        decoded = enc.decodes(data)
        if decoded is not None and "\x00" in decoded:
            decoded = None
        if decoded is not None and glue and i == 0:
            decoded = decoded[len("Subscribe") :]
        placed.append((role, put(data), decoded))
    expected_records: list[tuple[int, str, str]] = []
    expected_problems: list[int] = []
    i = 0
    while i < len(placed):
        role, line, text = placed[i]
        nxt = placed[i + 1] if i + 1 < len(placed) else None
        if role == "title" and nxt is not None and nxt[0] == "abstract":
            if text is None:
                expected_problems.append(line)
            elif nxt[2] is None:
                expected_problems.append(nxt[1])
            else:
                expected_records.append((line, clean(text), clean(nxt[2])))
            i += 2
        else:
            expected_problems.append(line)  # an orphan, readable or not
            i += 1
    with scratch() as d:
        path = d / "page.txt"
        path.write_bytes(b"".join(out))
        fmt = detect_format(path)
        records, problems = read(path)
    assert fmt == "pages"
    assert_clean(records)
    assert all(p.path == str(path) for p in problems)
    assert [(r.line, r.title, r.abstract) for r in records] == expected_records
    assert sorted(p.line for p in problems) == sorted(expected_problems), problems
    assert all(p.message.endswith("skipped") for p in problems)


# -- CSV --------------------------------------------------------------------------------

SPOT = "\x01"  # where a row is spoiled; csv_text never holds it
CSV_KINDS = [
    "good",
    "good",
    "no_title",
    "no_abstract",
    "short_row",
    "long_title",
    "bad_bytes",
    "nul",
]
csv_text = st.text(
    st.one_of(st.characters(exclude_categories=("Cs", "Cc")), st.sampled_from('\t\r\n\x1b,"')),
    max_size=40,
)


@st.composite
def csv_file(draw):
    enc = draw(st.sampled_from(ENCODINGS))
    columns = draw(st.permutations(["title", "abstract", *draw(st.sampled_from([[], ["year"]]))]))
    header = [draw(st.sampled_from([c, c.upper(), f" {c.title()} "])) for c in columns]
    rows = []
    for kind in draw(st.lists(st.sampled_from(CSV_KINDS), min_size=1, max_size=10)):
        if kind == "bad_bytes" and not enc.bad_unit:
            kind = "good"
        cells = {
            "title": draw(csv_text.filter(lambda t: clean(t) != "")),
            "abstract": draw(csv_text.filter(lambda t: clean(t) != "")),
            "year": draw(st.sampled_from(["", "2020", "n.d."])),
        }
        if kind in ("bad_bytes", "nul"):
            # Spoiled inside the title, where bad bytes occur, not in the quoting.
            cells["title"] = SPOT + cells["title"]
        elif kind == "no_title":
            cells["title"] = draw(st.sampled_from(["", "  "]))
        elif kind == "no_abstract":
            cells["abstract"] = ""
        elif kind == "long_title":
            cells["title"] = "T" * (TITLE_MAX_CHARS + 1)
        row = [cells[c] for c in columns]
        if kind == "short_row":  # the row ends before its abstract
            row = row[: columns.index("abstract")]
        rows.append((kind, row))
    blanks = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    return enc, columns, header, rows, blanks, eol


@FUZZ
@given(csv_file())
def test_csv_accounting(case):
    enc, columns, header, rows, blanks, eol = case

    def render(cells: list[str]) -> str:
        # "\r\n" as the writer's terminator so that it quotes a field holding either.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(cells)
        return buf.getvalue()[:-2] + eol

    out = [enc.bom + enc.encode(render(header))]
    line = 1 + len(LINE_BREAK.findall(render(header)))
    expected_records: list[tuple[int, str, str]] = []
    expected_problems: list[int] = []
    for (kind, row), blank in zip(rows, blanks, strict=True):
        text = render(row)
        data = enc.encode(text)
        if kind == "bad_bytes":
            assert enc.bad_unit
            data = data.replace(enc.encode(SPOT), enc.bad_unit, 1)
        elif kind == "nul":
            data = data.replace(enc.encode(SPOT), enc.encode("\x00"), 1)
        decoded = enc.decodes(data)
        start = line
        line += len(LINE_BREAK.findall(decoded if decoded is not None else text))
        out.append(data)
        if blank:
            out.append(enc.encode(eol))
            line += 1
        if decoded is None or "\x00" in decoded:
            expected_problems.append(start)
            continue
        cells = dict(zip(columns, next(csv.reader(io.StringIO(decoded, newline=""))), strict=False))
        title, abstract = clean(cells.get("title") or ""), clean(cells.get("abstract") or "")
        if not title and not abstract and not clean(cells.get("year") or ""):
            continue  # a row of blank cells is no record at all
        if title and abstract and len(title) <= TITLE_MAX_CHARS:
            expected_records.append((start, title, abstract))
        else:
            expected_problems.append(start)
    with scratch() as d:
        path = d / "papers.csv"
        path.write_bytes(b"".join(out))
        records, problems = read(path)
    assert_clean(records)
    assert all(p.path == str(path) for p in problems)
    if not expected_records and not expected_problems:
        assert [p.message for p in problems] == ["no papers in this file"]
        return
    assert [(r.line, r.title, r.abstract) for r in records] == expected_records
    assert [p.line for p in problems] == expected_problems, problems
    assert all(p.message.endswith("skipped") for p in problems)


# -- anything at all: random bytes and random mixtures of every format -----------------

LINE_POOL = [
    *FURNITURE,
    "A Title Of A Paper",
    BASE_ABSTRACT,
    json.dumps({"title": "T", "abstract": BASE_ABSTRACT}),
    json.dumps({"id": "2101.00001", "versions": None, "title": "T", "abstract": "A"}),
    '{"title": "broken',
    json.dumps({"id": "2101.00001", "authors_parsed": [["Only"]], "versions": [None]}),
    json.dumps({"title": "Lone \ud800 surrogate", "abstract": BASE_ABSTRACT}),
    json.dumps({"title": 5, "abstract": ["a list"], "authors": {"a": 1}}),
    "[" * 3000,
    "[1, 2]",
    "title,abstract",
    f'"A, title","{BASE_ABSTRACT}"',
    "@article{key,",
    "  title = {A title},",
    "TY  - JOUR",
    "# Heading",
    "",
]


def check_anything(path: Path) -> None:
    n_lines = len(path.read_bytes().splitlines()) + 1
    fmt = detect_format(path)
    assert fmt is None or fmt in FORMATS
    for forced in (None, *FORMATS):
        records, problems = read(path, fmt=forced)
        assert_clean(records)
        assert all(p.path == str(path) and 0 <= p.line <= n_lines for p in problems), problems
        assert all(isinstance(p.message, str) and p.message for p in problems)
        if forced is None and fmt is None:
            assert records == [] and len(problems) == 1


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([".txt", ".jsonl", ".json", ".csv", "", ".bib"]))
def test_random_bytes_never_raise(data, suffix):
    with scratch() as d:
        path = d / f"noise{suffix}"
        path.write_bytes(data)
        check_anything(path)


@FUZZ
@given(
    st.lists(st.one_of(st.sampled_from(LINE_POOL), st.text(any_char, max_size=60)), max_size=20),
    st.sampled_from([*ENCODINGS, UTF16_NO_BOM]),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from([".txt", ".jsonl", ".csv", ""]),
)
def test_mixtures_of_formats_never_raise(lines, enc, eol, suffix):
    with scratch() as d:
        path = d / f"mixed{suffix}"
        path.write_bytes(enc.bom + enc.encode(eol.join(lines)))
        check_anything(path)


# -- read_papers: one paper per id, the first abstract kept, conflicts reported ---------

TITLES = ["Alpha beta", "alpha  BETA!", "Gamma rays", "Delta", "Épsilon"]
ABSTRACTS = ["First abstract about things.", "Second, different abstract."]


@FUZZ
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(TITLES), st.sampled_from(ABSTRACTS)), max_size=6),
        min_size=1,
        max_size=3,
    )
)
def test_read_papers_dedupes_and_reports_conflicts(files):
    with scratch() as d:
        paths = []
        for i, recs in enumerate(files):
            path = d / f"f{i}.jsonl"
            path.write_text(
                "".join(json.dumps({"title": t, "abstract": a}) + "\n" for t, a in recs)
            )
            paths.append(path)
        problems: list[Problem] = []
        papers, n = read_papers(paths, problems.append)
    first: dict[str, tuple[str, str, str, int]] = {}
    sources: dict[str, list[str]] = {}
    conflicts = []
    for path, recs in zip(paths, files, strict=True):
        if not recs:
            continue
        for line, (title, abstract) in enumerate(recs, start=1):
            key = normalise_title(title)
            if key not in first:
                first[key] = (clean(title), abstract, str(path), line)
                sources[key] = [path.name]
            elif first[key][1] != abstract:
                conflicts.append((str(path), line, f"{first[key][2]}:{first[key][3]}"))
            elif path.name not in sources[key]:
                sources[key].append(path.name)
    assert n == sum(len(r) for r in files)
    assert sorted((p.title, p.abstract, p.sources) for p in papers.values()) == sorted(
        (t, a, tuple(sources[normalise_title(t)])) for t, a, _, _ in first.values()
    )
    empty = [str(p) for p, recs in zip(paths, files, strict=True) if not recs]
    assert [p.path for p in problems if p.message == "empty file; nothing to read"] == empty
    same = [p for p in problems if p.message != "empty file; nothing to read"]
    assert [(p.path, p.line, p.message) for p in same] == [
        (path, line, f"same title as {where} with a different abstract; kept the first")
        for path, line, where in conflicts
    ]
