"""`papers add` and abstract enrichment against stand-in arXiv and OpenAlex servers: what is
stored, how politely it is fetched, and that a failing service stores nothing."""

from __future__ import annotations

import bibtexparser
import pyalex
import pytest

from rag import RemoteError, cli
from rag.remote.arxiv_api import arxiv_client
from rag.settings import RemoteSettings
from rag.sources import Record
from tests.conftest import write_jsonl
from tests.support.arxiv_standin import ArxivStandin, awq, paper
from tests.support.openalex_standin import OpenAlexStandin, alexnet, work

AWQ_ID = "arxiv:2306.00978"
ALEXNET_DOI = "10.1145/3065386"


@pytest.fixture
def arxiv_api():
    with ArxivStandin([awq(), paper("2401.00001", "Quantization of diffusion models")]) as s:
        yield s


@pytest.fixture
def openalex_api():
    with OpenAlexStandin([alexnet()]) as s:
        yield s


@pytest.fixture
def env(monkeypatch, arxiv_api, openalex_api):
    """Settings that aim `papers` at the stand-ins, with no waits between tries."""
    monkeypatch.setenv("PAPERS_REMOTE__ARXIV_URL", arxiv_api.url)
    monkeypatch.setenv("PAPERS_REMOTE__OPENALEX_URL", openalex_api.url)
    monkeypatch.setenv("PAPERS_REMOTE__ARXIV_DELAY_S", "0")
    monkeypatch.setenv("PAPERS_REMOTE__BACKOFF_S", "0")
    monkeypatch.setenv("PAPERS_REMOTE__TIMEOUT_S", "5")
    monkeypatch.delenv("PAPERS_DEBUG", raising=False)
    return monkeypatch


def add(store, *args: str) -> int:
    return cli.main(["add", "--store", str(store), *args])


