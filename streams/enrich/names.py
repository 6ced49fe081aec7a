"""Names as entities: titles, honorifics and possessives cut off, pieces of a model span, what is not a name.

Titles, organisation words, acronym connectors and name particles are data: ``lexicons/names.yaml``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

LEXICONS = Path(__file__).resolve().parent / "lexicons"


@functools.cache
def name_lexicon() -> dict[str, list[str]]:
    """Titles, organisation words, acronym connectors, name particles and common-noun acronyms from ``lexicons/names.yaml``."""
    data = yaml.safe_load((LEXICONS / "names.yaml").read_text("utf-8"))
    return {key: [str(word) for word in data[key]] for key in ("titles", "org_words", "connectors", "particles", "common_acronyms")}


@functools.cache
def _titles() -> str:
    """The titles as one regex alternation, longest first ("prime minister" before "minister")."""
    return "|".join(re.escape(t) for t in sorted(name_lexicon()["titles"], key=len, reverse=True))


@functools.cache
def _title_pattern() -> re.Pattern[str]:
    return re.compile(r"^(?:(?:" + _titles() + r")\.?\s+)+", re.IGNORECASE)


@functools.cache
def _title_before_pattern() -> re.Pattern[str]:
    return re.compile(r"(?:^|\W)(?:" + _titles() + r")\.?\s+$", re.IGNORECASE)


@functools.cache
def _longest_title() -> int:
    return max(len(title) for title in name_lexicon()["titles"])


def title_before(text: str, start: int) -> bool:
    """Whether a title ("President", "Mr.") stands right before ``start``, with only spaces between.

    The pattern ends in ``\\s+$``, so a match starts no earlier than the longest title, its "." and the ``\\W``
    before it back from where the trailing spaces begin: the search starts there, not 40 characters back
    (``search(string, pos)`` does not take ``pos`` for the ``^`` of the pattern).
    """
    window = text[max(0, start - 40) : start]
    return _title_before_pattern().search(window, max(0, len(window.rstrip()) - _longest_title() - 2)) is not None


@functools.cache
def _title_of_pattern() -> re.Pattern[str]:
    return re.compile(r"^(?:" + _titles() + r")\s+of\s", re.IGNORECASE)


@functools.cache
def _trailing_title_pattern() -> re.Pattern[str]:
    return re.compile(r"(?:\s+(?:" + _titles() + r")\.?)+$", re.IGNORECASE)


_LEADING_POSSESSIVE = re.compile(r"^[’']s\b")


_POSSESSIVE = re.compile(r"[’']s?$")


_EDGE_JUNK = re.compile(r"^[\W_]+|[\W_]+$")


#: where one model span holds two names: a line break, a spaced dash, a comma ("Grace Road, Leicester")
_SPLIT = re.compile(r"\s*\n\s*|\s+[-–—]\s+|\s*,\s+")


_WORD = re.compile(r"\S+")


_CLAUSE_WORDS = frozenset({"that", "who", "which", "said", "says", "told", "is", "was", "are", "were", "has", "had", "will", "would"})


#: a word glued to the next by page debris ("FightLeader"); short prefixes ("McCain", "DiCaprio") are names
_GLUED = re.compile(r"[a-z]{4}[A-Z][a-z]")


def canonical_name(raw: str) -> str:
    """A name as an entity: honorifics and titles, possessives and edge punctuation removed."""
    name = " ".join(raw.split())
    if name.lower().startswith("the "):
        name = name[4:]
    if _LEADING_POSSESSIVE.match(name) or _title_pattern().fullmatch(name + " ") or _title_of_pattern().match(name):
        return ""  # someone's tail ("’s Advisor"), a bare title, or a role ("Leader of ..."): not a name
    name = _title_pattern().sub("", name)
    name = _trailing_title_pattern().sub("", name)  # "... Revolution Ayatollah Seyyed": the name follows the span
    name = _POSSESSIVE.sub("", name)
    name = _EDGE_JUNK.sub("", name)
    return name.strip()


def is_name(name: str) -> bool:
    return (
        len(name) >= 2
        and any(ch.isupper() for ch in name)
        and sum(ch.isalpha() for ch in name) >= 2
        and not _GLUED.search(name)
        and "’s " not in name
        and "'s " not in name
        and not any(word in _CLAUSE_WORDS for word in name.split())  # "Lindqvist that Estmark": two names and a clause
    )


@functools.lru_cache(maxsize=65536)
def pieces(surface: str, numbered: bool = False) -> tuple[tuple[int, int], ...]:
    """A model span cut at line breaks, dashes and commas between names, without trailing numbers ("Kent 108-3")
    unless the name is ``numbered`` and the number a plain one (a law's: "Chapter 11" without its number is no name).

    Offsets are within ``surface``; memoised, as the same names recur in an article and across articles.
    """
    out = []
    cursor = 0
    for match in [*_SPLIT.finditer(surface), None]:
        piece_end = match.start() if match else len(surface)
        words = list(_WORD.finditer(surface, cursor, piece_end))
        while words and any(ch.isdigit() for ch in words[-1].group()) and not (numbered and words[-1].group().isdigit()):
            words.pop()
        if words:
            out.append((words[0].start(), words[-1].end()))
        if match:
            cursor = match.end()
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def mention_name(surface: str) -> tuple[str, int, bool] | None:
    """The name a mention's text holds, where in the text it starts, and whether a title opens the text (memoised: names recur)."""
    name = canonical_name(surface)
    if not is_name(name):
        return None
    return name, surface.find(name), bool(_title_pattern().match(surface.strip()))


@functools.lru_cache(maxsize=65536)
def initials(name: str) -> str:
    connectors = set(name_lexicon()["connectors"])
    return "".join(word[0] for word in re.split(r"[\s-]+", name) if word and word.casefold() not in connectors and word[0].isupper())


@functools.lru_cache(maxsize=65536)
def particle_free(token: str) -> str:
    for particle in name_lexicon()["particles"]:
        if token.casefold().startswith(particle) and len(token) > len(particle) + 1:
            return token[len(particle) :]
    return token
