"""The shapes scorer's tokeniser: synonyms, filler words, numbers in context."""

import pytest

from core.shapes import vocab


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("A photo of a tiny red box", ["small", "red", "square"]),
        ("a big round disc", ["large", "circle", "circle"]),
        ("a triangle with 3 edges", ["triangle", "3", "edges"]),
        ("a shape with three sides", ["shape", "3", "edges"]),
        ("two shapes", ["several", "shape"]),
        ("one shape with sharp edges", ["single", "shape", "sharp", "edges"]),
        ("a pale gray blob", ["pale", "grey", "smudge"]),
        ("hello world", []),
    ],
)
def test_tokenize(text, tokens):
    assert vocab.tokenize(text) == tokens


def test_encode_pads_and_masks():
    ids, mask = vocab.encode(["a red shape", "nothing known here"])
    assert ids.shape == (2, vocab.MAX_TOKENS)
    assert mask[0].sum() == 2 and not mask[1].any()
    assert vocab.TOKENS[ids[0, 0]] == "red"


def test_known_words_cover_synonyms():
    words = vocab.known_words()
    assert {"red", "tiny", "box", "gray", "smudge"} <= set(words)
    assert vocab.PAD not in words