def error_line(capsys) -> str:
    """The run's stderr: nothing but one ``papers: ...`` line."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("papers: "), err
    return lines[0]


def held(open_library, store) -> dict:
    lib = open_library(store)
    return {p.paper_id: p for p in lib.storage.catalogue.iter_papers()}


# -- what is stored ------------------------------------------------------------------------


def test_add_arxiv_id_stores_the_paper_with_its_metadata(env, arxiv_api, tmp_path, open_library):
    store = tmp_path / "store"
    assert add(store, AWQ_ID) == 0
    p = held(open_library, store)[AWQ_ID]
    assert (
        p.title == "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration"
    )
    assert p.abstract.startswith("Large language models (LLMs) have transformed")
    assert "\n" not in p.abstract
    assert p.authors[:2] == ("Ji Lin", "Jiaming Tang") and p.year == 2023
    assert p.doi == "10.48550/arxiv.2306.00978" and p.sources == ("arxiv",)
    assert p.categories[0] == "cs.CL" and p.citekey == "lin2023awq"
    entry = bibtexparser.parse_string(p.bibtex).entries[0]
    assert entry.key == "lin2023awq" and entry["eprint"] == "2306.00978"
    assert "Song Han" in entry["author"]
    (asked,) = arxiv_api.query_requests()
    assert asked.query["id_list"] == ["2306.00978"]


def test_add_doi_rebuilds_the_abstract_from_openalex_inverted_index(
    env, openalex_api, tmp_path, open_library
):
    env.setenv("PAPERS_OPENALEX_EMAIL", "reader@example.org")
    store = tmp_path / "store"
    assert add(store, f"doi:{ALEXNET_DOI}") == 0
    p = held(open_library, store)[f"doi:{ALEXNET_DOI}"]
    assert p.abstract == alexnet().abstract
    assert p.authors == ("Alex Krizhevsky", "Ilya Sutskever", "Geoffrey E. Hinton")
    assert p.year == 2017 and p.sources == ("openalex",)
    assert p.citekey == "krizhevsky2017imagenet"
    entry = bibtexparser.parse_string(p.bibtex).entries[0]
    assert entry.entry_type == "article" and entry["journal"] == "Communications of the ACM"
    (asked,) = openalex_api.requests
    assert asked.path == "/works/https%3A%2F%2Fdoi.org%2F10.1145%2F3065386"
    assert asked.query["mailto"] == ["reader@example.org"]  # the polite pool
    # pyalex's process-wide config is never set (another user of pyalex keeps its own).
    assert pyalex.config.email is None and pyalex.config.openalex_url == "https://api.openalex.org"


def test_arxiv_query_adds_at_most_max_papers(env, arxiv_api, tmp_path, open_library, capsys):
    arxiv_api.papers = {
        f"2402.0000{i}": paper(f"2402.0000{i}", f"Activation-aware quantization study {i}")
        for i in range(1, 6)
    }
    store = tmp_path / "store"
    assert add(store, "--arxiv-query", "activation-aware quantization", "--max", "3") == 0
    assert "add: 3 added" in capsys.readouterr().out
    assert len(held(open_library, store)) == 3
    (asked,) = arxiv_api.query_requests()
    assert asked.query["search_query"] == ["activation-aware quantization"]
    assert asked.query["max_results"] == ["3"]


def test_unknown_ids_are_named_and_the_others_stored(env, tmp_path, open_library, capsys):
    store = tmp_path / "store"
    code = add(store, AWQ_ID, "arxiv:2306.99999", "doi:10.9999/nothing", "not-an-id")
    assert code == 0
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert "papers: arXiv: arxiv:2306.99999 is not on arXiv; skipped" in err
    assert "papers: OpenAlex: doi:10.9999/nothing is not in OpenAlex; skipped" in err
    assert any("'not-an-id' is neither an arXiv id nor a DOI" in line for line in err)
    assert len(err) == 3 and "Traceback" not in captured.err
    assert set(held(open_library, store)) == {AWQ_ID}


# -- politeness ------------------------------------------------------------------------------


def test_arxiv_client_keeps_three_seconds_between_requests_to_arxiv_org():
    client, _ = arxiv_client(RemoteSettings())
    assert client.delay_seconds == 3.0 and client.num_retries == 0
    assert client.query_url_format == "https://export.arxiv.org/api/query?{}"
    # Asked for less against arxiv.org, it still waits 3 s; a mirror may go faster.
    assert arxiv_client(RemoteSettings(arxiv_delay_s=0.5))[0].delay_seconds == 3.0
    mirror = RemoteSettings(arxiv_url="http://127.0.0.1:9/api/query", arxiv_delay_s=0.5)
    assert arxiv_client(mirror)[0].delay_seconds == 0.5


def test_arxiv_delay_holds_between_retries(env, arxiv_api, tmp_path, open_library):
    env.setenv("PAPERS_REMOTE__ARXIV_DELAY_S", "0.5")
    arxiv_api.fail(503)
    store = tmp_path / "store"
    assert add(store, AWQ_ID) == 0
    first, second = arxiv_api.query_requests()
    assert second.at - first.at >= 0.5  # a lower bound: a slow machine only waits longer
    assert AWQ_ID in held(open_library, store)


def test_openalex_429_is_retried_after_its_retry_after(env, openalex_api, tmp_path, open_library):
    openalex_api.rate_limit(retry_after="1")
    store = tmp_path / "store"
    assert add(store, f"doi:{ALEXNET_DOI}") == 0
    first, second = openalex_api.requests
    assert second.at - first.at >= 0.9  # Retry-After: 1 was waited out (backoff is 0 here)
    assert f"doi:{ALEXNET_DOI}" in held(open_library, store)


def test_a_retry_after_of_hours_is_not_waited_out(env, openalex_api, tmp_path, capsys):
    openalex_api.rate_limit(retry_after="7200")
    assert add(tmp_path / "store", f"doi:{ALEXNET_DOI}") == 2
    assert error_line(capsys) == (
        "papers: OpenAlex asks to wait 7200 s (HTTP 429); try again later"
    )
    assert len(openalex_api.requests) == 1


# -- failures store nothing ------------------------------------------------------------------


@pytest.fixture
def store_with_awq(env, tmp_path, capsys):
    store = tmp_path / "store"
    assert add(store, AWQ_ID) == 0
    capsys.readouterr()
    return store


def test_service_down_is_one_line_and_nothing_is_half_stored(
    store_with_awq, arxiv_api, openalex_api, open_library, capsys
):
    openalex_api.fail(503, times=3)
    # arXiv answers for the new paper; OpenAlex never does: neither is stored.
    code = add(store_with_awq, "arxiv:2401.00001", f"doi:{ALEXNET_DOI}")
    assert code == 2
    assert error_line(capsys) == (
        "papers: OpenAlex did not answer after 3 tries (HTTP 503); try again later"
    )
    assert len(openalex_api.requests) == 3
    assert set(held(open_library, store_with_awq)) == {AWQ_ID}


def test_arxiv_down_names_arxiv(store_with_awq, arxiv_api, open_library, capsys):
    arxiv_api.fail(503, times=3)
    assert add(store_with_awq, "arxiv:2401.00001") == 2
    assert error_line(capsys) == (
        "papers: arXiv did not answer after 3 tries (HTTP 503); try again later"
    )
    assert set(held(open_library, store_with_awq)) == {AWQ_ID}


def test_dropped_connections_are_retried_then_one_line(
    store_with_awq, arxiv_api, open_library, capsys
):
    arxiv_api.drop(times=3)
    assert add(store_with_awq, "arxiv:2401.00001") == 2
    assert error_line(capsys) == (
        "papers: arXiv did not answer after 3 tries (the connection dropped mid-answer); "
        "try again later"
    )
    assert set(held(open_library, store_with_awq)) == {AWQ_ID}
    arxiv_api.drop(times=1)  # once is what retries are for
    assert add(store_with_awq, "arxiv:2401.00001") == 0
    assert "arxiv:2401.00001" in held(open_library, store_with_awq)


def test_a_stalled_service_times_out(env, openalex_api, tmp_path, capsys):
    env.setenv("PAPERS_REMOTE__TIMEOUT_S", "0.3")
    env.setenv("PAPERS_REMOTE__RETRIES", "1")
    openalex_api.stall(3, times=2)
    assert add(tmp_path / "store", f"doi:{ALEXNET_DOI}") == 2
    assert error_line(capsys) == (
        "papers: OpenAlex did not answer after 2 tries (no answer in 0.3 s); try again later"
    )


def test_add_with_nothing_to_add_is_refused(env, tmp_path, capsys):
    assert add(tmp_path / "store") == 2
    assert "say what to add" in error_line(capsys)


# -- enrichment ------------------------------------------------------------------------------


def test_enrich_fills_abstracts_by_doi_then_exact_title(openalex_api, tmp_path, open_library):
    resnet = "Deep residual learning for image recognition"
    openalex_api.works += [
        work(resnet, "We present a residual learning framework to ease training."),
        work("Attention is not all you need", "Pure attention loses rank doubly exponentially."),
    ]
    lib = open_library(
        tmp_path / "store",
        remote=RemoteSettings(openalex_url=openalex_api.url, backoff_s=0),
    )
    missing = [
        ("refs.bib", Record(title="ImageNet", abstract="", source="refs.bib", line=3,
                            doi=ALEXNET_DOI)),
        ("refs.bib", Record(title=resnet.upper(), abstract="", source="refs.bib", line=9)),
        # A lookalike title must not lend its abstract.
        ("refs.bib", Record(title="Attention is all you need", abstract="", source="refs.bib",
                            line=15)),
    ]  # fmt: skip
    rep = lib.add(missing=missing)
    assert rep.added == 2 and rep.skipped == 1
    assert [str(p) for p in rep.problems] == [
        "refs.bib:15: title 'Attention is all you need' has no abstract here or in OpenAlex; "
        "skipped"
    ]
    papers = {p.title: p for p in lib.storage.catalogue.iter_papers()}
    assert papers["ImageNet"].abstract == alexnet().abstract
    assert papers[resnet.upper()].abstract.startswith("We present a residual learning")
    assert papers["ImageNet"].sources == ("refs.bib",)


def test_enrich_failure_raises_remote_error(openalex_api, tmp_path, open_library):
    openalex_api.fail(500, times=2)
    lib = open_library(
        tmp_path / "store",
        remote=RemoteSettings(openalex_url=openalex_api.url, backoff_s=0, retries=1),
    )
    with pytest.raises(RemoteError, match=r"OpenAlex did not answer after 2 tries \(HTTP 500\)"):
        lib.add(missing=[("a.jsonl", Record(title="T", abstract="", source="a.jsonl", line=1))])
    assert lib.paper_count() == 0


def test_cli_ingest_enrich_stores_entries_read_without_an_abstract(
    env, tmp_path, open_library, capsys
):
    src = write_jsonl(
        tmp_path / "refs.jsonl",
        [
            {"title": "A paper with an abstract", "abstract": "It has one."},
            {"title": "ImageNet classification", "abstract": "", "doi": ALEXNET_DOI},
        ],
    )
    store = tmp_path / "store"
    assert cli.main(["ingest", "--store", str(store), "--enrich", str(src)]) == 0
    assert f"doi:{ALEXNET_DOI}" in held(open_library, store)
