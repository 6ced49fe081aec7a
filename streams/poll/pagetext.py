"""Page text: HTML fragments of feeds to plain text, an article page's main text (trafilatura), page debris removed."""

from __future__ import annotations

import html
import re

from streams.errors import FulltextError
from streams.text import normalize_space, strip_controls

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote", "section", "article", "pre", "hr"}
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head"})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SNIFF_BYTES = 1024
_SKIPPED = "|".join(sorted(_SKIP_TAGS))
# Elements whose content is not text, closed or (for a truncated fragment) running to the end.
_SKIP_ELEMENTS = re.compile(rf"<({_SKIPPED})\b(?:\s[^>]*)?(?<!/)>.*?(</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_COMMENTS_CDATA = re.compile(r"<!--.*?(-->|\Z)|<!\[CDATA\[|\]\]>", re.DOTALL)
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9:-]*)(?:\s[^>]*)?/?>|<[!?][^>]*>")


def _tag(match: re.Match[str]) -> str:
    name = match.group(1)
    return "\n" if name and name.lower() in _BLOCK_TAGS else ""


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML fragment: tags, scripts and styles removed, paragraphs kept.

    A regular-expression pass rather than an HTML parser: feeds carry fragments, often truncated,
    and this is the poller's hottest text path (html.parser took 40% of parse time).
    """
    if "<" not in markup and "&" not in markup:
        return normalize_space(strip_controls(markup))
    text = _SKIP_ELEMENTS.sub(" ", _COMMENTS_CDATA.sub("", markup))
    # In HTML a line break in text is only a space; paragraphs come from block tags. Other runs of
    # whitespace are collapsed once, at the end (a regular expression over every byte was the costliest step).
    text = _TAG.sub(_tag, text.replace("\n", " "))
    return normalize_space(strip_controls(html.unescape(text)))


# Page furniture that scrapers and some feeds carry along; matched on whole, short lines only.
_DEBRIS_LINES = re.compile(
    r"^(add (a )?new comment|add comment|leave a (comment|reply)|post a comment|comments?( \(\d+\))?|\d+ comments?|"
    r"share this( article| story)?:?|print( this)?( article| page)?|related (articles|stories):?|advertisement|"
    r"(click|tap) here to (comment|subscribe)|sign up for our newsletter.*)$",
    re.IGNORECASE,
)
# Comment-policy text: a short line about comments in the site's own voice (our/your/please, rules for posting).
_COMMENTS = re.compile(r"\bcomment", re.IGNORECASE)
_SITE_VOICE = re.compile(
    r"\b(our|your|please|before posting|comment policy|community guidelines|reserve the right|"
    r"(are|is|be) moderated|will (not )?be (published|removed|deleted|approved))\b",
    re.IGNORECASE,
)
_DEBRIS_MAX_LINE = 200


def remove_debris(text: str, title: str = "") -> str:
    """``text`` without page debris: the title repeated (alone or run together on one line), comment
    prompts and comment-policy lines, share/print/advertisement labels.

    Only whole short lines are removed, so a sentence of the article that mentions comments stays.
    The result is normalized as :func:`normalize_space` does, in the same pass over the lines.
    """
    wanted_title = normalize_space(title).casefold()
    kept: list[str] = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line:
            if kept and kept[-1]:
                kept.append("")  # one blank line between paragraphs, none at the start
            continue
        if len(line) <= _DEBRIS_MAX_LINE:
            folded = line.casefold()
            if wanted_title and _is_title_repeat(folded, wanted_title):
                continue
            # "comment" in folded: a cheap test first, most lines never mention comments
            if _DEBRIS_LINES.match(line) or ("comment" in folded and _COMMENTS.search(line) and _SITE_VOICE.search(line)):
                continue
        kept.append(line)
    if kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)


def _is_title_repeat(line: str, title: str) -> bool:
    """True for the title itself, or the title run together two or more times ("TitleTitle")."""
    if not line.startswith(title):
        return False
    rest = line
    while rest.startswith(title):
        rest = rest[len(title) :].lstrip()
    return rest == ""


def extract_text(body: bytes, content_type: str, url: str, title: str) -> str:
    """The main text of an HTML page, debris removed; raises :class:`FulltextError`.

    CPU work with lxml underneath: it runs in a parser process, with the parse deadline.
    """
    import trafilatura  # only parser processes pay for importing it

    mime = content_type.split(";", 1)[0].strip().lower()
    head = body[:_SNIFF_BYTES].lstrip().lower()
    looks_html = head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
    if mime not in _HTML_TYPES and not (mime in ("", "application/octet-stream", "text/plain") and looks_html):
        raise FulltextError("not_html", f"not an HTML page ({mime or 'no content type'})")
    text = trafilatura.extract(
        body, url=url, include_comments=False, include_tables=False, favor_precision=True, deduplicate=False, with_metadata=False
    )
    text = remove_debris(normalize_space(strip_controls(text or "")), title)
    if not text:
        raise FulltextError("empty", "no article text found on the page")
    return text
