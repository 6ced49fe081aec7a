"""Name keys for the registry: one spelling per name, whatever its case, diacritics, script, dots, possessive or legal form."""

from __future__ import annotations

import functools
import re
import unicodedata

from anyascii import anyascii
from rigour.names import remove_org_types

from streams.text import strip_controls

#: longest name the registry keys, in characters: a longer one is no name (a paragraph the model took for one)
MAX_NAME_CHARS = 200

_POSSESSIVE = re.compile(r"['’]s?$")
_DOTTED = re.compile(r"(?<=\b\w)\.")  # "U.S." → "US", "J.P." → "JP": dots of initials
_NOT_WORD = re.compile(r"[^a-z0-9&]+")


@functools.lru_cache(maxsize=65536)
def name_key(name: str, org: bool = False) -> str:
    """The registry's key of ``name``: transliterated to ASCII (anyascii), case-folded, dots of initials, a possessive,
    "the", punctuation and (for organisations, ``org``) a legal form ("Inc", "Ltd", via rigour's list) removed.

    "U.S." and "US", "EBay" and "eBay", "Ana Lucía" and "Ana Lucia" share a key. A name in a script anyascii cannot
    spell (or over :data:`MAX_NAME_CHARS`) gets the empty key: the registry leaves it alone.
    """
    if not name or len(name) > MAX_NAME_CHARS:
        return ""
    text = unicodedata.normalize("NFKC", strip_controls(name)).strip()
    text = _POSSESSIVE.sub("", text)
    if org:
        stripped = remove_org_types(text).strip(" ,.")
        text = stripped or text  # "Inc" alone stays "Inc": a name is never reduced to nothing
    text = _DOTTED.sub("", text)
    ascii_text = anyascii(text).casefold()
    key = " ".join(_NOT_WORD.sub(" ", ascii_text).split())
    if key.startswith("the ") and len(key) > 4:
        key = key[4:]
    return key


def people_stem(key: str) -> str:
    """A people's or faith's name without its plural or adjective ending ("kurds", "kurdish" → "kurd"; "moslems" →
    "moslem"), so the group's forms share one registry entity; a key of several words is its own stem."""
    if " " in key or len(key) < 4:
        return key
    if key.endswith("ish") and len(key) > 6:
        return key[:-3]
    return key[:-1] if key.endswith("s") and not key.endswith("ss") else key


def acronym_of(key: str) -> str:
    """A key's initials ("islamic state" → "is"), for an acronym mention to find its expansion."""
    words = [word for word in key.split() if word not in _CONNECTORS]
    return "".join(word[0] for word in words) if len(words) > 1 else ""


_CONNECTORS = frozenset({"of", "for", "the", "and", "on", "in", "de", "del", "la", "al", "el", "des", "du", "von", "van", "der", "&"})


def readable(name: str) -> bool:
    """Whether anyascii spells ``name`` in Latin letters at all (a name in a script it does not know gives nothing)."""
    return bool(name_key(name))
