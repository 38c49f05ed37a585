"""Does the library hold the detail a question asks for? Checks that retrieval scores cannot make.

A question can be about a paper the library holds and still have no answer there: "How many
GPU hours did it take to train DINOv2's 1B-parameter ViT?" finds DINOv2 first, at a high
score, and its abstract never gives the compute. Retrieval signals alone declined 4 of 15 such
near misses on the test half of eval/questions/offcorpus.jsonl (rag/relevance.py). What is
visible in the words themselves is checked here:

- ``absent_names``: a name in the question (QuokkaQuant, DP-SGD, ECG, Pythia) that no paper
  in the library uses. Nothing can answer a question about it.
- ``asked_about`` / ``named_paper``: the found papers a question names by a name few papers
  use ("What is SAIR?"); ``unheld_names`` and ``unheld_kind``: a name, or the kind of thing a
  "which X" question wants, that those papers never mention.
- ``unheld_claim`` and ``unmatched_names``: a yes/no question about a named paper whose
  other words it mostly lacks, or that joins rare names no found paper uses together.
- ``asked_figure`` and ``figure_stated``: a question that asks for a quantity ("How many…",
  "What top-1 accuracy does…", "What is X's latency…") needs a sentence, in the papers it is
  about, that states a number beside the words naming that quantity.

They are word rules, not fitted weights, written while reading failures of eval/questions
(all halves) and of each heldout file after its one frozen-rule score; what they catch and
cost on questions nobody tuned for is the newest heldout file's line in the README (78% of
off-corpus questions declined on heldout6, against 90% wanted): near misses about a paper
described rather than named, and "which X" questions whose paper names only the kind, slip
through. Measure any change with
``python -m eval.abstention --store SEEDSTORE --check`` and a fresh set written blind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.lexical import LexicalIndex, tokenize
from rag.text import STOPWORDS, content_words, split_sentences
from rag.types import Hit

__all__ = [
    "Figure",
    "absent_names",
    "asked_figure",
    "figure_stated",
    "name_words",
    "asked_about",
    "named_paper",
    "names_rare_paper",
    "unheld_claim",
    "unheld_kind",
    "unheld_names",
    "unmatched_names",
]

# A name: a word with two capitals or more (as rag.text.names), kept as written for messages.
_NAME = re.compile(r"(?<![\w-])(?=[\w^-]*[A-Z][\w^-]*[A-Z])[\w^][\w^-]*")
# A quoted title: quotes that open after a space and close before one ("a network's" and
# "Captum's … SHAP's" are not quotes).
_QUOTED = re.compile(
    r"(?:(?<=\s)|^)['\"\u2018\u201c](\S[^'\"\u2019\u201d]*?\S)['\"\u2019\u201d](?=[\s?,.;:!)]|$)"
)
# Two or more capitalised words, with the small words of a title between them ("Understanding
# the Role of Individual Units", "Fréchet Cumulative Covariance Net").
_CAPITALISED_RUN = re.compile(
    r"\b[A-Z][\w'-]*(?:\s+(?:(?:of|the|a|an|in|for|and|to|with|on|via|from|by)\s+)*[A-Z][\w'-]*)+"
)
# A capitalised word that does not start a sentence ("… on Llama or Pythia models?").
_CAPITALISED = re.compile(r"(?<![.?!:]\s)(?<!^)(?<=\s)([A-Z][a-z]+(?:-[A-Za-z0-9]+)*)\b")
_AUTHORS = re.compile(
    r"\b([A-Z][a-z]+)(?:\s+(?:and|&)\s+([A-Z][a-z]+))?(?:['\u2019]s\b|\s+et\s+al\b)"
)
_AUX = r"(?:does|do|did|is|are|was|were|has|have|had|can|could|would|will|should)"
# "How many GPU hours did…", "By how much does…", "How long does…": a count, where a clause
# starts ("… including estimating how many clusters there are" asks for a method). The words
# up to the verb (may be none) name what is counted.
_COUNT = re.compile(
    rf"(?:^|[,;:?(]\s*|\b(?:and|or|but|by|on|in|at|to|for|with|after|within|of)\s+)"
    rf"how\s+(?P<how>many|much|long|fast|large|big|small|often|far)\b(?P<what>.*?)\b{_AUX}\b",
    re.IGNORECASE,
)
# "What top-1 accuracy does…" / "What is CAS-ViT's inference latency in…": a figure when the
# words between "what" and the verb (or after "what is", up to a preposition) name a measure.
_WHAT = re.compile(
    rf"\b(?:what|which)\s+(?P<head>[^,;?]*?)\b(?P<verb>{_AUX})\b(?P<tail>[^?]*)",
    re.IGNORECASE,
)
# A measure is named in a few words ("ImageNet linear-probe accuracy"); a longer head is a
# description ("Which paper learns … features from unlabeled videos …").
_HEAD_WORDS = 4
# "Which paper…", "What studies…": the question asks for papers, not for a detail of one.
_ASKS_FOR_PAPERS = re.compile(r"\b(?:papers?|stud(?:y|ies)|works?)\b", re.IGNORECASE)
# Kinds of thing a "which X" question wants a name of.
_NAMED_KIND = re.compile(
    r"\b(?:datasets?|benchmarks?|models?|backbones?|architectures?|encoders?|decoders?|"
    r"detectors?|optimi[sz]ers?|GPUs?|hardware|versions?|baselines?|LLMs?|frameworks?|"
    r"librar(?:y|ies)|trackers?|classifiers?|networks?)\b",
    re.IGNORECASE,
)
_PREPOSITION = re.compile(r"\b(?:in|on|of|for|at|with|from|over|by|when|during|per|and)\b", re.I)
# The quantities a question asks for by name. A metric outside this list is a name (two
# capitals), and a name counts when the question's head holds one (AP, FID, MAE, BLEU).
MEASURES = frozenset(
    """accuracy accuracies recall error errors rate rates score scores auc ap map
    miou iou fid mae mse rmse bleu psnr ssim perplexity latency throughput speedup speed-up
    speed hours seconds milliseconds ms memory size parameters params flops
    macs bit-width bits percentage percent points gain gains improvement improvements margin
    cost compute energy top-1 top-5 ratio fps""".split()
)
# Measures a bare number or percentage can state without naming them ("reaches 81.2% on
# ImageNet" answers "what accuracy"); every other asked word must be in the sentence.
_GENERIC = frozenset(
    "accuracy accuracies score scores performance gain gains improvement improvements "
    "percentage percent points margin result results much".split()
)
# A number standing on its own ("3.72", "1.61-bit", "4x", "80"), not the digits of a name
# (CIFAR100, ResNet-50, top-5, iNaturalist2018) nor a citation's year.
_NUMBER = re.compile(r"(?<![\w^.\-])\d+(?:[.,]\d+)*")
_RATIO = re.compile(r"\d\s*(?:%|\u00d7|x\b|times\b|percent)")
_DURATION = re.compile(
    r"\d\s*-?\s*(?:ms|milliseconds?|s|seconds?|minutes?|min|hours?|h|days?|weeks?|frames?|"
    r"steps?|epochs?|iterations?|tokens?|words?)\b",
    re.IGNORECASE,
)
# How many words may stand between a number in words and what it counts ("eight datasets").
_COUNT_GAP = 4
# A number written out ("on eight datasets", "a dozen tasks", "three times faster").
_NUMBER_WORD = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|hundreds?|"
    r"thousands?|millions?|billions?|dozens?|half|twice|doubles?|doubled|halved|triples?|"
    r"tripled|orders?\s+of\s+magnitude)\b",
    re.IGNORECASE,
)
_ENUMERATOR = re.compile(r"\(\s*(?:\d|[ivx]+)\s*\)")  # "(1) the input features…"
_YEAR = re.compile(r"^(?:19|20)\d\d$")
# "Has X been…", "Does X…": a yes/no question.
_YES_NO = re.compile(r"(?:has|have|does|do|did|is|are|was|were|can|could|will|would)\b", re.I)
# The share of a yes/no question's words (by idf, names aside) the paper it names must hold.
YES_NO_COVERAGE = 0.5
# A name used by this many papers or fewer picks out the paper a question is about.
IDENTIFYING = 3


@dataclass(frozen=True)
class Figure:
    """A quantity a question asks for: the words naming it (may be none: "How much does X
    improve…") as written."""

    words: tuple[str, ...]
    # "How many experts…": the counted noun must be stated. "What top-1 accuracy…", "How
    # much storage…": only the measure words (MEASURES) must be.
    counted: bool = False
    # "How long does it take…" (no measure named): a number with a unit of time or length.
    duration: bool = False

    def describe(self) -> str:
        return " ".join(self.words) if self.words else "the asked figure"


def name_words(text: str, *, capitalised: bool = False) -> list[str]:
    """The names a text uses (words with two capitals or more), as written, once each; a
    possessive "'s" is not part of the name. ``capitalised`` adds capitalised words inside a
    sentence (Pythia, Chameleon, Textualization), authors aside: names too, but so are some
    plain words a writer capitalises, so they pick out papers and count as absent only when
    no paper uses them at all; ``unheld_names`` does not ask a named paper to hold them."""
    found = _NAME.findall(text)
    if capitalised:
        # Authors are not in abstracts: "Zeiler and Fergus's paper", "Hinton et al." are not
        # names a paper must use.
        authors = {a for m in _AUTHORS.finditer(text) for a in m.groups() if a}
        found += [m.group(1) for m in _CAPITALISED.finditer(text) if m.group(1) not in authors]
    out: dict[str, None] = {}
    for word in found:
        word = re.sub(r"['\u2019]s$", "", word).strip("-")
        if word:
            out.setdefault(word, None)
    return list(out)


def _parts(word: str) -> list[str]:
    return [p for p in re.split(r"[-.]", word) if p]


def absent_names(query: str, lexical: LexicalIndex) -> list[str]:
    """The question's names that no paper in the library uses. A compound counts as used when
    each of its named parts is ("camera-LiDAR" is there when "LiDAR" is); "PPO-based" is not
    when "PPO" is not."""
    out = []
    for word in name_words(query, capitalised=True):
        tokens = tokenize(word)
        if not tokens or lexical.papers_holding(tokens[0]):
            continue
        named_parts = [p for p in _parts(word) if _NAME.fullmatch(p)] or [word]
        if all(any(lexical.papers_holding(t) for t in tokenize(p)) for p in named_parts):
            continue
        out.append(word)
    return out


def _content(span: str) -> list[str]:
    words = re.findall(r"[\w^][\w^.\-]*[\w^]|\w", span)
    return [w.rstrip(".") for w in words if w.lower() not in STOPWORDS and not w.isdigit()]


def asked_figure(query: str) -> Figure | None:
    """The quantity ``query`` asks for, or None when it asks for no figure."""
    text = query.replace("\u2019", "'")
    m = _COUNT.search(text)
    if m:
        phrase = _PREPOSITION.split(m.group("what"), maxsplit=1)[0]
        counted = tuple(w for w in _content(phrase) if not w.endswith("'s"))
        how = m.group("how").lower()
        return Figure(counted, counted=how == "many", duration=how == "long" and not counted)
    m = _WHAT.search(text)
    if not m:
        return None
    head = m.group("head").strip()
    if not head and m.group("verb").lower() in {"is", "are", "was", "were"}:
        # "What is X's latency in ms…": the measure follows the verb, up to a preposition.
        head = _PREPOSITION.split(m.group("tail"), maxsplit=1)[0]
        head = re.sub(r"\b[\w^-]+'s\b", " ", head)
    words = _content(head)
    if len(words) > _HEAD_WORDS or _ASKS_FOR_PAPERS.search(head):
        return None
    if any(w.lower() in MEASURES for w in words):
        return Figure(tuple(words))
    return None


def asked_about(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> list[Hit] | None:
    """The found papers the question names: those using every name of it that few papers use
    (``IDENTIFYING``: its method, model or dataset, "SAIR", "RPTM", not "ImageNet"; measures
    like PSNR aside), in the title or abstract, as written or spelled out ("HAN": "Holistic
    Attention Network"). None when the question names nothing that rare; empty when the papers
    it names were not found."""
    rare = [
        w
        for w in name_words(query, capitalised=True)
        if w.lower() not in MEASURES and _rare(w, lexical)
    ]
    phrases = _identifying_phrases(query, lexical)
    if not rare and not phrases:
        return None
    return [
        h
        for h in hits
        if all(_uses(h, w, lexical) for w in rare) and all(p <= _tokens(h) for p in phrases)
    ]


def _identifying_phrases(query: str, lexical: LexicalIndex) -> list[set[str]]:
    """The tokens of each title or name the question gives in several words (a quoted title,
    "'Self-Supervised Learning Across Domains'"; capitalised words, "Iterative Feature
    Merging") that few papers hold all of (``IDENTIFYING``)."""
    # The question's first word is capitalised as any sentence's is ("Does", "Which").
    rest = query.strip().partition(" ")[2]
    spans = _QUOTED.findall(rest) + [m.group(0) for m in _CAPITALISED_RUN.finditer(rest)]
    out = []
    for span in spans:
        tokens = set(tokenize(span))
        if len(tokens) < 2:
            continue
        papers = set.intersection(*(lexical.papers_with(t) for t in tokens))
        if 0 < len(papers) <= IDENTIFYING:
            out.append(tokens)
    return out


def names_rare_paper(query: str, lexical: LexicalIndex) -> bool:
    """Whether the question names something (a word with two capitals: "FDEN", "CRLNet") that
    few papers use (``IDENTIFYING``): MiniLM does not know such names, BM25 finds them."""
    return any(_rare(w, lexical) for w in name_words(query))


def named_paper(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> Hit | None:
    """The first found paper the question names (``asked_about``), else the first whose
    title holds one of its rare names ("How do BYOL and SimSiam avoid collapse?" names the
    SimSiam paper, whose abstract never says BYOL); None when it names none."""
    about = asked_about(query, hits, lexical)
    if about:
        return about[0]
    rare = {t for w in name_words(query, capitalised=True) for t in _rare(w, lexical)}
    return next((h for h in hits if rare & set(tokenize(h.paper.title))), None)


def _uses(hit: Hit, word: str, lexical: LexicalIndex) -> bool:
    tokens = _tokens(hit)
    return any(_plural(t) & tokens for t in _name_tokens(word, lexical)) or _spelled_out(
        word, f"{hit.paper.title} {hit.paper.abstract}"
    )


def unheld_kind(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> list[str]:
    """What a "which/what X" question asks for, when the paper it names never mentions any
    word of X: "Which disease did the medical application of TCAV study?" of a TCAV abstract
    without "disease". Empty when the question names no found paper or asks no such thing.
    One word of X is enough ("What two token types does DaViT use?": DaViT says "tokens");
    a kind whose members are names (datasets, models, GPUs) needs a name beside it."""
    m = _WHAT.search(query.replace("\u2019", "'"))
    paper = named_paper(query, hits, lexical)
    if m is None or paper is None or asked_figure(query) is not None:
        return []
    words = _content(m.group("head"))
    if not words or _ASKS_FOR_PAPERS.search(m.group("head")):
        return []
    kind = _NAMED_KIND.search(m.group("head"))
    if kind:
        # "Which datasets…", "Which base model…": the answer is a name, so the paper must give
        # one the question and its title do not (PoseTrack21, YOLOv3), not only the kind ("a
        # pretrained audio diffusion model"): a name with two capitals anywhere ("experiments
        # on CUB-200-2011…" names datasets without the word), or a capitalised word beside
        # the kind ("the Xiph large motion benchmark").
        text = f"{query} {paper.paper.title}"
        given = {t for w in name_words(text, capitalised=True) for t in tokenize(w)}
        for sentence in split_sentences(paper.paper.abstract):
            beside = _holds(kind.group(0), set(tokenize(sentence)))
            named = name_words(sentence, capitalised=beside)
            if any(not set(tokenize(w)) & given for w in named):
                return []
        return [kind.group(0)]
    held = _tokens(paper)
    return [] if any(_holds(w, held) for w in words) else words


def unmatched_names(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> list[str]:
    """The rare names of a yes/no question that no found paper uses together: "Was LIMITR
    trained on MIMIC-CXR?" when LIMITR's abstract never says MIMIC-CXR (another paper's
    does). A question asking for something else may still be answered from two papers."""
    if not _YES_NO.match(query.strip()) or asked_about(query, hits, lexical) != []:
        return []
    return [w for w in name_words(query, capitalised=True) if _rare(w, lexical)]


def unheld_claim(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> list[str]:
    """What a yes/no question about a named paper asks that the paper never mentions: "Has
    ShearletX been used to explain audio or spectrogram classifiers?" of an abstract without
    audio or spectrograms (less than ``YES_NO_COVERAGE`` of the question's other words, by
    idf). Empty for other questions and when it names no found paper (``unmatched_names``)."""
    if not _YES_NO.match(query.strip()):
        return []
    about = asked_about(query, hits, lexical)
    if not about:
        return []
    names = {t for w in name_words(query, capitalised=True) for t in tokenize(w)}
    words = [w for w in content_words(query) if tokenize(w) and not set(tokenize(w)) & names]
    idf = lexical.idf([tokenize(w)[0] for w in words])
    held = _tokens(about[0])
    missing = [w for w in words if not _holds(w, held)]
    total = sum(idf[tokenize(w)[0]] for w in words)
    lacking = sum(idf[tokenize(w)[0]] for w in missing)
    return missing if total and 1 - lacking / total < YES_NO_COVERAGE else []


def unheld_names(query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> list[str]:
    """Names of the question that the papers it names do not use, though others do: "On which
    GPU model was TVConv's throughput measured?" when TVConv's abstract never says GPU. Empty
    when the question names no found paper."""
    about = asked_about(query, hits, lexical)
    if not about:
        return []
    return [w for w in name_words(query) if not any(_uses(h, w, lexical) for h in about)]


def _spelled_out(name: str, text: str) -> bool:
    """Whether ``text`` spells out an acronym ("LLMs" as "Large Language Models")."""
    letters = re.sub(r"s$", "", name) if name[:-1].isupper() else name
    if not letters.isalpha() or not letters.isupper() or len(letters) < 2:
        return False
    words = re.findall(r"[A-Za-z]+", text)
    initials = "".join(w[0].upper() for w in words)
    n = len(letters)
    return any(initials[i : i + n] == letters for i in range(len(initials) - n + 1))


def _plural(token: str) -> set[str]:
    """A name's token with and without a plural "s" (the question's "LLM", the paper's "LLMs")."""
    return {token, token + "s", token[:-1] if token.endswith("s") else token}


def _rare(word: str, lexical: LexicalIndex) -> list[str]:
    """The tokens of a name that few papers use (``IDENTIFYING``): what picks out a paper."""
    return [t for t in _name_tokens(word, lexical) if 0 < lexical.papers_holding(t) <= IDENTIFYING]


def _counts(sentence: str, noun: str) -> bool:
    """Whether ``sentence`` counts ``noun``: it holds the noun and a figure ("the parameters
    … are 80 vs. 24.37M"), or a number in words a few words from it ("eight datasets"); a
    number word elsewhere is not a count of it ("two key limitations … rare positive
    categories")."""
    target = tokenize(noun)[:1]
    words = re.findall(r"[\w.^%-]+", _ENUMERATOR.sub(" ", sentence))
    for i, word in enumerate(words):
        if target and tokenize(word)[:1] == target:
            if any(_NUMBER.search(w) and not _YEAR.match(w) for w in words):
                return True
            near = words[max(0, i - _COUNT_GAP - 1) : i] + words[i + 1 : i + _COUNT_GAP + 2]
            if any(_NUMBER_WORD.fullmatch(w) for w in near):
                return True
    return False


def _numbers(sentence: str) -> list[str]:
    sentence = _ENUMERATOR.sub(" ", sentence)
    found = [n for n in _NUMBER.findall(sentence) if not _YEAR.match(n)]
    return found + _NUMBER_WORD.findall(sentence)


def _name_tokens(word: str, lexical: LexicalIndex) -> list[str]:
    """The index tokens a name is found by: its own, or its named parts' when the library does
    not use the whole ("ResNeSt-50" is found as "resnest")."""
    tokens = tokenize(word)
    if not tokens or lexical.papers_holding(tokens[0]):
        return tokens[:1]
    return [t for p in _parts(word) if _NAME.fullmatch(p) for t in tokenize(p)[:1]]


def _holds(word: str, tokens: set[str]) -> bool:
    return any(t in tokens for t in tokenize(word))


def figure_stated(figure: Figure, query: str, hits: Sequence[Hit], lexical: LexicalIndex) -> bool:
    """Whether a sentence of the papers the question is about states a number beside the
    measure it asks for (a number stands for a generic one, like "accuracy").

    The papers the question is about: those it names (``asked_about``; none found, none
    stated); when it names none that rarely, the found ones with one of its names in the
    title, else holding one, else the first three.
    """
    about = asked_about(query, hits, lexical)
    if about is None:
        names = {t for w in name_words(query) for t in _name_tokens(w, lexical)}
        about = [h for h in hits if names & set(tokenize(h.paper.title))]
        about = about or [h for h in hits if names & _tokens(h)] or list(hits[:3])
    specific = [w for w in figure.words if w.lower() not in _GENERIC]
    # A name in the measure qualifies it ("Inception score", "ImageNet top-1 accuracy"): a
    # score on another scale or another dataset does not answer.
    qualifiers = [w for w in figure.words if w[:1].isupper() and w.lower() not in MEASURES]
    if figure.counted and specific:
        # "How many labeled images per category…": the counted noun must be stated ("images");
        # "How many CorLoc points…": the last word that is not generic ("CorLoc").
        needed = specific[-1:]
    else:
        needed = [w for w in figure.words if w.lower() in MEASURES and w.lower() not in _GENERIC]
    # Only generic measures asked ("What accuracy…"): a bare count ("~30 minutes", "1B
    # parameters") does not state an accuracy; a percentage, a decimal or a ratio does.
    measured = not needed and any(w.lower() in _GENERIC for w in figure.words)
    needed += [w for w in qualifiers if w not in needed]
    for hit in about:
        for sentence in split_sentences(f"{hit.paper.title}. {hit.paper.abstract}"):
            numbers = _numbers(sentence)
            if figure.duration and not _DURATION.search(sentence):
                continue
            if measured:
                numbers = [n for n in numbers if "." in n or _RATIO.search(sentence)]
            if figure.counted and needed and not _counts(sentence, needed[0]):
                continue
            if numbers and all(_holds(w, set(tokenize(sentence))) for w in needed):
                return True
    return False


def _tokens(hit: Hit) -> set[str]:
    """A paper's tokens, a hyphenated one also written solid ("re-training" holds the
    question's "retraining")."""
    tokens = set(tokenize(f"{hit.paper.title} {hit.paper.abstract}"))
    return tokens | {t.replace("-", "") for t in tokens if "-" in t}
