"""The answer in a model's reply: where a document model starts inventing the next part of
the page, a chat model's "Answer:" label, repeated sentences and word loops."""

from __future__ import annotations

import re

from rag.text import MARKER, content_words, split_sentences, strip_markers

__all__ = [
    "clean_model_text",
    "cut_invented",
    "has_words",
    "sentence_key",
    "strip_answer_label",
    "unloop",
    "why_unusable",
]

# --- model output -----------------------------------------------------------------------

# Where a document model starts inventing the next part of the page.
_INVENTED = re.compile(
    r"(?:^|\s)(?:Question|Excerpts|Answer|Q|Title)\s*:|\n\s*\[\d+\]\s*Title\b"
    r"|<end_of_turn>|<start_of_turn>"
)
# A chat model's label before its answer ("Answer:", "**Answer:**", "Excerpts:"), or an
# echoed "Question: ..." up to the "Answer:" that follows it.
_LEADING_LABEL = re.compile(
    r"^[\s*_#>]*(?:(?:answer|excerpts)\b|question\b[*_\s]*:.*?\banswer\b)[*_\s]*:[*_\s]*",
    re.IGNORECASE | re.DOTALL,
)
_WORD_CHAR = re.compile(r"\w")


def cut_invented(text: str) -> str:
    """``text`` up to where a document model starts writing the next part of the page.

    Only for models that write documents (``ChatModel.writes_documents``): a chat model
    may well begin its reply with "Answer:", and cutting there would leave nothing.
    """
    m = _INVENTED.search(text)
    return text[: m.start()] if m else text


def strip_answer_label(text: str) -> str:
    """``text`` without a chat model's leading "Answer:" (or "Excerpts:") label."""
    while m := _LEADING_LABEL.match(text):
        text = text[m.end() :]
    return text


def clean_model_text(text: str, *, document: bool) -> str:
    """The answer in a model's reply: cut a document model's invented follow-up (or strip
    a chat model's "Answer:" label), then drop repeated sentences and word loops."""
    text = (cut_invented(text) if document else strip_answer_label(text)).strip()
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in split_sentences(text):
        key = sentence_key(sentence)
        if key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    return unloop(" ".join(kept)).strip()


def sentence_key(sentence: str) -> str:
    """What makes two sentences the same sentence: their content words, markers aside."""
    return " ".join(content_words(strip_markers(sentence))) or sentence.strip().lower()


def unloop(text: str) -> str:
    """A word repeated in a loop ("the the the the") once: a loop is not prose."""
    return re.sub(r"\b(\w+)(?:\s+\1\b){3,}", r"\1", text, flags=re.I)


def has_words(text: str) -> bool:
    """Whether ``text`` says anything beyond citation markers and punctuation."""
    return bool(_WORD_CHAR.search(strip_markers(text)))


def why_unusable(raw: str) -> str:
    """Why a model reply left no answer after cleaning, in words for the researcher."""
    if not raw.strip():
        return "it was empty"
    if not has_words(raw):
        return "it held only citation numbers" if MARKER.search(raw) else "it held no words"
    start = " ".join(raw.split())
    start = start if len(start) <= 40 else start[:40].rstrip() + "…"
    return f"it held no answer, only {start!r}"
