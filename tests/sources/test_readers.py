"""Readers: the seed pages, each input format, bad input, and streaming a large file."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from rag.errors import SourceError
from rag.ids import paper_id
from rag.sources import Problem, expand_paths, iter_records
from rag.sources.readers import detect_format
from tests.conftest import seed_file

# (count, first, a title from the middle at index count // 2, last)
SEED_PAGES = {
    "000": (
        243,
        "On Scaling Contrastive Representations for Low-Resource Speech Recognition",
        "Interpretable Computer Vision Models through Adversarial Training: Unveiling the "
        "Robustness-Interpretability Connection",
        "TaskExpert: Dynamically Assembling Multi-Task Representations with Memorial "
        "Mixture-of-Experts",
    ),
    "001": (
        53,
        "Causal de Finetti: On the Identification of Invariant Causal Structure in "
        "Exchangeable Data",
        "Random Field Augmentations for Self-Supervised Representation Learning",
        "Exploring Conditional Multi-Modal Prompts for Zero-shot HOI Detection",
    ),
    "002": (
        220,
        "I-ViT: Integer-only Quantization for Efficient Vision Transformer Inference",
        "Token-Label Alignment for Vision Transformers",
        "Exploring Geometry of Blind Spots in Vision Models",
    ),
    "003": (
        74,
        "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration",
        "Self-Supervised Transformers for Unsupervised Object Discovery using Normalized Cut",
        "Imbalanced Adversarial Training with Reweighting",
    ),
    "004": (
        218,
        "A Simple Interpretable Transformer for Fine-Grained Image Classification and Analysis",
        "Why are Visually-Grounded Language Models Bad at Image Classification?",
        "Unsupervised Compositional Concepts Discovery with Text-to-Image Generative Models",
    ),
}


def read(path: Path, **kw) -> tuple[list, list[Problem]]:
    problems: list[Problem] = []
    return list(iter_records(path, problems.append, **kw)), problems


# -- the seed corpus -------------------------------------------------------------------


def test_seed_corpus_has_808_pairs_and_742_papers(seeds_dir):
    problems: list[Problem] = []
    records = [
        r
        for f in expand_paths([seeds_dir], problems.append)
        for r in iter_records(f, problems.append)
    ]
    assert problems == []
    assert len(records) == 808
    assert len({paper_id(r.title, arxiv_id=r.arxiv_id, doi=r.doi) for r in records}) == 742


@pytest.mark.parametrize("prefix", sorted(SEED_PAGES))
def test_seed_page_counts_and_titles(prefix):
    count, first, middle, last = SEED_PAGES[prefix]
    records, problems = read(seed_file(prefix))
    assert problems == []
    assert len(records) == count
    assert records[0].title == first
    assert records[count // 2].title == middle
    assert records[-1].title == last
    assert all(len(r.abstract) >= 200 for r in records)
    assert all(r.source == seed_file(prefix).name for r in records)


def test_seed_pages_are_detected_as_pages(seeds_dir):
    assert {detect_format(f) for f in seeds_dir.iterdir()} == {"pages"}


# -- formats ---------------------------------------------------------------------------

ABSTRACT = (
    "We study a problem that matters. Our method is simple and it works well on three benchmarks, "
    "beating strong baselines by a clear margin while using fewer parameters than before."
)


def test_jsonl_reader_keeps_metadata(tmp_path):
    path = tmp_path / "papers.jsonl"
    path.write_text(
        json.dumps(
            {
                "title": "A   Paper\nTitle",
                "abstract": ABSTRACT,
                "authors": "Ada Lovelace, Alan Turing and Grace Hopper",
                "year": "2021-05-01",
                "arxiv_id": "2101.00001",
                "doi": "10.1/x",
                "url": "https://example.org/p",
                "categories": "cs.LG cs.CL",
            }
        )
        + "\n"
    )
    assert detect_format(path) == "jsonl"
    (rec,), problems = read(path)
    assert problems == []
    assert rec.title == "A Paper Title"
    assert rec.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert rec.year == 2021
    assert (rec.arxiv_id, rec.doi, rec.url) == ("2101.00001", "10.1/x", "https://example.org/p")
    assert rec.categories == ("cs.LG", "cs.CL")
    assert rec.line == 1


def test_csv_reader(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text(
        'Title,Abstract,Year\n"First, a paper",' + f'"{ABSTRACT}",2020\n'
        f'"Second paper","Multi\nline {ABSTRACT}",2019\n',
        encoding="utf-8",
    )
    assert detect_format(path) == "csv"
    records, problems = read(path)
    assert problems == []
    assert [r.title for r in records] == ["First, a paper", "Second paper"]
    assert records[1].abstract.startswith("Multi line We study")
    assert [r.year for r in records] == [2020, 2019]
    assert [r.line for r in records] == [2, 3]


def test_csv_without_columns_is_one_problem(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,text\na,b\n")
    records, problems = read(path)
    assert records == []
    assert [(p.path, p.line) for p in problems] == [(str(path), 1)]
    assert "title" in problems[0].message


def arxiv_line(**kw) -> str:
    obj = {
        "id": "2303.08774",
        "submitter": "Someone",
        "authors": "A. Author, B. Author",
        "title": "GPT-4 Technical\n  Report",
        "comments": "100 pages",
        "doi": "10.48550/arXiv.2303.08774",
        "categories": "cs.CL cs.AI",
        "abstract": "  We report the development of GPT-4,\na large-scale, multimodal model. "
        + ABSTRACT,
        "versions": [{"version": "v1", "created": "Wed, 15 Mar 2023 17:15:04 GMT"}],
        "update_date": "2023-12-19",
        "authors_parsed": [["Author", "A.", ""], ["Author", "B.", ""]],
    }
    obj.update(kw)
    return json.dumps(obj) + "\n"


def test_arxiv_snapshot_reader(tmp_path):
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    path.write_text(
        arxiv_line() + arxiv_line(id="hep-th/9901001v2", title="Old style", versions=[])
    )
    assert detect_format(path) == "arxiv"
    records, problems = read(path)
    assert problems == []
    rec = records[0]
    assert rec.title == "GPT-4 Technical Report"
    assert rec.abstract.startswith("We report the development of GPT-4, a large-scale")
    assert rec.authors == ("A. Author", "B. Author")
    assert rec.year == 2023
    assert rec.arxiv_id == "2303.08774"
    assert rec.url == "https://arxiv.org/abs/2303.08774"
    assert rec.categories == ("cs.CL", "cs.AI")
    assert paper_id(rec.title, arxiv_id=rec.arxiv_id, doi=rec.doi) == "arxiv:2303.08774"
    assert paper_id(records[1].title, arxiv_id=records[1].arxiv_id) == "arxiv:hep-th/9901001"
    assert records[1].year == 2023  # from update_date when there are no versions


def test_format_detection(tmp_path):
    pages = tmp_path / "page.txt"
    pages.write_text("Daily Papers\nA Title\n" + ABSTRACT + "\n")
    jsonl = tmp_path / "noext"
    jsonl.write_text(json.dumps({"title": "T", "abstract": ABSTRACT}) + "\n")
    arxiv = tmp_path / "snap.jsonl"
    arxiv.write_text(arxiv_line())
    binary = tmp_path / "x.pdf"
    binary.write_bytes(b"%PDF-1.4\x00\x01\x02" * 100)
    assert [detect_format(p) for p in (pages, jsonl, arxiv, binary)] == [
        "pages",
        "jsonl",
        "arxiv",
        None,
    ]
    # The format can be forced.
    records, _ = read(pages, fmt="pages")
    assert [r.title for r in records] == ["A Title"]


# -- bad input: a Problem naming file and line, and the rest still read ----------------


def test_jsonl_bad_lines(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"title": "Good one", "abstract": ABSTRACT}),
        json.dumps({"title": "Empty abstract", "abstract": "   "}),
        '{"title": "broken", "abstract": ',
        json.dumps({"abstract": ABSTRACT}),
        "[1, 2]",
        json.dumps({"title": "Good two", "abstract": ABSTRACT}),
    ]
    path.write_text("\n".join(lines) + "\n")
    records, problems = read(path)
    assert [r.title for r in records] == ["Good one", "Good two"]
    assert [(p.path, p.line) for p in problems] == [(str(path), n) for n in (2, 3, 4, 5)]
    assert "no abstract" in problems[0].message
    assert "broken JSON" in problems[1].message
    assert "no title" in problems[2].message
    assert str(problems[1]).startswith(f"{path}:3: ")


def test_pages_title_without_abstract(tmp_path):
    path = tmp_path / "page.txt"
    path.write_text(
        "Daily Papers\n\nFirst Title\n\n"
        + ABSTRACT
        + "\n\nOrphan Title\n\nThird Title\n\n"
        + ABSTRACT
        + "\n"
        "Last Orphan\n"
    )
    records, problems = read(path)
    assert [r.title for r in records] == ["First Title", "Third Title"]
    assert [(p.line, p.message[:27]) for p in problems] == [
        (7, "title 'Orphan Title' has no"),
        (12, "title 'Last Orphan' has no "),
    ]


def test_latin1_bytes_cost_one_line(tmp_path):
    # Not UTF-8 costs the line (it used to be read as Windows-1252: a guess, and junk when
    # wrong); the lines around it are read.
    path = tmp_path / "latin.jsonl"
    good = json.dumps({"title": "Plain", "abstract": ABSTRACT}).encode()
    latin = json.dumps(
        {"title": "Caf\u00e9 models", "abstract": ABSTRACT}, ensure_ascii=False
    ).encode("latin-1")
    path.write_bytes(good + b"\n" + latin + b"\n" + good.replace(b"Plain", b"After") + b"\n")
    records, problems = read(path)
    assert [r.title for r in records] == ["Plain", "After"]
    assert [str(p) for p in problems] == [f"{path}:2: not UTF-8; line skipped"]


def test_binary_file_is_skipped_with_a_problem(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"%PDF-1.7\n\x00\x00\xff\xfe" * 50)
    records, problems = read(path)
    assert records == []
    assert [(p.path, p.line) for p in problems] == [(str(path), 0)]
    assert "binary" in problems[0].message and "JSONL" in problems[0].message


def test_missing_path_is_an_error_before_anything_is_read(tmp_path):
    # A typo is not an input with nothing in it: the run stops, naming the path.
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"title": "Good", "abstract": ABSTRACT}) + "\n")
    missing = tmp_path / "nope.jsonl"
    problems: list[Problem] = []
    with pytest.raises(SourceError) as err:
        expand_paths([good, missing], problems.append)
    assert str(err.value) == f"{missing}: no such file or folder; nothing was read"
    assert problems == []
    other = tmp_path / "other.csv"
    with pytest.raises(SourceError, match=f"{missing}, {other}; nothing was read"):
        expand_paths([missing, good, other], problems.append)


def test_folder_expansion_skips_hidden_files(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.jsonl").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.csv").write_text("")
    problems: list[Problem] = []
    assert expand_paths([tmp_path], problems.append) == [
        tmp_path / "a.jsonl",
        tmp_path / "sub" / "c.csv",
    ]
    assert problems == []


# -- streaming -------------------------------------------------------------------------


@pytest.mark.slow
def test_large_file_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"title": "T {}", "abstract": ABSTRACT * 3}) + "\n"
    n = 0
    with path.open("w") as fh:
        while fh.tell() < 50_000_000:
            fh.write(line.replace("T {}", f"Title {n}"))
            n += 1
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count, last = 0, ""
        for rec in iter_records(path, lambda p: pytest.fail(str(p))):
            count, last = count + 1, rec.title
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert last == f"Title {n - 1}"
    assert peak < size / 50, f"peak {peak} bytes for a {size} byte file"
