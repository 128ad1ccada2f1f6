"""Markdown to the HTML subset QTextBrowser shows, with highlighted code blocks and a Copy link.

Fenced code blocks are cut out before Markdown sees the text, so a block still streaming in (its
closing fence not yet written) already shows as code. Raw HTML in a reply is shown as text, never
interpreted: a model's output is not trusted markup.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^\n]*$")
COPY_SCHEME = "copy"
CODE_BACKGROUND = "#f6f8fa"
CODE_HEADER = "#eaeef2"
CODE_STYLE = "friendly"


@dataclass
class Rendered:
    html: str
    code_blocks: list[str] = field(default_factory=list)


@dataclass
class _Segment:
    kind: str  # "text" or "code"
    text: str
    language: str = ""


def split_fences(text: str) -> list[_Segment]:
    segments: list[_Segment] = []
    prose: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        fence, language = match.group(1), match.group(2)
        if prose:
            segments.append(_Segment("text", "\n".join(prose)))
            prose = []
        code: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[i]):
            code.append(lines[i])
            i += 1
        i += 1  # the closing fence (or past the end while it is still streaming)
        segments.append(_Segment("code", "\n".join(code), language.lower()))
    if prose:
        segments.append(_Segment("text", "\n".join(prose)))
    return segments


@lru_cache(maxsize=1)
def _markdown():
    import markdown
    from markdown.extensions import Extension

    class NoRawHtml(Extension):
        def extendMarkdown(self, md):
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")

    return markdown.Markdown(extensions=["tables", "sane_lists", "nl2br", NoRawHtml()])


def _prose_html(text: str) -> str:
    md = _markdown()
    md.reset()
    # Qt draws no table grid unless asked to.
    return md.convert(text).replace(
        "<table>", '<table border="1" cellspacing="0" cellpadding="4" style="border-collapse: collapse; '
                   'border-color: #d0d7de;">')


@lru_cache(maxsize=1)
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, noclasses=True, style=CODE_STYLE)


def _lexer(language: str):
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


def highlight(code: str, language: str) -> str:
    from pygments import highlight as pygments_highlight

    return pygments_highlight(code, _lexer(language), _formatter()).rstrip("\n")


def _code_html(code: str, language: str, index: int) -> str:
    label = html.escape(language or "code")
    return (
        f'<table width="100%" cellspacing="0" cellpadding="6" border="0" bgcolor="{CODE_BACKGROUND}">'
        f'<tr><td bgcolor="{CODE_HEADER}"><span style="color:#57606a;">{label}</span></td>'
        f'<td bgcolor="{CODE_HEADER}" align="right"><a href="{COPY_SCHEME}:{index}" '
        f'style="color:#0969da; text-decoration:none;">Copy</a></td></tr>'
        f'<tr><td colspan="2"><pre style="margin:0;">{highlight(code, language)}</pre></td></tr></table>'
    )


def render_markdown(text: str) -> Rendered:
    """HTML for a reply, and the raw code of each block (the target of `copy:N` links)."""
    parts, blocks = [], []
    for segment in split_fences(text):
        if segment.kind == "code":
            parts.append(_code_html(segment.text, segment.language, len(blocks)))
            blocks.append(segment.text)
        elif segment.text.strip():
            parts.append(_prose_html(segment.text))
    return Rendered("\n".join(parts), blocks)


def render_plain(text: str, limit: int = 20_000) -> str:
    """A user's message as typed: escaped, line breaks kept, very long pastes shown in part."""
    shown = text if len(text) <= limit else text[:limit]
    body = html.escape(shown).replace("\n", "<br>")
    if len(text) > limit:
        body += f'<br><i style="color:#6e7781;">… {len(text) - limit:,} more characters</i>'
    return body
