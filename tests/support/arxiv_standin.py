"""A stand-in arXiv API: ``/api/query`` answering with arXiv's Atom feed, and scripted faults.

Shapes follow the arXiv API user manual ("Details of Atom Results Returned", "Errors"):
opensearch totals, one ``<entry>`` a paper with a versioned ``<id>``, ``arxiv:doi``,
``arxiv:primary_category`` and ``category`` terms. Like arXiv, an id that does not exist is
simply absent from the feed (a lone unknown id gives an empty feed), and an id of the wrong
form gets HTTP 400 with an error entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from tests.support.faulty_http import Answer, Fault, ScriptedServer

__all__ = ["ArxivPaper", "ArxivStandin", "Fault", "awq", "paper"]

ATOM = "application/atom+xml; charset=utf-8"
_ID = re.compile(r"^(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?$")


@dataclass
class ArxivPaper:
    arxiv_id: str  # "2306.00978", no version
    title: str
    summary: str
    authors: list[str]
    published: str = "2023-06-01T17:59:10Z"
    updated: str = "2024-07-18T17:51:33Z"
    version: int = 1
    doi: str | None = None
    comment: str | None = None
    primary_category: str = "cs.CL"
    categories: list[str] = field(default_factory=lambda: ["cs.CL"])


def awq() -> ArxivPaper:
    return ArxivPaper(
        arxiv_id="2306.00978",
        version=5,
        # arXiv wraps long titles and summaries across lines, with leading spaces.
        title="AWQ: Activation-aware Weight Quantization for LLM Compression and\n  Acceleration",
        summary=(
            "  Large language models (LLMs) have transformed numerous AI applications.\n"
            "On-device LLM is becoming increasingly important. We propose Activation-aware\n"
            "Weight Quantization (AWQ), a hardware-friendly approach for LLM low-bit\n"
            "weight-only quantization. AWQ finds that not all weights in an LLM are equally\n"
            "important: protecting only 1% salient weights can greatly reduce quantization\n"
            "error, and salient channels are found from the activation distribution.\n"
        ),
        authors=["Ji Lin", "Jiaming Tang", "Haotian Tang", "Shang Yang", "Song Han"],
        doi="10.48550/arXiv.2306.00978",
        comment="MLSys 2024 Best Paper Award",
        primary_category="cs.CL",
        categories=["cs.CL", "cs.AI", "cs.LG"],
    )


def paper(arxiv_id: str, title: str, *, year: int = 2023, **kw) -> ArxivPaper:
    """A plain paper with a made-up abstract that mentions its title's words."""
    summary = kw.pop("summary", f"We study {title.lower()}. Our method improves on prior work.")
    authors = kw.pop("authors", ["Ada Lovelace", "Alan Turing"])
    return ArxivPaper(
        arxiv_id=arxiv_id,
        title=title,
        summary=summary,
        authors=authors,
        published=f"{year}-03-14T12:00:00Z",
        **kw,
    )


