"""Citekeys: generated when a source gave none, stable, unique in the library; and out again:
the reference list shows them, `papers ask --json` carries them, `--bibtex` writes the user's
own entries back field for field (parsed with bibtexparser, not with our own code)."""

from __future__ import annotations

import json

import bibtexparser
import pytest

from rag.citekeys import generate_citekey, unique_citekey
from rag.conversation import Conversation
from rag.sources import Record
from rag.types import Paper
from tests.conftest import seed_records

# -- generated keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authors, year, title, key",
    [
        (
            ("Ji Lin", "Jiaming Tang"),
            2024,
            "AWQ: Activation-aware Weight Quantization",
            "lin2024awq",
        ),
        (("Lin, Ji",), 2024, "The AWQ method", "lin2024awq"),
        (("Müller, Hans",), 2021, "Über-Quantisierung", "muller2021uber"),
        (("van der Berg, Anna",), None, "On Sparsity", "vanderbergsparsity"),
        ((), 2021, "The Weight Compander", "weight2021"),
        ((), None, "AWQ: Activation-aware Weight Quantization", "awqactivation"),
        ((), None, "The", "paper"),
    ],
)
def test_generated_citekeys(authors, year, title, key):
    assert generate_citekey(Paper("t:x", title, "", authors=authors, year=year)) == key


def test_unique_citekey_suffixes_without_regard_to_case():
    assert unique_citekey("lin2024awq", set()) == "lin2024awq"
    assert unique_citekey("Lin2024AWQ", {"lin2024awq"}) == "Lin2024AWQa"
    assert unique_citekey("k", {"k", "ka", "kb"}) == "kc"


# -- keys in the library ---------------------------------------------------------------------


def rec(title: str, source: str = "refs.bib", line: int = 0, **kw) -> Record:
    return Record(
        title=title, abstract=f"{title}. A short abstract.", source=source, line=line, **kw
    )


def records() -> list[tuple[str, Record]]:
    seeds = seed_records("003")[:2]
    return [
        *[("seeds", r) for r in seeds],
        ("refs.bib", rec("Sparse attention for long documents", line=1)),
        ("refs.bib", rec("Sparse Attention: a survey of methods", line=5)),
        ("refs.bib", rec("A paper by Smith", line=9, citekey="smith2020", doi="10.1/a")),
        ("refs.bib", rec("Another paper by Smith", line=14, citekey="smith2020", doi="10.1/b")),
        # The user's key takes precedence over the keys generated for the two papers above.
        ("refs.bib", rec("Something else entirely", line=20, citekey="sparseattention")),
    ]


def citekeys(lib) -> dict[str, str]:
    return {p.paper_id: p.citekey for p in lib.storage.catalogue.iter_papers()}


def test_citekeys_are_generated_unique_and_stable(tmp_path, open_library):
    one = open_library(tmp_path / "one")
    rep = one.ingest(records=records())
    keys = citekeys(one)
    assert len(keys) == 7 and all(keys.values())
    assert len({k.casefold() for k in keys.values()}) == 7
    by_title = {p.title: p for p in one.storage.catalogue.iter_papers()}
    smith_a, smith_b = by_title["A paper by Smith"], by_title["Another paper by Smith"]
    assert (smith_a.citekey, smith_b.citekey) == ("smith2020", "smith2020a")
    assert [str(p) for p in rep.problems] == [
        f"refs.bib:14: citekey smith2020 is already {smith_a.paper_id}'s; this paper "
        f"({smith_b.paper_id}) is cited as smith2020a"
    ]
    assert by_title["Something else entirely"].citekey == "sparseattention"
    # The two generated "sparseattention" keys are suffixed in paper id order.
    sparse = sorted(
        (p.paper_id, p.citekey) for t, p in by_title.items() if t.lower().startswith("sparse")
    )
    assert [k for _, k in sparse] == ["sparseattentiona", "sparseattentionb"]
    seed = by_title[seed_records("003")[0].title]
    assert seed.citekey == generate_citekey(seed)

    # Read again: no key changes. Another library from the same records read in another
    # order: the same keys (generated keys do not depend on the order records come in).
    again = one.ingest(records=records())
    assert citekeys(one) == keys and again.sources_updated == 0
    two = open_library(tmp_path / "two")
    user, generated = records()[4:], records()[:4]
    two.ingest(records=[*user, *reversed(generated)])
    assert citekeys(two) == keys


# -- citekeys out: the reference list, --json, --bibtex, the chat's export --------------------

