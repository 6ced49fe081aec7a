"""Text hygiene: HTML to clean text, control characters out, valid UTF-8 in."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# C0 controls except tab/newline/carriage return, DEL, C1 controls and lone surrogates: none of
# them is text, PostgreSQL rejects NUL, and several JSON consumers reject the rest.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote", "section", "article", "pre", "hr"}
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head"})


def strip_controls(text: str) -> str:
    """``text`` without NUL, other control characters and lone surrogates."""
    return _CONTROL.sub("", text)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            # In HTML a line break in text is only a space; paragraphs come from block tags.
            self.parts.append(data.replace("\n", " "))


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML fragment: tags, scripts and styles removed, paragraphs kept."""
    if "<" not in markup and "&" not in markup:
        return normalize_space(strip_controls(markup))
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # noqa: BLE001 - html.parser can raise on pathological input; fall back to unescaping
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return normalize_space(strip_controls(text))


def normalize_space(text: str) -> str:
    """Runs of spaces collapsed, lines trimmed, at most one blank line between paragraphs."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
