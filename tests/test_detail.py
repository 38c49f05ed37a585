"""What a question asks for, read from its words (rag/detail.py): the pure parts, on questions
of the kinds the relevance rule meets. The checks against papers run through a real library in
tests/test_abstention.py."""

from __future__ import annotations

import pytest

from rag.detail import asked_figure, name_words


@pytest.mark.parametrize(
    ("question", "words", "counted"),
    [
        ("How many experts does CondConv mix in each layer?", ("experts",), True),
        ("How many GPU hours did it take to train DINOv2's ViT?", ("GPU", "hours"), True),
        ("How many labeled images per category does it have?", ("labeled", "images"), True),
        ("How much extra storage per weight does its mask cost?", ("extra", "storage"), False),
        ("By how much does OptInter improve over the baselines?", (), False),
        ("What top-1 accuracy does WaveMix reach on ImageNet-1K?", ("top-1", "accuracy"), False),
        ("What box AP does XCiT reach on COCO?", ("box", "AP"), False),
        ("What is CAS-ViT's inference latency in milliseconds?", ("inference", "latency"), False),
    ],
)
def test_questions_asking_for_a_figure(question, words, counted):
    figure = asked_figure(question)
    assert figure is not None and figure.words == words and figure.counted == counted


@pytest.mark.parametrize(
    "question",
    [
        "What does OBoW reconstruct?",  # what it does, not how much
        "What token mixer does SPANet use?",  # a name, not a measure
        "What is split attention in ResNeSt?",
        "Which paper reports accuracy on ImageNet for pruned ViTs?",  # asks for papers
        "Which papers quantize Vision Transformers, and what precision do they target?",
        "What time complexity does its global dynamic convolution have?",  # "linear", no number
        "How does AWQ decide which weights to protect?",
    ],
)
def test_questions_asking_for_no_figure(question):
    assert asked_figure(question) is None


def test_names_are_kept_as_written_without_a_possessive():
    assert name_words("How does DINOv2's ViT compare with SP^2OT and camera-LiDAR fusion?") == [
        "DINOv2",
        "ViT",
        "SP^2OT",
        "camera-LiDAR",
    ]
    assert name_words("Which method is best?") == []


def test_a_count_inside_a_clause_is_not_a_figure_asked():
    question = "How can I cluster images, including estimating how many clusters there are?"
    assert asked_figure(question) is None
    assert asked_figure("On how many datasets is INTR shown to work?") is not None


def test_authors_are_not_names_a_paper_must_use():
    question = (
        "On which datasets does Zeiler and Fergus's paper beat ImageNet models of Hinton et al.?"
    )
    assert name_words(question, capitalised=True) == ["ImageNet"]
    assert name_words("Does it work on Llama or Pythia models?", capitalised=True) == [
        "Llama",
        "Pythia",
    ]
    assert name_words("Does it work on Llama or Pythia models?") == []
