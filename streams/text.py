"""Text hygiene shared by every stage: control characters out, whitespace normalised, text safe for one log line."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from streams.errors import InputError

# C0 controls except tab/newline/carriage return, DEL, C1 controls and lone surrogates: none of
# them is text, PostgreSQL rejects NUL, and several JSON consumers reject the rest.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")
# What must never reach a plain-text line verbatim: every C0 control (newline, carriage return and ESC forge or
# recolour lines), DEL, C1 (NEL, CSI), the Unicode line and paragraph separators, bidirectional overrides and
# isolates (they reorder what a reader sees, as in "Trojan Source", CVE-2021-42574) and lone surrogates.
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: query parameters whose values are secrets in URLs other than webhooks (a database URL's ``?password=``)
_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth|sig|cred", re.IGNORECASE)
#: a URL inside free text (an error message): scheme, ``://`` and everything up to whitespace or a quote
_URL_IN_TEXT = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>]+""")
_DIGEST_SPEC = re.compile(r"^digest:(hourly|daily):(.+)$", re.DOTALL)
MASK = "***"


#: what marks the watched name in an alert's evidence (streams/alert/mentions.py); markdown's bold
EVIDENCE_MARK = "**"


def without_marks(evidence: str) -> str:
    """Evidence for plain-text lines (the console destination, logs): the ``**`` marks around the watched name removed."""
    return evidence.replace(EVIDENCE_MARK, "")


def evidence_parts(evidence: str) -> list[tuple[str, bool]]:
    """The evidence as (text, highlighted) runs: each destination renders a highlight its own way (bold in Slack and
    e-mail HTML, ``<mark>`` on the dashboard, nothing on a log line). Unbalanced marks give one plain run."""
    parts = evidence.split(EVIDENCE_MARK)
    if len(parts) % 2 == 0:
        return [(without_marks(evidence), False)]
    return [(part, index % 2 == 1) for index, part in enumerate(parts) if part]


def strip_controls(text: str) -> str:
    """``text`` without NUL, other control characters and lone surrogates."""
    return _CONTROL.sub("", text)


def normalize_space(text: str) -> str:
    """Runs of whitespace within a line (no-break and other Unicode spaces too: &nbsp; runs are layout,
    not text) collapsed to one space, lines trimmed, at most one blank line between paragraphs."""
    # str.split and join, not a regular expression per line: five times faster on feed text
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def cut(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its longest prefix within them that ends at a word.

    A text without a break in the second half of that prefix is cut mid-word rather than lose more; trailing
    whitespace is dropped.
    """
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    head = text[:max_chars]
    if not text[max_chars].isspace():
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if space >= max_chars // 2:
            head = head[:space]
    return head.rstrip()


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` as one inert line: newlines, carriage returns, tabs, ESC and every other control character (C0, DEL, C1),
    line separators, bidi overrides and lone surrogates written as visible escapes (``\\n``, ``\\x1b``, ``\\u202e``).

    For plain-text log lines and the console alert line, where feed text must not start a forged line or recolour
    the terminal. Backslashes are left alone, so paths and ordinary text read as before.
    """
    return _UNSAFE_IN_LINE.sub(_escape_one, text)


def mask_url(url: str) -> str:
    """``url`` with its secrets masked, for printing: the password of ``user:password@`` always; for http(s) URLs
    the path and query too (webhook and Slack URLs carry their tokens there); for other schemes (a database URL)
    the values of query parameters named like secrets. Text that is not a URL with a host is returned as it is.

    The one masking function: destination names, ``wirewatch config``, task names, dead letters and logs use it.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port
    except ValueError:  # an unbalanced [ or a port that is no number: not a URL to show, so show none of it
        return f"{url.partition(':')[0]}:{MASK}" if "://" in url else url
    if not parts.scheme or "://" not in url or not (parts.netloc or parts.query):
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if has_password else f"{userinfo}@{hostport}"
    elif netloc and hostname is None and port is None:
        return url
    if parts.scheme.lower() in ("http", "https"):
        if parts.path in ("", "/") and not parts.query and not parts.fragment:
            return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return f"{parts.scheme}://{netloc}/{MASK}"
    query = "&".join(_mask_param(pair) for pair in parts.query.split("&")) if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _mask_param(pair: str) -> str:
    key, has_value, _ = pair.partition("=")
    return f"{key}={MASK}" if has_value and _SECRET_PARAM.search(key) else pair


def mask_destination(spec: str) -> str:
    """A destination spec as people may see it: URLs masked (:func:`mask_url`), ``slack:`` and ``digest:PERIOD:``
    prefixes kept; ``mailto:``, ``file:`` and ``console`` hold no secret and are shown as they are."""
    spec = spec.strip()
    digest = _DIGEST_SPEC.match(spec)
    if digest:
        return f"digest:{digest.group(1)}:{mask_destination(digest.group(2))}"
    if spec.startswith("slack:"):
        return "slack:" + mask_url(spec.removeprefix("slack:"))
    return mask_url(spec) if "://" in spec else spec


def mask_urls_in(text: str) -> str:
    """Free text (an error message that may quote a request URL) with every URL in it masked."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)


def load_yaml(text: str, what: str) -> Any:
    """``text`` parsed as YAML (``yaml.safe_load``: no tags that build objects); an InputError naming ``what`` when it is
    not YAML or nests deeper than the parser's recursion allows (``[[[[...`` ten thousand deep)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{what}: not valid YAML: {' '.join(str(exc).split())[:300]}") from exc
    except RecursionError as exc:
        raise InputError(f"{what}: YAML nested too deeply") from exc
