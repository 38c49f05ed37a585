"""A stand-in OpenAlex API: ``/works/{id}`` and ``/works?filter=…|search=…`` in OpenAlex's
JSON, abstracts as ``abstract_inverted_index``, and scripted faults.

Shapes follow docs.openalex.org ("Work object", "Get a single work", "Get lists of
entities"): a missing work is a 404 with a JSON ``error``/``message``; a list answer has
``meta`` and ``results``; the rate limit is a 429 with Retry-After.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.faulty_http import Answer, Fault, ScriptedServer

__all__ = ["Fault", "OpenAlexStandin", "StandinWork", "alexnet", "inverted_index", "work"]

JSON = "application/json"
NOT_FOUND = {
    "error": "404 Not Found",
    "message": "The requested URL was not found on the server. If you entered the URL "
    "manually please check your spelling and try again.",
}
TOO_MANY = json.dumps(
    {"error": "Too Many Requests", "message": "Rate limit exceeded; slow down."}
).encode()


def inverted_index(text: str) -> dict[str, list[int]]:
    """OpenAlex's form of an abstract: each word with the positions it stands at."""
    index: dict[str, list[int]] = {}
    for i, word in enumerate(text.split()):
        index.setdefault(word, []).append(i)
    return index


@dataclass
class StandinWork:
    title: str
    abstract: str | None
    authors: list[str]
    year: int
    doi: str | None = None
    openalex_id: str = "W0000000001"
    type: str = "article"
    venue: str | None = None
    landing_page_url: str | None = None
    keywords: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doi_url = f"https://doi.org/{self.doi}" if self.doi else None
        return {
            "id": f"https://openalex.org/{self.openalex_id}",
            "doi": doi_url,
            "title": self.title,
            "display_name": self.title,
            "publication_year": self.year,
            "publication_date": f"{self.year}-05-24",
            "ids": {"openalex": f"https://openalex.org/{self.openalex_id}", "doi": doi_url},
            "language": "en",
            "type": self.type,
            "primary_location": {
                "is_oa": False,
                "landing_page_url": self.landing_page_url or doi_url,
                "pdf_url": None,
                "source": {
                    "id": "https://openalex.org/S103482838",
                    "display_name": self.venue,
                    "type": "journal",
                }
                if self.venue
                else None,
            },
            "authorships": [
                {
                    "author_position": "first" if i == 0 else "middle",
                    "author": {
                        "id": f"https://openalex.org/A{5000000000 + i}",
                        "display_name": name,
                        "orcid": None,
                    },
                    "institutions": [],
                    "raw_author_name": name,
                }
                for i, name in enumerate(self.authors)
            ],
            "keywords": [
                {
                    "id": f"https://openalex.org/keywords/{k.lower().replace(' ', '-')}",
                    "display_name": k,
                    "score": 0.6,
                }
                for k in self.keywords
            ],  # fmt: skip
            "cited_by_count": 120000,
            "abstract_inverted_index": inverted_index(self.abstract) if self.abstract else None,
            "updated_date": "2025-01-01T00:00:00.000000",
        }


def alexnet() -> StandinWork:
    return StandinWork(
        title="ImageNet classification with deep convolutional neural networks",
        abstract=(
            "We trained a large, deep convolutional neural network to classify the 1.2 million "
            "high-resolution images in the ImageNet LSVRC-2010 contest into the 1000 different "
            "classes. On the test data, we achieved top-1 and top-5 error rates of 37.5% and "
            "17.0% which is considerably better than the previous state-of-the-art."
        ),
        authors=["Alex Krizhevsky", "Ilya Sutskever", "Geoffrey E. Hinton"],
        year=2017,
        doi="10.1145/3065386",
        openalex_id="W2163605009",
        venue="Communications of the ACM",
        keywords=["Convolutional neural network", "Image classification"],
    )


def work(title: str, abstract: str | None, *, doi: str | None = None, **kw: Any) -> StandinWork:
    kw.setdefault("authors", ["Grace Hopper"])
    kw.setdefault("year", 2021)
    return StandinWork(title=title, abstract=abstract, doi=doi, **kw)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


class OpenAlexStandin(ScriptedServer):
    """Answers ``/works`` from :attr:`works`; ``url`` is what ``openalex_url`` takes."""

    server_version = "openalex-standin"

    def __init__(self, works: list[StandinWork] | None = None) -> None:
        super().__init__()
        self.works = list(works if works is not None else [alexnet()])

    @property
    def url(self) -> str:
        return self.base_url

    def rate_limit(self, retry_after: str = "1", times: int = 1) -> OpenAlexStandin:
        """The next ``times`` requests get OpenAlex's 429 with this Retry-After."""
        self.fail(429, times, body=TOO_MANY, content_type=JSON, retry_after=retry_after)
        return self

    # --- the API -----------------------------------------------------------------------

    def _by_doi(self, doi: str) -> StandinWork | None:
        doi = doi.lower().removeprefix("https://doi.org/").removeprefix("doi:")
        return next((w for w in self.works if w.doi and w.doi.lower() == doi), None)

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path.startswith("/works/"):
            key = unquote(path[len("/works/") :])
            found = self._by_doi(key) if "doi" in key or key.startswith("10.") else None
            if found is None:
                found = next((w for w in self.works if w.openalex_id == key), None)
            if found is None:
                return Answer(404, json.dumps(NOT_FOUND).encode(), JSON)
            return self._json(found.to_json())
        if path != "/works":
            return Answer(404, json.dumps(NOT_FOUND).encode(), JSON)
        arg = {k: v[0] for k, v in query.items()}
        results = list(self.works)
        for part in (arg.get("filter") or "").split(","):
            name, _, value = part.partition(":")
            if name == "doi":
                wanted = {v.lower().removeprefix("https://doi.org/") for v in value.split("|")}
                results = [w for w in results if w.doi and w.doi.lower() in wanted]
            elif name == "title.search":
                results = [w for w in results if _norm(value) in _norm(w.title)]
        if search := arg.get("search"):
            words = _norm(search).split()
            scored = [(sum(x in _norm(w.title).split() for x in words), w) for w in results]
            results = [w for s, w in sorted(scored, key=lambda sw: -sw[0]) if s]
        per_page = int(arg.get("per-page") or 25)
        meta = {
            "count": len(results),
            "db_response_time_ms": 12,
            "page": 1,
            "per_page": per_page,
            "groups_count": None,
        }
        body = {"meta": meta, "results": [w.to_json() for w in results[:per_page]], "group_by": []}
        return self._json(body)

    @staticmethod
    def _json(payload: Any) -> Answer:
        return Answer(200, json.dumps(payload).encode(), JSON)
