"""Text utilities shared by retrieval, answering and references: sentences, content words
and citation markers ("[1]", "[1, 2]", "[1-3]")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "MARKER",
    "STOPWORDS",
    "append_marker",
    "asked_part",
    "content_words",
    "format_marker",
    "marker_numbers",
    "overlap",
    "sentence_spans",
    "split_sentences",
    "strip_markers",
    "tidy",
    "with_context",
]

_ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "al.", "etc.", "vs.", "cf.", "fig.", "figs.", "eq.", "eqs.", "sec.",
     "no.", "approx.", "resp.", "ref.", "refs.", "dr.", "mr.", "ms.", "st."}
)  # fmt: skip
# End punctuation (and closing quotes/brackets), whitespace, then what can start a sentence.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(\s+)(?=[\"'(\[]?[A-Z0-9])|\s*\n\s*")
# A citation marker: [1], [1, 2], [1;2], [1-3].
MARKER = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\])+[.!?]?")
_WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
STOPWORDS = frozenset(
    """a an the and or but if of in on at to for from by with without about into over under
    is are was were be been being do does did doing have has had having can could will would
    shall should may might must this that these those it its they them their there here
    which who whom whose what when where why how than then so such as not no nor only also
    very more most much many some any each all both few other our we us you your i me my
    he she his her paper papers method methods approach model models propose proposed
    show shows shown use uses used using based new work one two get gets""".split()
)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; robust to "e.g.", "et al.", initials and decimals."""
    return [text[a:b] for a, b in sentence_spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace excluded. A citation marker written after
    the full stop ("... fast. [1] Next") stays with the sentence before it."""
    cuts: list[tuple[int, int]] = []  # (end of sentence, start of next)
    for m in _BOUNDARY.finditer(text):
        if m.group(1) is not None:  # a full stop and whitespace
            end = m.start(1)
            word = text[:end].rsplit(None, 1)[-1].lower() if text[:end].strip() else ""
            word = word.lstrip("(\"'")
            if word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", word):
                continue  # an abbreviation or an initial, not the end of a sentence
        else:
            end = m.start()
        start = m.end()
        lead = _LEADING_MARKERS.match(text, start)
        # Only on the same line: a marker opening a new line starts something new.
        if lead and m.group(1) is not None and "\n" not in m.group(1):
            end = lead.end()
            start = lead.end()
        cuts.append((end, start))
    spans: list[tuple[int, int]] = []
    pos = 0
    for end, start in cuts:
        if start < pos:
            continue
        spans.append((pos, end))
        pos = start
    spans.append((pos, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def content_words(text: str) -> list[str]:
    """The words that carry meaning: lower-cased, NFKC-folded, without stopwords."""
    norm = unicodedata.normalize("NFKC", text).lower()
    return [w for w in _WORD.findall(norm) if w not in STOPWORDS and len(w) > 1]


_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")


def figures(text: str) -> set[str]:
    """The numbers a text states ("1.61-bit", "3.72x", "2023" give 1.61, 3.72, 2023), citation
    markers aside."""
    return set(_FIGURE.findall(strip_markers(text)))


# A name: a word with two capitals or more (GPTQ, QuokkaQuant, I-ViT, LLMs, FP16).
_NAME = re.compile(r"\b(?=[\w-]*[A-Z][\w-]*[A-Z])[\w-]+")


def names(text: str) -> set[str]:
    """The method, model and dataset names a text uses (words with two capitals or more),
    lowercased and without a plural "s" ("LLMs" gives "llm")."""
    out = set()
    for word in _NAME.findall(strip_markers(text)):
        word = word.strip("-").lower()
        out.add(word[:-1] if word.endswith("s") and len(word) > 2 else word)
    return out


def overlap(sentence: str, other: str) -> float:
    """Share of ``sentence``'s content words that ``other`` contains."""
    words = set(content_words(sentence))
    if not words:
        return 0.0
    return len(words & set(content_words(other))) / len(words)


def strip_markers(text: str) -> str:
    """``text`` without citation markers, whitespace folded."""
    return re.sub(r"\s+", " ", MARKER.sub("", text)).strip()


def marker_numbers(marker: str) -> list[int]:
    """The numbers a marker names: "[1, 3-5]" -> [1, 3, 4, 5]."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker.strip("[] ")):
        bounds = re.split(r"\s*[\u2013-]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            numbers.extend(range(lo, hi + 1) if 0 <= hi - lo <= 20 else (lo, hi))
        elif part.strip().isdigit():
            numbers.append(int(part))
    return numbers


def format_marker(numbers: Sequence[int]) -> str:
    """[1, 2] -> "[1][2]", the one form the checked text uses."""
    return "".join(f"[{n}]" for n in numbers)


def tidy(sentence: str) -> str:
    """Fold runs of spaces and the space a removed marker left before punctuation."""
    sentence = re.sub(r"[ \t]{2,}", " ", sentence)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", sentence).strip()


def append_marker(sentence: str, n: int) -> str:
    """``sentence`` with ``[n]`` before its final punctuation."""
    m = re.search(r"([.!?][\"')]*)$", sentence)
    if m:
        return f"{sentence[: m.start()].rstrip()} [{n}]{m.group(1)}"
    return f"{sentence} [{n}]"


# How a follow-up condensed without a model carries its context: "question (context: …)".
_CONTEXT = " (context: "


def with_context(question: str, context: list[str]) -> str:
    """``question`` with the conversation's topic and titles appended for the search."""
    return f"{question}{_CONTEXT}{'; '.join(context)})" if context else question


def asked_part(query: str) -> str:
    """What the user asked of a query ``with_context`` made (the whole query otherwise)."""
    return query.split(_CONTEXT, 1)[0]
