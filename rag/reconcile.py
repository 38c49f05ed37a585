"""What an ingest writes: each paper read, matched to the stored paper it is, merged into it,
and given a citekey. Nothing is written here; ``rag.ingest`` writes the plan in its crash-safe
order.

A stored paper's id never changes (it is in Chroma's ids, saved conversations and exports):
a paper read under another id (its DOI where the store had its title) is merged into the
stored one: it adds what the stored paper lacks, and itself as a source. Read under the same
id, or from the input the stored paper was first read from (an edited .bib entry that gained
an eprint), its title and abstract replace the stored ones, as they always have.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rag.catalogue import Catalogue
from rag.chunking import content_hash
from rag.citekeys import generate_citekey, suffixed
from rag.identity import alias_keys, find_match, merge_into, refresh
from rag.sources.papers import Collected
from rag.sources.record import Problem, ProblemSink
from rag.types import Paper


@dataclass
class Plan:
    """The writes an ingest makes, and what it counts."""

    # (paper, content hash) to chunk, embed and commit: new papers and changed texts.
    todo: list[tuple[Paper, str]] = field(default_factory=list)
    # Stored papers whose metadata (sources, DOI, citekey...) changes, their text does not.
    metadata: list[Paper] = field(default_factory=list)
    # Alias keys of the records merged into each paper, beside the paper's own.
    keys: dict[str, list[str]] = field(default_factory=dict)
    # Papers whose citekey was generated rather than given by a source.
    auto_citekeys: set[str] = field(default_factory=set)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0


def plan(cat: Catalogue, got: Collected, report: ProblemSink) -> Plan:
    """Match ``got``'s papers to the stored ones, merge, and give every paper a citekey."""
    out = Plan()
    known = cat.hashes()
    wanted = [k for pid, p in got.papers.items() for k in (*alias_keys(p), *got.keys.get(pid, ()))]
    aliases = cat.lookup_aliases(wanted)
    stored = cat.get_papers({*aliases.values(), *(pid for pid in got.papers if pid in known)})
    auto_stored = cat.auto_citekeys(stored)
    working: dict[str, Paper] = {}  # stored papers as this run changes them
    new: dict[str, Paper] = {}
    place: dict[str, tuple[str, int]] = {}  # where the paper that brings a citekey was read

    def get(i: str) -> Paper | None:
        return working.get(i) or stored.get(i)

    for pid, paper in got.papers.items():
        match = find_match(paper, aliases.get, get, more_keys=got.keys.get(pid, ()))
        target = match.paper_id or (pid if pid in stored else None)
        out.keys.setdefault(target or pid, []).extend([*alias_keys(paper), *got.keys.get(pid, ())])
        if target is None:
            new[pid] = paper
            place[pid] = got.places[pid]
            continue
        if why := match.disagreement():
            report(Problem(*got.places[pid], why))
        base = working.get(target) or stored[target]
        if target in auto_stored and base.citekey == stored[target].citekey:
            base = replace(base, citekey=None)  # a citekey the user's source gives wins
        # Read again under its own id, or from the input it was first read from, a paper
        # replaces its stored text, as an edited input always has.
        again = target == pid or (bool(base.sources) and paper.sources[:1] == base.sources[:1])
        merged = refresh(base, paper) if again else merge_into(base, paper)
        if merged.citekey != base.citekey:
            place[target] = got.places[pid]
        working[target] = merged
        out.merged += target != pid
    _assign_citekeys(cat, working, new, stored, auto_stored, place, out, report)
    for paper in new.values():
        out.added += 1
        out.todo.append((paper, content_hash(paper)))
    for pid, paper in working.items():
        digest = content_hash(paper)
        if known[pid] != digest:
            out.updated += 1
            out.todo.append((paper, digest))
            continue
        out.unchanged += 1
        if paper != stored[pid] or (pid in auto_stored) != (pid in out.auto_citekeys):
            out.metadata.append(paper)
    return out


def _assign_citekeys(
    cat: Catalogue,
    working: dict[str, Paper],
    new: dict[str, Paper],
    stored: dict[str, Paper],
    auto_stored: set[str],
    place: dict[str, tuple[str, int]],
    out: Plan,
    report: ProblemSink,
) -> None:
    """Give every paper to write a citekey no other paper of the library has.

    Keys the sources gave go first, in the order they were read; a clash gets a suffix and
    a problem line. Then papers without one: a stored paper keeps the key it was given, a
    new one gets a generated key, in paper id order so that the same inputs give the same
    keys on every machine.
    """
    batch: dict[str, str] = {}  # casefolded key -> paper id, for this run's keys

    def free(key: str, pid: str) -> bool:
        owner = batch.get(key.casefold()) or cat.citekey_owner(key)
        return owner in (None, pid)

    def claim(key: str, pid: str) -> str:
        n, got = 0, key
        while not free(got, pid):
            n += 1
            got = suffixed(key, n)
        batch[got.casefold()] = pid
        return got

    papers = {**working, **new}
    for pid, paper in papers.items():
        if paper.citekey is None:
            continue
        key = claim(paper.citekey, pid)
        if key != paper.citekey:
            papers[pid] = replace(paper, citekey=key)
            owner = batch.get(paper.citekey.casefold()) or cat.citekey_owner(paper.citekey)
            report(
                Problem(
                    *place.get(pid, ("", 0)),
                    f"citekey {paper.citekey} is already {owner}'s; this paper "
                    f"({pid}) is cited as {key}",
                )
            )
    for pid in sorted(pid for pid, p in papers.items() if p.citekey is None):
        paper = papers[pid]
        kept = stored[pid].citekey if pid in auto_stored else None
        papers[pid] = replace(paper, citekey=kept or claim(generate_citekey(paper), pid))
        out.auto_citekeys.add(pid)
    for pid, paper in papers.items():
        (working if pid in working else new)[pid] = paper
