"""The shapes scorer's closed vocabulary and tokeniser.

Words a person might type are mapped to canonical tokens (``tiny`` -> ``small``, ``box`` ->
``square``, ``gray`` -> ``grey``, ...); words the scorer does not know (``a``, ``photo``,
``of``) are ignored. A prompt with no known word is refused by the scorer with an
:class:`~core.errors.InputError` that lists :func:`known_words`.

Numbers are read in context: "3 edges" / "three sides" keeps the number (an edge count);
"two shapes" / "several" become ``several``; "one shape" becomes ``single``.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from .world import COLOURS, SHAPES, SIZES

__all__ = ["TOKENS", "SYNONYMS", "MAX_TOKENS", "tokenize", "encode", "known_words", "PAD"]

PAD = "<pad>"
EDGE_NUMBERS = ("3", "4", "5", "10")  # edge / corner / point counts the world can show
TOKENS: tuple[str, ...] = (
    PAD,
    *COLOURS,
    "grey",
    "pale",
    *SHAPES,
    "shape",
    *SIZES,
    "smudge",
    "irregular",
    "mixed",
    "blurry",
    "sharp",
    "clean",
    "single",
    "several",
    "edges",
    "points",
    *EDGE_NUMBERS,
    "no",
)
"""Canonical tokens; a token's id is its index."""

MAX_TOKENS = 12  # tokens kept per phrase (the rest is dropped)

SYNONYMS: dict[str, str] = {
    # colours
    "crimson": "red", "scarlet": "red", "ruby": "red",
    "amber": "orange", "tangerine": "orange",
    "gold": "yellow", "golden": "yellow", "lemon": "yellow",
    "lime": "green", "emerald": "green",
    "teal": "cyan", "turquoise": "cyan", "aqua": "cyan",
    "navy": "blue", "azure": "blue", "cobalt": "blue",
    "violet": "purple", "lilac": "purple", "lavender": "purple", "indigo": "purple",
    "magenta": "pink", "rose": "pink", "fuchsia": "pink",
    "gray": "grey", "silver": "grey", "colourless": "grey", "colorless": "grey",
    "light": "pale", "faded": "pale", "pastel": "pale", "washed": "pale", "faint": "pale",
    # shapes
    "box": "square", "boxes": "square", "squares": "square", "block": "square", "cube": "square",
    "circle": "circle", "circles": "circle", "round": "circle", "disc": "circle", "disk": "circle",
    "dot": "circle", "ball": "circle", "circular": "circle",
    "triangles": "triangle", "triangular": "triangle",
    "stars": "star", "starry": "star",
    "object": "shape", "objects": "shape", "figure": "shape", "figures": "shape", "form": "shape",
    "shapes": "shape", "thing": "shape", "things": "shape",
    # sizes
    "tiny": "small", "little": "small", "smaller": "small", "mini": "small", "minuscule": "small",
    "big": "large", "huge": "large", "bigger": "large", "larger": "large", "giant": "large",
    "enormous": "large", "massive": "large",
    "mid": "medium", "middle": "medium", "moderate": "medium", "average": "medium",
    # hybrids (outlines between shapes, two-coloured shapes)
    "hybrid": "irregular", "misshapen": "irregular", "deformed": "irregular", "distorted": "irregular",
    "malformed": "irregular", "warped": "irregular", "odd": "irregular", "weird": "irregular",
    "multicoloured": "mixed", "multicolored": "mixed", "bicoloured": "mixed", "bicolored": "mixed",
    # quality
    "blob": "smudge", "smear": "smudge", "stain": "smudge", "splotch": "smudge", "blot": "smudge",
    "smudged": "smudge", "smudges": "smudge", "blobs": "smudge",
    "blurred": "blurry", "blur": "blurry", "fuzzy": "blurry", "unfocused": "blurry", "soft": "blurry",
    "crisp": "sharp", "clear": "sharp", "defined": "sharp",
    "neat": "clean", "tidy": "clean", "perfect": "clean",
    "lone": "single", "solo": "single", "alone": "single", "only": "single",
    "many": "several", "multiple": "several", "some": "several", "few": "several", "various": "several",
    # edges
    "edge": "edges", "sides": "edges", "side": "edges", "corners": "edges", "corner": "edges",
    "vertices": "edges", "angles": "edges",
    "point": "points", "spikes": "points", "arms": "points", "tips": "points",
    "without": "no", "zero": "no",
}
"""Word -> canonical token (canonical tokens map to themselves)."""

PLURALS = {"shapes", "squares", "boxes", "circles", "triangles", "stars", "objects", "figures", "things", "smudges", "blobs"}
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10,
}
_COUNT_NOUNS = {"edges", "points"}


def _canonical(word: str) -> str | None:
    if word in TOKENS and word != PAD:
        return word
    return SYNONYMS.get(word)


def tokenize(text: str) -> list[str]:
    """Splits a phrase into canonical tokens, ignoring unknown words.

    Args:
        text: One phrase (no ``|``), e.g. "A photo of a tiny red box".

    Returns:
        Canonical tokens in order, e.g. ``["small", "red", "square"]``; at most
        :data:`MAX_TOKENS`.
    """
    words = re.findall(r"[a-z]+|\d+", text.lower())
    out: list[str] = []
    for k, word in enumerate(words):
        number = int(word) if word.isdigit() else NUMBER_WORDS.get(word)
        if number is not None:
            nxt = _canonical(words[k + 1]) if k + 1 < len(words) else None
            nxt2 = _canonical(words[k + 2]) if k + 2 < len(words) else None
            if (nxt in _COUNT_NOUNS or nxt2 in _COUNT_NOUNS) and str(number) in EDGE_NUMBERS:
                out.append(str(number))
            elif number >= 2:
                out.append("several")
            elif number == 1:
                out.append("single")
            continue
        tok = _canonical(word)
        if tok is None:
            continue
        if word in PLURALS and "several" not in out and "single" not in out:
            out.append("several")
        out.append(tok)
    return out[:MAX_TOKENS]


def encode(phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and a validity mask for a batch of phrases.

    Returns:
        ``(ids, mask)``: int64 (k, MAX_TOKENS) padded with 0, and bool (k, MAX_TOKENS), True
        for real tokens. A phrase with no known word gets an all-False mask.
    """
    ids = np.zeros((len(phrases), MAX_TOKENS), dtype=np.int64)
    for i, phrase in enumerate(phrases):
        toks = tokenize(phrase)
        ids[i, : len(toks)] = [TOKENS.index(t) for t in toks]
    return ids, ids != 0


def known_words() -> list[str]:
    """Content words the scorer understands (canonical tokens and their synonyms), sorted."""
    return sorted({t for t in TOKENS if t != PAD} | set(SYNONYMS))
