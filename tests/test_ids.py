"""Paper ids are stable: punctuation, case and id spelling do not change them."""

from __future__ import annotations

import pytest

from rag.ids import normalise_arxiv_id, normalise_doi, normalise_title, paper_id


@pytest.mark.parametrize(
    "variant",
    [
        "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration",
        "awq activation aware weight quantization for llm compression and acceleration",
        "AWQ — Activation-Aware Weight Quantization, for LLM Compression and Acceleration.",
        "  AWQ:  Activation‐aware\nWeight Quantization for LLM Compression and Acceleration ",
    ],
)
def test_title_variants_share_an_id(variant):
    base = paper_id(
        "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"
    )
    assert base.startswith("t:") and len(base) == 18
    assert paper_id(variant) == base


def test_accents_and_different_titles():
    assert normalise_title("Café Résumé") == "cafe resume"
    assert paper_id("Causal de Finetti") != paper_id("Causal de Finetti 2")


@pytest.mark.parametrize(
    "raw", ["2303.08774", "arXiv:2303.08774", "2303.08774v3", "ARXIV:2303.08774V1", " 2303.08774 "]
)
def test_arxiv_id_forms(raw):
    assert normalise_arxiv_id(raw) == "2303.08774"
    assert paper_id("Any title", arxiv_id=raw) == "arxiv:2303.08774"


def test_old_style_arxiv_ids_and_junk():
    assert normalise_arxiv_id("hep-th/9901001v2") == "hep-th/9901001"
    assert normalise_arxiv_id("math.AG/0601001") == "math.ag/0601001"
    assert normalise_arxiv_id("not an id") is None
    assert normalise_arxiv_id(None) is None
    # A junk arXiv id falls through to the DOI, then the title.
    assert paper_id("T", arxiv_id="junk", doi="10.1/X") == "doi:10.1/x"
    assert paper_id("T", arxiv_id="junk") == paper_id("T")


@pytest.mark.parametrize(
    "raw",
    [
        "10.1145/3292500.3330701",
        "doi:10.1145/3292500.3330701",
        "https://doi.org/10.1145/3292500.3330701",
        "http://dx.doi.org/10.1145/3292500.3330701",
        "DOI:10.1145/3292500.3330701",
    ],
)
def test_doi_forms(raw):
    assert normalise_doi(raw) == "10.1145/3292500.3330701"
    assert paper_id("Some title", doi=raw) == "doi:10.1145/3292500.3330701"


def test_arxiv_id_wins_over_doi_and_title():
    assert paper_id("X", arxiv_id="2101.00001", doi="10.1/y") == "arxiv:2101.00001"


def test_titles_in_other_scripts_get_their_own_ids():
    # Once every title written only in Greek, Cyrillic or CJK letters normalised to "",
    # so all of them shared one id and the second such paper was dropped.
    titles = ["深度学习的研究", "强化学习综述", "Глубокое обучение", "Ηλεκτρονικά δίκτυα"]
    assert len({paper_id(t) for t in titles}) == len(titles)
    assert normalise_title("λ-Calculus, Again") == "λ calculus again"
    # Latin-script titles keep the ids they always had.
    assert normalise_title("Toward Moiré-Free Demosaicking") == "toward moire free demosaicking"
    assert paper_id("Øresund") == paper_id("resund")
