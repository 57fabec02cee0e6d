"""escape_markdown: typed text renders as exactly that text, inline, at a line start or in a table cell."""

from __future__ import annotations

import pytest

from core.markdown import escape_markdown

HOSTILE = [
    "<img src=x onerror=alert(2)>",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "**strong** _em_ ~~gone~~ `code`",
    "[a link](https://example.com) ![an image](x.png)",
    "a | b | c",
    "# a heading",
    "> a quote",
    "- a list item",
    "+ another",
    "1. first",
    "3) third",
    "= setext",
    "&lt;b&gt; &amp; &#60;",
    "back\\slash \\* \\",
    "$x^2$ and $$y$$",
    "<https://example.com>",
    "emoji 🔴🔺 and ünïcödé",
]


def _inline_tokens(markdown: str) -> list:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return [t for t in md.parse(markdown) if t.type == "inline"]


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_literally(text):
    pytest.importorskip("markdown_it")
    escaped = escape_markdown(text)
    table = f"| label | prompt |\n|---|---|\n| {escaped} | {escaped} |\n\n{escaped}\n\nsaid \"{escaped}\"\n"
    inlines = _inline_tokens(table)
    cells, line_start, quoted = inlines[2:4], inlines[4], inlines[5]
    for token in (*cells, line_start):
        assert [c.type for c in token.children] == ["text"] * len(token.children), escaped
        assert "".join(c.content for c in token.children) == text
    assert "".join(c.content for c in quoted.children) == f'said "{text}"'


def test_whitespace_becomes_one_line():
    assert escape_markdown("a\nb\r\n\tc  d ") == "a b c d"
    assert escape_markdown("<b>bold</b> | *x*") == "\\<b\\>bold\\</b\\> \\| \\*x\\*"


def test_plain_text_is_unchanged():
    assert escape_markdown("a clear, detailed photo of one person (well-lit)") == "a clear, detailed photo of one person (well-lit)"
