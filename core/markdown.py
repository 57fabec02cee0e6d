"""Text a person typed, made safe to embed in Markdown (the dataset card, the page's notes).

One job: :func:`escape_markdown` turns any text into Markdown that renders as exactly that
text, on one line, inline or in a table cell, in CommonMark / GitHub-flavoured renderers (the
Hugging Face Hub's, Gradio's). Nothing it returns can open a tag, a link, an image, emphasis,
code, a heading, a quote, a list or a new table column, even at the start of a line.
"""

from __future__ import annotations

import re

__all__ = ["escape_markdown"]

# The ASCII punctuation with a meaning inline in CommonMark or GFM: escapes (\), code (`),
# emphasis and strikethrough (* _ ~), links and images ([ ]; "(" and "!" mean nothing without
# them), raw HTML and autolinks (< >), entities (&), tables (|), math on the Hub ($), and
# headings and quotes (# >). CommonMark lets a backslash escape any of them, shown literally.
_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$#])")
# At the start of a line, also list items and setext underlines: "- x", "+ x", "= x", "1. x", "1) x".
_LEADING = re.compile(r"^(\d*)([-+=.)])")
_SPACES = re.compile(r"\s+")


def escape_markdown(text: object) -> str:
    """``text`` as Markdown that renders literally, on one line.

    Line breaks and other whitespace runs become one space (a card's table row must stay one
    line); every Markdown-special ASCII character is backslash-escaped.

    Args:
        text: Any text (other objects are converted with ``str``).

    Returns:
        The escaped text, e.g. ``escape_markdown("<b>bold</b> | *x*")`` is
        ``"\\<b\\>bold\\</b\\> \\| \\*x\\*"``.
    """
    one_line = _SPACES.sub(" ", str(text)).strip()
    return _LEADING.sub(r"\1\\\2", _SPECIAL.sub(r"\\\1", one_line))
