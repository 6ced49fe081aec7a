"""XML bodies made safe for feedparser: decoded as feedparser decodes them, DTD declarations refused, an external DOCTYPE stripped.

The check has to read the document the way the parser will. feedparser decodes by the BOM, the first bytes (EBCDIC,
UTF-16/32 without BOM) and the encoding the XML declaration names (``cp037``, ``cp500``, ``utf-7`` ...), so a bomb
declared in such an encoding has no ``<!ENTITY`` in its raw bytes. :func:`safe_xml` therefore runs feedparser's own
converter first, checks the UTF-8 text it produced, and hands the parser exactly those bytes: the check and the
parser cannot disagree about what the document says.
"""

from __future__ import annotations

import re

from feedparser.encodings import convert_to_utf8

from streams.errors import FeedError

# After conversion the document starts with feedparser's own declaration; then comments, processing instructions
# and whitespace may come before the DOCTYPE. Tempered tokens and a possessive star: no backtracking, linear time.
_PROLOG = r"(?:\s|<!--(?:(?!-->).)*-->|<\?(?:(?!\?>).)*\?>)*+"
_LITERAL = r"(?:\"[^\"]*\"|'[^']*')"
# <!DOCTYPE name (SYSTEM "uri" | PUBLIC "id" "uri")? > with no internal subset ([...]): what RSS 0.91 feeds carry
_EXTERNAL_DOCTYPE = re.compile(
    rf"{_PROLOG}(<!DOCTYPE\s+[\w:.-]+(?:\s+(?:SYSTEM\s+{_LITERAL}|PUBLIC\s+{_LITERAL}\s+{_LITERAL}))?\s*>)", re.DOTALL
)
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_HTML = re.compile(rf"{_PROLOG}<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE | re.DOTALL)
#: the prolog is looked for in this much of the document (a DOCTYPE further in is refused like any other)
_HEAD_CHARS = 64 * 1024


def to_utf8(body: bytes) -> tuple[bytes, str]:
    """``body`` as UTF-8, decoded exactly as ``feedparser.parse`` decodes a stream without HTTP headers, and the
    encoding it was read as."""
    result: dict[str, object] = {}
    data = convert_to_utf8({}, body, result)
    return data, str(result.get("encoding") or "unknown")


def safe_xml(body: bytes) -> bytes:
    """The UTF-8 bytes feedparser is to be given for ``body``; raises :class:`FeedError` for a DTD or an HTML page.

    An external DOCTYPE without an internal subset (``<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS
    0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">``) is stripped, never fetched. Any other
    DOCTYPE and every ENTITY (or other markup) declaration, in whatever encoding, is refused: that is how billion
    laughs, quadratic blowup and XXE arrive, and a news feed needs none of them.
    """
    data, encoding = to_utf8(body)
    text = data.decode("utf-8", "replace")
    # UTF-16 without a declaration reads as UTF-8 with a NUL after every character; should any later step drop
    # the NULs, its declarations reappear: they are looked for with the NULs taken out too
    plain = text.replace("\0", "") if "\0" in text else text
    if _HTML.match(plain[:_HEAD_CHARS]):
        raise FeedError("response is an HTML page, not a feed")
    doctype = _EXTERNAL_DOCTYPE.match(text[:_HEAD_CHARS])
    if doctype:
        text = text[: doctype.start(1)] + text[doctype.end(1) :]
        plain = text.replace("\0", "") if "\0" in text else text
    found = _DECLARATION.search(plain)
    if found:
        read_as = "" if encoding.lower().replace("_", "-") in ("utf-8", "us-ascii", "ascii") else f", read as {encoding}"
        raise FeedError(f"document declares a DOCTYPE or ENTITY (<!{found.group(1).upper()}{read_as}; refused: XML entity expansion risk)")
    return text.encode("utf-8") if doctype else data


def looks_like_html(body: bytes) -> bool:
    """Whether ``body`` starts as an HTML page (``<!doctype html>`` or ``<html>`` after the prolog), read as feedparser reads it."""
    text = to_utf8(body)[0][:_HEAD_CHARS].decode("utf-8", "replace").replace("\0", "")
    return bool(_HTML.match(text))
