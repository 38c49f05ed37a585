"""The fault battery's bad inputs, one reader at a time: each costs one problem line naming the
file and line, nothing junk comes out, and the good records around it are read."""

from __future__ import annotations

import codecs
import json
import os
import random
from pathlib import Path

import pytest

from rag.errors import SourceError
from rag.sources import Problem, Record, detect_format, iter_records, read_papers
from rag.sources.fields import ABSTRACT_MAX_CHARS, TITLE_MAX_CHARS
from rag.sources.readers import BINARY, NOT_A_FORMAT
from rag.sources.textfile import MAX_LINE_CHARS

ABSTRACT = (
    "We study a problem that matters. Our method is simple and it works well on three benchmarks, "
    "beating strong baselines by a clear margin while using fewer parameters than before."
)


def read(path: Path, **kw) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    return list(iter_records(path, problems.append, **kw)), problems


def good(n: int) -> dict[str, str]:
    return {"title": f"Sound paper {n}", "abstract": f"{ABSTRACT} Number {n}."}


def jsonl(*objs: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def where(problems: list[Problem]) -> list[tuple[str, int]]:
    return [(p.path, p.line) for p in problems]


# -- one bad record never stops the run -------------------------------------------------


def test_lone_surrogate_escape_costs_its_record(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        jsonl(good(1), {"title": "A \ud800 b", "abstract": ABSTRACT}, good(2))
        + jsonl({"title": "Fine title", "abstract": "Text \udfff" + ABSTRACT})
    )
    assert "\\ud800" in path.read_text()  # json.dumps wrote the ASCII escape
    records, problems = read(path)
    assert [r.title for r in records] == ["Sound paper 1", "Sound paper 2"]
    assert [str(p) for p in problems] == [
        f"{path}:2: title holds a lone surrogate (\\ud800), not text; record skipped",
        f"{path}:4: abstract holds a lone surrogate (\\udfff), not text; record skipped",
    ]


def test_surrogates_in_a_metadata_field_cost_only_that_field(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(jsonl({**good(1), "authors": ["Ada \udc80", "Alan Turing"], "doi": "\ud801"}))
    (rec,), problems = read(path)
    assert rec.authors == ("Alan Turing",) and rec.doi is None
    assert [str(p) for p in problems] == [
        f"{path}:1: ignored authors (an entry that is not a name), doi (a lone surrogate "
        "\\ud801); the rest of the record was read"
    ]


def arxiv(**kw: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "id": "2101.00001",
        "title": "An arXiv paper",
        "abstract": ABSTRACT,
        "authors": "A. Author",
        "versions": [{"version": "v1", "created": "Mon, 4 Jan 2021 10:00:00 GMT"}],
        "authors_parsed": [["Author", "A.", ""]],
    }
    obj.update(kw)
    return obj


def test_arxiv_records_with_unsound_fields_keep_what_is_sound(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text(
        jsonl(
            arxiv(),
            arxiv(id="2101.00002", authors_parsed=[["Only"]]),
            arxiv(id="2101.00003", versions="notalist"),
            arxiv(id="2205.00004", versions=[None]),
            arxiv(id="2101.00005", versions={"a": 1}, authors_parsed="Lovelace, Ada"),
            arxiv(id=["2101.00006"], authors_parsed=[None, ["Hopper", "Grace"], 7, [1, 2]]),
            arxiv(id="2101.00007", title=None),
        )
    )
    assert detect_format(path) == "arxiv"
    records, problems = read(path)
    assert [(r.arxiv_id, r.authors, r.year) for r in records] == [
        ("2101.00001", ("A. Author",), 2021),
        ("2101.00002", ("Only",), 2021),
        ("2101.00003", ("A. Author",), 2021),  # the year from the id
        ("2205.00004", ("A. Author",), 2022),
        ("2101.00005", ("A. Author",), 2021),  # authors from the `authors` text
        (None, ("Grace Hopper",), 2021),
    ]
    assert [(p.line, p.message) for p in problems] == [
        (3, "ignored versions (text, not a list); the rest of the record was read"),
        (4, "ignored versions (the first has no creation date); the rest of the record was read"),
        (
            5,
            "ignored authors_parsed (text, not a list), versions (an object, not a list); "
            "the rest of the record was read",
        ),
        (
            6,
            "ignored id (a list, not text), authors_parsed (an entry that is not "
            "[last, first, ...]); the rest of the record was read",
        ),
        (7, "no title; skipped"),
    ]


def test_fields_of_the_wrong_json_type(tmp_path):
    path = tmp_path / "types.jsonl"
    path.write_text(
        jsonl(
            {"title": 42, "abstract": ABSTRACT},
            {"title": ["A", "list"], "abstract": ABSTRACT},
            {"title": "Abstract a list", "abstract": ["a", "b"]},
            {"title": {"nested": "junk"}, "abstract": ABSTRACT},
            {"title": True, "abstract": ABSTRACT},
            {"title": None},
            {**good(1), "authors": 5, "year": [2020], "categories": {"a": 1}, "url": ["u"]},
            {**good(2), "authors": ["Ada Lovelace", None, ["x"]], "year": 2020.0, "doi": 10.5},
            good(3),
        )
    )
    records, problems = read(path)
    assert [(r.title, r.authors, r.year, r.doi, r.url, r.categories) for r in records] == [
        ("Sound paper 1", (), None, None, None, ()),
        ("Sound paper 2", ("Ada Lovelace",), 2020, "10.5", None, ()),
        ("Sound paper 3", (), None, None, None, ()),
    ]
    assert [(p.line, p.message) for p in problems] == [
        (1, "title is a number, not text; record skipped"),
        (2, "title is a list, not text; record skipped"),
        (3, "abstract is a list, not text; record skipped"),
        (4, "title is an object, not text; record skipped"),
        (5, "title is true/false, not text; record skipped"),
        (6, "no title; skipped"),
        (
            7,
            "ignored authors (a number, not a list of names), year (a list, not a year), "
            "url (a list, not text), categories (an object, not a list of names); "
            "the rest of the record was read",
        ),
        (8, "ignored authors (an entry that is not a name); the rest of the record was read"),
    ]


def test_deep_nesting_and_huge_numbers_cost_their_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    huge = '{"title": "T", "abstract": "A", "year": 1' + "0" * 5000 + "}"
    path.write_text(jsonl(good(1)) + deep + "\n" + huge + "\n" + jsonl(good(2)) + deep)
    records, problems = read(path)
    assert [r.title for r in records] == ["Sound paper 1", "Sound paper 2"]
    assert [(p.line, p.message) for p in problems] == [
        (2, "broken JSON (nested too deeply); line skipped"),
        (3, "broken JSON (a number too long to read); line skipped"),
        (5, "broken JSON (nested too deeply); line skipped"),
    ]


def test_not_an_object_says_what_it_is(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(jsonl(good(1), [1, 2], "text", 3, None))
    records, problems = read(path)
    assert len(records) == 1
    assert [p.message for p in problems] == [
        "a list, not a JSON object; line skipped",
        "text, not a JSON object; line skipped",
        "a number, not a JSON object; line skipped",
        "null, not a JSON object; line skipped",
    ]


def test_nul_in_a_line_costs_the_line_not_the_file(tmp_path):
    # One NUL byte in the first 64 KiB used to make the whole file "binary".
    path = tmp_path / "nul.jsonl"
    path.write_bytes(jsonl(good(1)).encode() + b'{"t\x00": 1}\n' + jsonl(good(2)).encode())
    records, problems = read(path)
    assert [r.title for r in records] == ["Sound paper 1", "Sound paper 2"]
    assert [str(p) for p in problems] == [
        f"{path}:2: binary data (NUL bytes) in a text file; line skipped"
    ]


def test_nul_escapes_and_control_characters_never_come_out_as_nul(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(jsonl({"title": "Nul\u0000in\u0000title", "abstract": "A\u0000" + ABSTRACT}))
    (rec,), problems = read(path)
    assert problems == []
    assert rec.title == "Nul in title" and rec.abstract.startswith("A We study")


def test_runaway_fields_and_lines(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(
        jsonl(
            {"title": "T" * (TITLE_MAX_CHARS + 1), "abstract": ABSTRACT},
            {"title": "Long abstract", "abstract": "word " * (ABSTRACT_MAX_CHARS // 4)},
            good(1),
        )
        + "x" * (MAX_LINE_CHARS + 10)
        + "\n"
        + jsonl(good(2))
    )
    records, problems = read(path)
    assert [r.title for r in records] == ["Sound paper 1", "Sound paper 2"]
    assert [(p.line, p.message.split(" is ")[0]) for p in problems] == [
        (1, "title"),
        (2, "abstract"),
        (4, f"line longer than {MAX_LINE_CHARS:,} characters; line skipped"),
    ]
    assert problems[0].message.endswith("; record skipped")


def test_not_utf8_lines_in_pages_cost_one_problem_per_paper(tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes(
        b"Daily Papers\n\nFirst Title\n"
        + ABSTRACT.encode()
        + b"\nCaf\xe9 Title\n"
        + ABSTRACT.encode()
        + b"\nThird Title\n"
        + ABSTRACT.encode()
        + b" Long enough to be an abstract whatever its end: caf\xe9\nFourth Title\n"
        + ABSTRACT.encode()
        + b"\n"
    )
    records, problems = read(path)
    assert [r.title for r in records] == ["First Title", "Fourth Title"]
    assert [str(p) for p in problems] == [
        f"{path}:5: not UTF-8; record skipped",
        f"{path}:8: not UTF-8; paper 'Third Title' skipped",
    ]


def test_csv_blank_lines_keep_line_numbers_right(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f'title,abstract\n\n\nOne,"{ABSTRACT}"\n,,\nTwo,\n')
    records, problems = read(path)
    assert [(r.title, r.line) for r in records] == [("One", 4)]
    assert [str(p) for p in problems] == [f"{path}:6: title 'Two' has no abstract; skipped"]


def test_csv_ragged_rows_and_an_unclosed_quote(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(f'title,abstract\nRagged paper,"{ABSTRACT}"\nonly one field\n"unclosed,quote\n')
    records, problems = read(path)
    assert [r.title for r in records] == ["Ragged paper"]
    assert [p.line for p in problems] == [3, 4]


def test_csv_not_utf8_and_nul_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(
        f'title,abstract\nGood,"{ABSTRACT}"\n'.encode()
        + b'Caf\xe9,"x"\n'
        + b'Nul\x00,"y"\n'
        + f'After,"{ABSTRACT}"\n'.encode()
    )
    records, problems = read(path)
    assert [r.title for r in records] == ["Good", "After"]
    assert [str(p) for p in problems] == [
        f"{path}:3: not UTF-8; row skipped",
        f"{path}:4: binary data (NUL bytes) in a text file; row skipped",
    ]


# -- silent surprises -------------------------------------------------------------------


def test_read_papers_refuses_a_missing_path_before_reading(tmp_path):
    good_file = tmp_path / "good.jsonl"
    good_file.write_text(jsonl(good(1)))
    problems: list[Problem] = []
    with pytest.raises(SourceError, match="nope.csv: no such file or folder"):
        read_papers([good_file, tmp_path / "nope.csv"], problems.append)
    with pytest.raises(SourceError, match="unknown format 'bib'"):
        read_papers([good_file], problems.append, fmt="bib")
    assert problems == []


def test_same_title_with_another_abstract_is_reported(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(jsonl(good(1), good(2)))
    b.write_text(jsonl(good(2), {"title": "SOUND paper 1!", "abstract": "Another abstract."}))
    problems: list[Problem] = []
    papers, n = read_papers([a, b], problems.append)
    assert n == 4
    assert sorted(p.title for p in papers.values()) == ["Sound paper 1", "Sound paper 2"]
    by_title = {p.title: p for p in papers.values()}
    assert by_title["Sound paper 1"].abstract == good(1)["abstract"]
    assert by_title["Sound paper 1"].sources == ("a.jsonl",)  # nothing was taken from b
    assert by_title["Sound paper 2"].sources == ("a.jsonl", "b.jsonl")
    assert [str(p) for p in problems] == [
        f"{b}:2: same title as {a}:1 with a different abstract; kept the first"
    ]


def test_same_arxiv_id_with_another_abstract_is_reported(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text(
        jsonl({**good(1), "arxiv_id": "2101.00001"}, {**good(2), "arxiv_id": "2101.00001v2"})
    )
    problems: list[Problem] = []
    papers, _ = read_papers([a], problems.append)
    assert list(papers) == ["arxiv:2101.00001"]
    assert [p.message for p in problems] == [
        f"same arXiv id (2101.00001) as {a}:1 with a different abstract; kept the first"
    ]


def test_a_file_named_twice_is_read_once(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text(jsonl(good(1), {"title": "broken"}))
    problems: list[Problem] = []
    papers, n = read_papers([a, tmp_path, a], problems.append)
    assert (len(papers), n, len(problems)) == (1, 1, 1)


@pytest.mark.parametrize(
    "codec, bom",
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", codecs.BOM_UTF32_BE),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
    ],
)
@pytest.mark.parametrize("kind", ["jsonl", "csv", "pages"])
def test_byte_order_marks_and_utf16(tmp_path, codec, bom, kind):
    title = "Caf\u00e9 \u4e2d\u6587 \U0001f600 models" if bom else "Plain ASCII models"
    if kind == "jsonl":
        text = jsonl({"title": title, "abstract": ABSTRACT}, good(2))
        name = "p.jsonl"
    elif kind == "csv":
        text = f'title,abstract\n"{title}","{ABSTRACT}"\nSound paper 2,"{good(2)["abstract"]}"\n'
        name = "p.csv"
    else:
        text = f"Daily Papers\n{title}\n{ABSTRACT}\nSound paper 2\n{good(2)['abstract']}\n"
        name = "p.txt"
    path = tmp_path / name
    path.write_bytes(bom + text.encode(codec))
    assert detect_format(path) == kind
    records, problems = read(path)
    assert problems == []
    assert [r.title for r in records] == [title, "Sound paper 2"]
    assert [r.line for r in records] == {"jsonl": [1, 2], "csv": [2, 3], "pages": [2, 4]}[kind]


def test_utf16_bad_units_cost_their_line(tmp_path):
    path = tmp_path / "p.jsonl"
    body = jsonl(good(1)).encode("utf-16-le")
    bad = json.dumps(good(2)).encode("utf-16-le")
    path.write_bytes(
        codecs.BOM_UTF16_LE + body + bad[:10] + b"\x00\xd8" + bad[10:] + "\n".encode("utf-16-le")
        + jsonl(good(3)).encode("utf-16-le") + b"\x41"
    )  # fmt: skip
    records, problems = read(path)
    assert [r.title for r in records] == ["Sound paper 1", "Sound paper 3"]
    assert [str(p) for p in problems] == [
        f"{path}:2: not UTF-16; line skipped",
        f"{path}:4: not UTF-16; line skipped",  # the odd byte at the end
    ]


def test_utf8_bom_no_longer_costs_the_header_or_first_record(tmp_path):
    csv_path = tmp_path / "b.csv"
    csv_path.write_bytes(codecs.BOM_UTF8 + f'title,abstract\nBom paper,"{ABSTRACT}"\n'.encode())
    jsonl_path = tmp_path / "b.jsonl"
    jsonl_path.write_bytes(codecs.BOM_UTF8 + jsonl(good(1), good(2)).encode())
    for path, count in ((csv_path, 1), (jsonl_path, 2)):
        records, problems = read(path)
        assert (len(records), problems) == (count, [])


def test_a_bom_mid_file_from_cat_is_not_broken_json(tmp_path):
    path = tmp_path / "joined.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + jsonl(good(1)).encode() * 2)
    records, problems = read(path)
    assert (len(records), problems) == (2, [])


def test_file_name_that_is_not_utf8_is_a_clean_source(tmp_path):
    name = os.fsdecode(b"caf\xe9.jsonl")
    path = tmp_path / name
    path.write_text(jsonl(good(1)))
    (rec,), _ = read(path)
    assert rec.source == "caf\ufffd.jsonl"


# -- formats papers does not read are refused whole ------------------------------------

BIBTEX = """@article{vaswani2017attention,
  title = {Attention Is All You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  journal = {Advances in Neural Information Processing Systems},
  year = {2017},
  eprint = {1706.03762},
  archiveprefix = {arXiv},
  abstract = {%s}
}
""" % (ABSTRACT * 2)

RIS = f"""TY  - JOUR
TI  - Bayesian measures of model complexity and fit
AU  - Spiegelhalter, David J.
PY  - 2002
AB  - {ABSTRACT * 2}
ER  - 
"""  # noqa: W291

MARKDOWN = f"""# A project

{ABSTRACT * 2}

## Install

```
pip install something
```
"""


@pytest.mark.parametrize(
    "name, content",
    [
        # BibTeX and RIS are read now: tests/sources/test_reference_formats.py.
        ("README.md", MARKDOWN),
        ("data.json", json.dumps([good(1), good(2)], indent=2)),
        ("page.html", f"<html><body><h1>Title</h1><p>{ABSTRACT}</p></body></html>\n"),
        ("notes.txt", "a short note\nanother short note\n"),
    ],
)
def test_formats_papers_does_not_read_are_refused_whole(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) is None
    records, problems = read(path)
    assert records == []
    assert [str(p) for p in problems] == [f"{path}: {NOT_A_FORMAT}"]
    # --format still forces a reading.
    forced, problems = read(path, fmt="pages")
    assert forced or problems


def test_binary_and_empty_files_are_refused_even_when_forced(tmp_path):
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(2000))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_bytes(codecs.BOM_UTF8 + b"\n  \n")
    noise = tmp_path / "noise.txt"
    noise.write_bytes(random.Random(7).randbytes(4096))
    for path, message in (
        (png, BINARY),
        (noise, BINARY),
        (empty, "empty file; nothing to read"),
        (blank, "empty file; nothing to read"),
    ):
        for fmt in (None, "pages"):
            records, problems = read(path, fmt=fmt)
            assert records == []
            assert [str(p) for p in problems] == [f"{path}: {message}"]


def test_a_file_with_no_papers_says_so(tmp_path):
    path = tmp_path / "header-only.txt"
    path.write_text("Daily Papers\n\nSubscribe\n")
    path2 = tmp_path / "header-only.csv"
    path2.write_text("title,abstract\n\n")
    for p in (path, path2):
        records, problems = read(p, fmt="pages" if p is path else None)
        assert records == []
        assert [str(x) for x in problems] == [f"{p}: no papers in this file"]


def test_pages_without_furniture_are_still_pages(tmp_path):
    path = tmp_path / "pasted.txt"
    path.write_text(f"First Title\n\n{ABSTRACT}\n\nSecond Title\n{ABSTRACT}\n")
    assert detect_format(path) == "pages"


def test_csv_detected_by_its_header_whatever_the_name(tmp_path):
    path = tmp_path / "export"
    path.write_text(f'Title,Abstract,Year\nOne,"{ABSTRACT}",2020\n')
    assert detect_format(path) == "csv"


def test_text_in_another_encoding_is_not_called_binary(tmp_path):
    # Undecodable bytes are text in another encoding: each line says so; nothing is guessed.
    path = tmp_path / "latin.csv"
    path.write_bytes(
        f"title,abstract\nGood,{ABSTRACT}\n".encode()
        + "\u00e9t\u00e9,\u00e0 \u00e9\n".encode("latin-1") * 3
    )
    records, problems = read(path)
    assert [r.title for r in records] == ["Good"]
    assert [(p.line, p.message) for p in problems] == [
        (n, "not UTF-8; row skipped") for n in (3, 4, 5)
    ]
    high = tmp_path / "high.txt"
    high.write_bytes(bytes(range(128, 256)) * 8)
    assert read(high) == ([], [Problem(str(high), 0, NOT_A_FORMAT)])