class ArxivStandin(ScriptedServer):
    """Answers ``/api/query`` from :attr:`papers`; ``url`` is what ``arxiv_url`` takes."""

    server_version = "arxiv-standin"

    def __init__(self, papers: list[ArxivPaper] | None = None) -> None:
        super().__init__()
        self.papers = {p.arxiv_id: p for p in (papers if papers is not None else [awq()])}

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/query"

    def query_requests(self) -> list:
        return [r for r in self.requests if r.path == "/api/query"]

    # --- the API -----------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path != "/api/query":
            return Answer(404, b"<html><body>Not Found</body></html>", "text/html")
        arg = {k: v[0] for k, v in query.items()}
        ids = [i for i in (arg.get("id_list") or "").split(",") if i]
        start = int(arg.get("start") or 0)
        per_page = int(arg.get("max_results") or 10)
        for raw in ids:
            if not _ID.match(raw):
                return self._error(arg, f"incorrect id format for {raw}")
        matches = self._find(ids, arg.get("search_query") or "")
        page = matches[start : start + per_page]
        return Answer(200, self._feed(arg, page, len(matches), start, per_page), ATOM)

    def _find(self, ids: list[str], search: str) -> list[ArxivPaper]:
        if ids:
            wanted = [_ID.match(i).group(1) for i in ids]  # type: ignore[union-attr]
            found = [self.papers[i] for i in wanted if i in self.papers]
        else:
            found = list(self.papers.values())
        if search:
            terms = [
                t.lower()
                for t in re.split(r"[\s\"()]+", re.sub(r"\b[a-z]{2,3}:", " ", search))
                if t and t not in ("AND", "OR", "ANDNOT")
            ]
            found = [p for p in found if all(t in f"{p.title} {p.summary}".lower() for t in terms)]
        return found

    def _feed(
        self, arg: dict[str, str], page: list[ArxivPaper], total: int, start: int, per: int
    ) -> bytes:
        entries = "".join(self._entry(p) for p in page)
        return self._document(arg, entries, total, start, per).encode()

    @staticmethod
    def _document(arg: dict[str, str], entries: str, total: int, start: int, per: int) -> str:
        q = urlencode(arg)
        title = "&".join(f"{k}={v}" for k, v in arg.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f'  <link href={quoteattr("http://arxiv.org/api/query?" + q)} rel="self" '
            'type="application/atom+xml"/>\n'
            f'  <title type="html">ArXiv Query: {escape(title)}</title>\n'
            "  <id>http://arxiv.org/api/standin</id>\n"
            "  <updated>2025-01-01T00:00:00-05:00</updated>\n"
            '  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{total}</opensearch:totalResults>\n"
            '  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{start}</opensearch:startIndex>\n"
            '  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
            f"{per}</opensearch:itemsPerPage>\n"
            f"{entries}</feed>\n"
        )

    @staticmethod
    def _entry(p: ArxivPaper) -> str:
        vid = f"{p.arxiv_id}v{p.version}"
        ns = 'xmlns:arxiv="http://arxiv.org/schemas/atom"'
        parts = [
            "  <entry>\n",
            f"    <id>http://arxiv.org/abs/{vid}</id>\n",
            f"    <updated>{p.updated}</updated>\n",
            f"    <published>{p.published}</published>\n",
            f"    <title>{escape(p.title)}</title>\n",
            f"    <summary>{escape(p.summary)}</summary>\n",
            *(f"    <author>\n      <name>{escape(a)}</name>\n    </author>\n" for a in p.authors),
        ]
        if p.doi:
            parts.append(f"    <arxiv:doi {ns}>{escape(p.doi)}</arxiv:doi>\n")
            parts.append(
                f'    <link title="doi" href="http://dx.doi.org/{escape(p.doi)}" rel="related"/>\n'
            )
        if p.comment:
            parts.append(f"    <arxiv:comment {ns}>{escape(p.comment)}</arxiv:comment>\n")
        parts += [
            f'    <link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>\n',
            f'    <link title="pdf" href="http://arxiv.org/pdf/{vid}" rel="related" '
            'type="application/pdf"/>\n',
            f'    <arxiv:primary_category {ns} term="{p.primary_category}" '
            'scheme="http://arxiv.org/schemas/atom"/>\n',
            *(
                f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>\n'
                for c in p.categories
            ),
            "  </entry>\n",
        ]
        return "".join(parts)

    def _error(self, arg: dict[str, str], message: str) -> Answer:
        slug = re.sub(r"\W+", "_", message)
        entry = (
            "  <entry>\n"
            f"    <id>http://arxiv.org/api/errors#{slug}</id>\n"
            "    <title>Error</title>\n"
            f"    <summary>{escape(message)}</summary>\n"
            "    <updated>2025-01-01T00:00:00-05:00</updated>\n"
            f'    <link href="http://arxiv.org/api/errors#{slug}" rel="alternate" '
            'type="text/html"/>\n'
            "    <author>\n      <name>arXiv api core</name>\n    </author>\n"
            "  </entry>\n"
        )
        return Answer(400, self._document(arg, entry, 1, 0, 1).encode(), ATOM)