ORIGINAL = r"""@inproceedings{lin2024awq,
  title = {{AWQ}: Activation-aware Weight Quantization for {LLM} Compression and Acceleration},
  author = {Lin, Ji and M{\"u}ller, Hans and Tang, Jiaming},
  booktitle = {Proceedings of Machine Learning and Systems},
  year = {2024},
  eprint = {2306.00978},
  archiveprefix = {arXiv},
  keywords = {quantization, large language models, on-device},
  note = {Best paper; code at \url{https://github.com/mit-han-lab/llm-awq}},
  file = {:/home/me/papers/awq.pdf:PDF}
}"""


@pytest.fixture
def cited_store(tmp_path, open_library):
    """A store holding AWQ as read from the user's .bib (ORIGINAL kept) and two seed papers."""
    seeds = seed_records("003")
    awq = next(r for r in seeds if r.title.startswith("AWQ:"))
    bib = Record(
        title="{AWQ}: Activation-aware Weight Quantization for {LLM} Compression and Acceleration",
        abstract=awq.abstract,
        source="refs.bib",
        line=1,
        authors=("Lin, Ji", 'M{\\"u}ller, Hans', "Tang, Jiaming"),
        year=2024,
        arxiv_id="2306.00978",
        citekey="lin2024awq",
        bibtex=ORIGINAL,
    )
    others = [("seeds", r) for r in seeds if r is not awq][:2]
    store = tmp_path / "store"
    lib = open_library(store)
    rep = lib.ingest(records=[("refs.bib", bib), *others])
    assert rep.added == 3 and not rep.problems
    lib.close()
    lib.storage.vectors.reopen()
    return store


QUESTION = "How does activation-aware weight quantization protect salient weights?"


def fields(entry) -> dict[str, str]:
    return {name.lower(): f.value for name, f in entry.fields_dict.items()}


def test_ask_bibtex_writes_the_users_entry_back_field_for_field(cited_store, tmp_path, capsys):
    from rag.cli import main

    bib_path = tmp_path / "refs-out.bib"
    argv = ["ask", "--store", str(cited_store), "--llm", "none", "--bibtex", str(bib_path)]
    assert main([*argv, "--json", QUESTION]) == 0
    data = json.loads(capsys.readouterr().out)
    by_key = {c["citekey"]: c for c in data["citations"]}
    assert "lin2024awq" in by_key and by_key["lin2024awq"]["paper_id"] == "arxiv:2306.00978"
    assert all(c["citekey"] for c in data["citations"])

    written = bibtexparser.parse_string(bib_path.read_text(encoding="utf-8"))
    assert not written.failed_blocks
    entries = {e.key: e for e in written.entries}
    assert sorted(entries) == sorted(by_key)
    (original,) = bibtexparser.parse_string(ORIGINAL).entries
    mine = entries["lin2024awq"]
    assert mine.entry_type == original.entry_type == "inproceedings"
    assert fields(mine) == fields(original)
    assert fields(mine)["author"] == 'Lin, Ji and M{\\"u}ller, Hans and Tang, Jiaming'
    # A paper the user's library did not give an entry for gets one under its citekey.
    for key, entry in entries.items():
        if key != "lin2024awq":
            assert fields(entry)["note"] == f"papers id: {by_key[key]['paper_id']}"

    # Without --json, the reference list shows the citekey beside the paper id.
    assert main([*argv, QUESTION]) == 0
    out = capsys.readouterr().out
    assert "[@lin2024awq] (`arxiv:2306.00978`)" in out


def test_hits_and_the_chats_export_carry_citekeys(cited_store, tmp_path, open_library):
    from tui.app import export_conversation

    lib = open_library(cited_store)
    hit = lib.search(QUESTION, k=1)[0]
    assert hit.to_dict()["citekey"] == hit.paper.citekey == "lin2024awq"
    answer = lib.ask(QUESTION, llm="none")
    assert "lin2024awq" in {c.citekey for c in answer.citations}
    # A reopened chat has only titles and abstracts: the export reads the rest from the library.
    conv = Conversation.from_dict(
        json.loads(json.dumps(Conversation([(QUESTION, answer)]).to_dict()))
    )
    md, bib = export_conversation(conv, tmp_path / "export", 1, lib)
    assert "[@lin2024awq]" in md.read_text(encoding="utf-8")
    entries = {e.key: e for e in bibtexparser.parse_string(bib.read_text(encoding="utf-8")).entries}
    (original,) = bibtexparser.parse_string(ORIGINAL).entries
    assert fields(entries["lin2024awq"]) == fields(original)
