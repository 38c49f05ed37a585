"""Filters: one year, a year range or an open range, a source; through search and the CLI."""

from __future__ import annotations

import json

import pytest

from rag import cli
from rag.errors import FilterError
from rag.filters import Filters, parse_years, years_label
from rag.types import Paper
from tests.conftest import seed_records, write_jsonl


@pytest.mark.parametrize(
    ("text", "span"),
    [("2023", (2023, 2023)), (2023, (2023, 2023)), (" 2020-2024 ", (2020, 2024)),
     ("2020 – 2021", (2020, 2021)), ("2019..2020", (2019, 2020)), ("2018 to 2019", (2018, 2019)),
     ("2021-", (2021, None)), ("-2019", (None, 2019)), ("", None), (None, None)],
)  # fmt: skip
def test_parse_years(text, span):
    assert parse_years(text) == span


@pytest.mark.parametrize("text", ["abc", "20", "2024-2020", "-", "2023 2024", "2023-24"])
def test_parse_years_refuses_in_one_readable_line(text):
    with pytest.raises(FilterError) as exc:
        parse_years(text)
    message = str(exc.value)
    assert "\n" not in message
    assert "2020-2024" in message or "backwards" in message


def test_years_label():
    assert years_label(2023, 2023) == "2023"
    assert years_label(2020, 2024) == "2020–2024"
    assert years_label(2020, None) == "2020 on"
    assert years_label(None, 2019) == "up to 2019"


def test_filters_bound_years_at_both_ends_and_leave_out_papers_without_one():
    papers = {y: Paper(f"p{y}", "T", "A.", year=y) for y in (2019, 2020, 2022, 2024)}
    undated = Paper("q", "T", "A.")

    def kept(f: Filters) -> list[int]:
        assert not f.accepts(undated)
        return [y for y, p in papers.items() if f.accepts(p)]

    assert kept(Filters(year=2020)) == [2020]
    assert kept(Filters(year="2020-2022")) == [2020, 2022]
    assert kept(Filters(year_from=2021)) == [2022, 2024]
    assert kept(Filters(year="-2020")) == [2019, 2020]
    assert Filters(year=2024) == Filters(year_from=2024, year_to=2024)
    assert Filters.from_mapping({"year": "", "source": None}) is None
    assert Filters.from_mapping({"year": "2021-"}).years == (2021, None)


@pytest.fixture
def dated_store(tmp_path, open_library):
    """Twelve seed papers, given the years 2015..2026 in order."""
    recs = seed_records("000")[:12]
    rows = [
        {"title": r.title, "abstract": r.abstract, "year": 2015 + i} for i, r in enumerate(recs)
    ]
    src = write_jsonl(tmp_path / "dated.jsonl", rows)
    store = tmp_path / "store"
    lib = open_library(store)
    lib.ingest([src])
    return lib, store, {r["title"]: r["year"] for r in rows}


def test_search_keeps_only_papers_in_the_year_range(dated_store):
    lib, _, year_of = dated_store
    query = "learning representations for prediction"
    everything = lib.search(query, k=12)
    assert len({h.paper.year for h in everything}) > 4  # the query reaches across years
    hits = lib.search(query, k=12, filters={"year": "2020-2023"})
    assert hits and all(2020 <= year_of[h.paper.title] <= 2023 for h in hits)
    since = lib.search(query, k=12, filters=Filters(year_from=2024))
    assert since and {year_of[h.paper.title] for h in since} <= {2024, 2025, 2026}


def test_cli_search_takes_a_year_range_and_refuses_a_bad_one(dated_store, capsys):
    _, store, year_of = dated_store
    argv = ["search", "--store", str(store), "--json", "-k", "12", "learning"]
    assert cli.main([*argv[:-1], "--year", "-2017", argv[-1]]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and all(year_of[h["title"]] <= 2017 for h in hits)

    assert cli.main([*argv[:-1], "--year", "2024-2020", argv[-1]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("papers: years 2024-2020 run backwards") and "\n" not in err
