"""BibTeX, RIS and CSL-JSON exports of one reference-manager library, read through
``iter_records``, a real ``Library`` and the CLI (fixtures: tests/fixtures/library/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag import cli
from rag.sources import Problem, Record, detect_format, iter_records, paper_from_record
from rag.sources.bibtex import parse_bibtex
from rag.sources.readers import NOT_A_FORMAT
from tests.conftest import seed_file

LIB = Path(__file__).resolve().parents[1] / "fixtures" / "library"
BIB, RIS, CSL = LIB / "zotero-export.bib", LIB / "zotero-export.ris", LIB / "zotero-export.json"
BROKEN_BIB, BROKEN_RIS = LIB / "broken.bib", LIB / "broken.ris"
NO_ABSTRACT = [
    "lund2020survey",
    "otieno2023position",
    "bergstrom2022erratum",
    "dubois2023workshop",
    "richter2021thesis",
    "icml2023proc",
]
AWQ_TITLE = "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"


def read(path: Path, **kw) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    return list(iter_records(path, problems.append, **kw)), problems


def line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# Where each format's entry for a key starts, found in the file's text independently of the
# readers: the `@type{key,` line, the `TY  -` line before `ID  - key`, the `{` of the item.
def bib_line(path: Path, key: str) -> int:
    text = path.read_text(encoding="utf-8")
    return line_at(text, text.index(f"{{{key},\n"))


def ris_line(path: Path, key: str) -> int:
    text = path.read_text(encoding="utf-8")
    return line_at(text, text.rindex("TY  - ", 0, text.index(f"ID  - {key}\n")))


def csl_line(path: Path, key: str) -> int:
    text = path.read_text(encoding="utf-8")
    return line_at(text, text.rindex("\n  {", 0, text.index(f'"id": "{key}"')) + 1)


def no_abstract(path: Path, line: int, key: str) -> str:
    return f"{path}:{line}: `{key}` has no abstract; skipped (papers answers from abstracts)"


def by_key(records: list[Record]) -> dict[str, Record]:
    return {r.citekey: r for r in records if r.citekey}


def seed_abstract(title: str) -> str:
    lines = seed_file("003").read_text(encoding="utf-8").split("\n")
    return lines[lines.index(title) + 2]


# -- detection ---------------------------------------------------------------------------


def test_exports_are_detected_by_name_and_by_content(tmp_path):
    assert [detect_format(p) for p in (BIB, RIS, CSL)] == ["bibtex", "ris", "csljson"]
    for src, fmt in ((BIB, "bibtex"), (RIS, "ris"), (CSL, "csljson")):
        renamed = tmp_path / f"export-{fmt}.txt"
        shutil.copy(src, renamed)
        assert detect_format(renamed) == fmt
    # A BibTeX file that opens with a comment and an entry, under no telling name.
    plain = tmp_path / "refs"
    plain.write_text("% from JabRef\n\n@Article{a,\n  title = {T}\n}\n")
    assert detect_format(plain) == "bibtex"


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.txt", "Reading list\n\nTY is not a tag here\n@ the meeting we said\n"),
        ("array.json", json.dumps([{"title": "T", "abstract": "A"}], indent=2)),
        ("numbers.json", "[1, 2, 3]\n"),
        ("README.md", "# refs\n\n@article{x, is how BibTeX starts}\n"),
    ],
)
def test_files_in_none_of_the_formats_are_still_refused_whole(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) is None
    assert read(path) == ([], [Problem(str(path), 0, NOT_A_FORMAT)])


# -- BibTeX ------------------------------------------------------------------------------


def test_bibtex_export_reads_54_of_60_entries_with_a_line_for_each_skip():
    records, problems = read(BIB)
    assert len(records) == 54
    assert [str(p) for p in problems] == [
        no_abstract(BIB, bib_line(BIB, k), k) for k in NO_ABSTRACT
    ]
    assert sum("skipped" in p.message for p in problems) == 6
    assert len({r.citekey for r in records}) == 54
    assert all(r.source == BIB.name for r in records)
    assert all(r.line == bib_line(BIB, r.citekey) for r in records)


def test_bibtex_accents_braces_macros_and_crossref_are_resolved():
    recs = by_key(read(BIB)[0])
    assert recs["muller2023sparse"].authors == ("Jörg Müller", "Ana García", "Wei Chen")
    assert recs["francois2022calibration"].authors[:2] == ("Lucie François", "Emre Çelik")
    assert recs["sorensen2021contrastive"].authors == ("Søren Sørensen", "Łukasz Kowalski")
    assert recs["dvorak2022graph"].authors[0] == "Tomáš Dvořák"
    assert recs["yilmaz2022active"].authors[0] == "Ayşe Yılmaz"
    # Protected capitals, a title protected whole, a title in quotes: no braces left.
    assert recs["lin2024awq"].title == AWQ_TITLE
    assert recs["fernandez2022kernels"].title == "Neural Tangent Kernels of Attention Layers"
    assert recs["mendes2022curriculum"].title == (
        "Curriculum Learning for Neural Machine Translation by Estimated Difficulty"
    )
    assert not any("{" in r.title or "\\" in r.title for r in recs.values())
    assert "40% and matches" in recs["muller2023sparse"].abstract  # `40\%` decoded
    # Year from biblatex's `date`, and from the crossref'd proceedings.
    assert recs["zoe2023diffusion"].year == 2023
    child = recs["zimmermann2023scaling"]
    assert child.year == 2023
    assert (child.doi, child.url) == (None, None)  # the proceedings' identity is not inherited
    assert recs["muller2023sparse"].arxiv_id == "2305.11842"
    assert recs["francois2022calibration"].doi == "10.5555/jmlr.2022.0412"
    assert recs["francois2022calibration"].url == "https://doi.org/10.5555/jmlr.2022.0412"
    assert recs["muller2023sparse"].categories == ("mixture of experts", "efficiency")

    fields = {e.key: e.fields for e in parse_bibtex(BIB.read_text("utf-8"), str(BIB), print)}
    assert fields["francois2022calibration"]["journal"] == "Journal of Machine Learning Research"
    assert fields["nunez2023tokenfree"]["booktitle"] == (
        "Advances in Neural Information Processing Systems"
    )
    inherited = fields["zimmermann2023scaling"]
    assert inherited["booktitle"] == (
        "Proceedings of the 40th International Conference on Machine Learning"
    )
    assert (inherited["publisher"], inherited["volume"]) == ("PMLR", "202")


def test_bibtex_keeps_each_entry_exactly_as_written():
    text = BIB.read_text(encoding="utf-8")
    records = read(BIB)[0]
    for r in records:
        start = text.index(f"{{{r.citekey},\n")
        start = text.rindex("@", 0, start)
        assert r.bibtex == text[start : text.index("\n}\n", start) + 2]
    awq = by_key(records)["lin2024awq"]
    assert awq.bibtex is not None and "{{AWQ}: Activation-aware" in awq.bibtex
    assert "booktitle = mlsys," in awq.bibtex  # the macro, as the user wrote it


def test_bibtex_line_ends_are_kept_and_lines_still_count(tmp_path):
    path = tmp_path / "crlf.bib"
    entry = "@misc{a,\r\n  title = {One},\r\n  abstract = {An abstract.}\r\n}"
    path.write_bytes(f"% top\r\n\r\n{entry}\r\n".encode())
    (rec,), problems = read(path)
    assert problems == []
    assert (rec.line, rec.bibtex, rec.title) == (3, entry, "One")


def test_bibtex_entry_with_bytes_that_are_not_utf8_costs_only_itself(tmp_path):
    path = tmp_path / "latin.bib"
    good = b"@misc{good,\n  title = {Good},\n  abstract = {Fine.}\n}\n"
    bad = "@misc{bad,\n  title = {M\u00fcller},\n  abstract = {Caf\u00e9.}\n}\n".encode("latin-1")
    path.write_bytes(good + b"\n" + bad)
    records, problems = read(path)
    assert [r.citekey for r in records] == ["good"]
    assert [str(p) for p in problems] == [f"{path}:6: `bad`: not UTF-8; entry skipped"]


def test_broken_bibtex_entries_cost_only_themselves():
    records, problems = read(BROKEN_BIB)
    assert [r.citekey for r in records] == ["goodone2021", "goodtwo2022", "goodthree2023"]
    assert records[0].authors == ("Rachel Ng", "Jörg Müller")
    assert [(p.line, p.message) for p in problems] == [
        (
            bib_line(BROKEN_BIB, "broken2022"),
            "broken BibTeX entry (Unexpected block start: `@misc`. Was still looking for "
            "field-value closing `}`); entry skipped",
        ),
        (24, "duplicate key `goodone2021` (first at line 3); entry skipped"),
        (
            bib_line(BROKEN_BIB, "noabstract2020"),
            "`noabstract2020` has no abstract; skipped (papers answers from abstracts)",
        ),
    ]
    assert all(p.path == str(BROKEN_BIB) for p in problems)


# -- RIS -------------------------------------------------------------------------------


def test_ris_export_reads_54_of_60_records_with_a_line_for_each_skip():
    records, problems = read(RIS)
    assert len(records) == 54
    assert [str(p) for p in problems] == [
        no_abstract(RIS, ris_line(RIS, k), k) for k in NO_ABSTRACT
    ]
    assert all(r.line == ris_line(RIS, r.citekey) for r in records)
    recs = by_key(records)
    assert recs["muller2023sparse"].authors == ("Jörg Müller", "Ana García", "Wei Chen")
    assert recs["muller2023sparse"].arxiv_id == "2305.11842"  # from its arXiv URL
    assert recs["zoe2023diffusion"].year == 2023


def test_broken_ris_records_cost_only_themselves():
    records, problems = read(BROKEN_RIS)
    assert [r.citekey for r in records] == ["risgood1", "risgood2", "risgood3"]
    assert records[1].authors == ("Jörg Müller",)
    assert [str(p) for p in problems] == [
        f"{BROKEN_RIS}:9: RIS record has no `ER  -` line before the next record (line 14); "
        "record skipped",
        f"{BROKEN_RIS}:22: text outside any RIS record (records run from `TY  -` to `ER  -`); "
        "ignored",
        f"{BROKEN_RIS}:24: `risnotitle` has no title; skipped",
    ]


# -- CSL-JSON --------------------------------------------------------------------------


def test_csljson_export_reads_54_of_60_items_with_a_line_for_each_skip():
    records, problems = read(CSL)
    assert len(records) == 54
    assert [str(p) for p in problems] == [
        no_abstract(CSL, csl_line(CSL, k), k) for k in NO_ABSTRACT
    ]
    assert all(r.line == csl_line(CSL, r.citekey) for r in records)
    recs = by_key(records)
    assert recs["muller2023sparse"].arxiv_id == "2305.11842"  # from `number: arXiv:...`
    assert recs["zoe2023diffusion"].year == 2023


def test_broken_csljson_keeps_the_items_before_the_break(tmp_path):
    items = [
        {"id": f"k{i}", "type": "article", "title": f"Paper {i}", "abstract": f"Abstract {i}."}
        for i in range(3)
    ]
    text = json.dumps(items, indent=2)
    # A number where an item goes, and then an item whose string never closes.
    text = text.replace('  {\n    "id": "k1"', '  7,\n  {\n    "id": "k1"', 1)
    text = text.replace('"Paper 2",', '"Paper 2,', 1)
    path = tmp_path / "zotero.json"
    path.write_text(text)
    assert detect_format(path) == "csljson"
    records, problems = read(path)
    assert [r.citekey for r in records] == ["k0", "k1"]
    with pytest.raises(json.JSONDecodeError) as broken:  # where json itself says it breaks
        json.loads(text)
    assert broken.value.lineno == line_at(text, text.index('"Paper 2,'))
    assert [str(p) for p in problems] == [
        f"{path}:8: a number, not a CSL item; item skipped",
        f"{path}:{broken.value.lineno}: broken JSON ({broken.value.msg}); rest of file skipped",
    ]


# -- the same library in three formats -------------------------------------------------


def test_three_exports_of_one_library_give_the_same_papers():
    def pairs(recs):
        return {(" ".join(r.title.casefold().split()), r.abstract) for r in recs}

    bib, ris, csl = (read(p)[0] for p in (BIB, RIS, CSL))
    assert len(pairs(bib)) == 54
    assert pairs(bib) == pairs(ris) == pairs(csl)
    for other in (ris, csl):
        assert {r.citekey for r in other} == {r.citekey for r in bib}
        assert {paper_from_record(r).paper_id for r in other} == {
            paper_from_record(r).paper_id for r in bib
        }
        mine = by_key(other)
        for r in bib:
            o = mine[r.citekey]
            assert (o.authors, o.year, o.arxiv_id, o.doi, o.categories) == (
                r.authors,
                r.year,
                r.arxiv_id,
                r.doi,
                r.categories,
            ), r.citekey
    awq = by_key(bib)["lin2024awq"]
    assert (awq.arxiv_id, awq.abstract) == ("2306.00978", seed_abstract(AWQ_TITLE))


@pytest.mark.parametrize("export", [RIS, CSL], ids=["ris", "csljson"])
def test_bibtex_written_for_ris_and_csl_entries_reads_back_the_same(tmp_path, export):
    records = read(export)[0]
    assert all(r.bibtex and r.bibtex.startswith("@") for r in records)
    back = tmp_path / "written.bib"
    back.write_text("\n".join(r.bibtex or "" for r in records), encoding="utf-8")
    again, problems = read(back)
    assert problems == []
    fields = ("citekey", "title", "abstract", "authors", "year", "arxiv_id", "doi", "url")
    for r, b in zip(records, again, strict=True):
        assert [getattr(b, f) for f in fields] == [getattr(r, f) for f in fields]
        assert b.categories == r.categories
    rendered = by_key(records)["francois2022calibration"].bibtex or ""
    assert rendered.startswith("@article{francois2022calibration,")
    assert "journal = {Journal of Machine Learning Research}" in rendered
    assert "Fran\\c{c}ois, Lucie" in rendered


# -- through a real library and the CLI --------------------------------------------------


def test_library_ingests_the_bibtex_export(library):
    rep = library.ingest([BIB])
    assert (rep.records, rep.added, rep.skipped, len(rep.problems)) == (54, 54, 6, 6)
    assert [p.line for p in rep.problems] == [bib_line(BIB, k) for k in NO_ABSTRACT]
    (awq,) = library.storage.catalogue.find_titles("Activation-aware Weight Quantization")
    assert (awq.citekey, awq.arxiv_id) == ("lin2024awq", "2306.00978")
    text = BIB.read_text(encoding="utf-8")
    start = text.index("@inproceedings{lin2024awq,")
    assert awq.bibtex == text[start : text.index("\n}\n", start) + 2]
    assert library.stats()["papers"] == 54


def test_library_merges_the_ris_and_csl_exports_into_the_same_54_papers(library):
    rep = library.ingest([RIS, CSL])
    assert (rep.records, rep.added, rep.skipped) == (108, 54, 12)
    (paper,) = library.storage.catalogue.find_titles("Consistency Distillation for Few-Step")
    assert paper.sources == (RIS.name, CSL.name)


def test_cli_ingest_of_a_bib_file_prints_problem_lines_and_the_summary(tmp_path, capsys):
    refs = tmp_path / "refs.bib"
    shutil.copy(BROKEN_BIB, refs)
    assert cli.main(["ingest", "--store", str(tmp_path / "store"), str(refs)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    # bibtexparser's own log lines about the broken entry stay out of the user's terminal.
    assert err.splitlines() == [
        f"papers: {refs}:11: broken BibTeX entry (Unexpected block start: `@misc`. Was still "
        "looking for field-value closing `}`); entry skipped",
        f"papers: {refs}:24: duplicate key `goodone2021` (first at line 3); entry skipped",
        f"papers: {refs}:30: `noabstract2020` has no abstract; skipped (papers answers from "
        "abstracts)",
    ]
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("ingest: 3 added, 0 updated, 0 unchanged, 3 skipped"), summary
    assert "(3 records read, 3 chunks embedded" in summary, summary


# -- any format forced on any file ---------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, problem",
    [
        ("bibtex", (0, "no papers in this file")),
        ("ris", (1, "text outside any RIS record (records run from `TY  -` to `ER  -`); ignored")),
        ("csljson", (1, "not a CSL-JSON array (it starts with no `[`); skipped")),
    ],
)
def test_a_forced_reference_format_on_another_file_costs_a_line_not_a_traceback(fmt, problem):
    path = seed_file("001")
    assert read(path, fmt=fmt) == ([], [Problem(str(path), *problem)])


@pytest.mark.parametrize("export", [BIB, RIS, CSL], ids=["bibtex", "ris", "csljson"])
def test_each_export_merges_its_seed_duplicate_with_the_seed_paper(library, export):
    # The seed page has the AWQ paper by title only (a `t:` id); the export has it with its
    # arXiv id and citekey. One paper, both sources, the seed's id, the export's metadata.
    seed = seed_file("003")
    library.ingest([seed])
    before = library.stats()["papers"]
    (old,) = library.storage.catalogue.find_titles("Activation-aware Weight Quantization")
    rep = library.ingest([export])
    assert (rep.added, rep.merged, rep.skipped) == (53, 1, 6)
    assert library.stats()["papers"] == before + 53
    (awq,) = library.storage.catalogue.find_titles("Activation-aware Weight Quantization")
    assert awq.paper_id == old.paper_id and awq.paper_id.startswith("t:")
    assert set(awq.sources) == {seed.name, export.name}
    assert (awq.arxiv_id, awq.citekey) == ("2306.00978", "lin2024awq")
