"""Titles, descriptions and pronouns that stand for a named entity of the article, for event participants: "the Iraqi
premier" after "Iraqi Prime Minister Haider al-Abadi", "he" after a person, "the city" after "Mosul", and the news
lead's "a senior advisor to ..." named in the sentence after it. The words are data: ``lexicons/references.yaml``."""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

import yaml

from schemas import Entity
from streams.enrich.names import LEXICONS
from streams.enrich.parsed import ParsedDoc

#: characters before a person's name read for the title that introduces it ("Iraqi Prime Minister Haider al-Abadi")
INTRO_CHARS = 60
#: sentences back a pronoun or a description may reach for the entity it stands for, and forward for a lead's
SENTENCES_BACK = 3
SENTENCES_AHEAD = 2
#: where a description or a pronoun takes part in an event
PARTICIPANT_DEPS = frozenset({"nsubj", "nsubjpass", "dobj", "pobj", "dative", "iobj", "attr"})
PLACE_TYPES = frozenset({"GPE", "LOC", "FAC"})
#: place nouns that mean a city, town or village (a place with a GeoNames id)
SETTLEMENTS = frozenset({"city", "town", "capital", "village"})


@dataclass(frozen=True)
class References:
    """The lexicon: role words by role, the person pronouns, the place nouns."""

    roles: dict[str, str]
    pronouns: frozenset[str]
    places: frozenset[str]
    #: words in the longest role word ("secretary general": 2)
    longest: int = 1
    #: the last word of every role word: a noun that ends none names no role, alone or with its modifier
    role_ends: frozenset[str] = frozenset()


@functools.cache
def references() -> References:
    data = yaml.safe_load((LEXICONS / "references.yaml").read_text("utf-8"))
    roles = {str(word): str(role) for role, words in data["roles"].items() for word in words}
    longest = max((len(_ROLE_WORD.findall(word)) for word in roles), default=1)
    ends = frozenset(word.split()[-1] for word in roles)
    return References(roles, frozenset(map(str, data["person_pronouns"])), frozenset(map(str, data["place_nouns"])), longest, ends)


#: a whole word of a role ("vice-president" is one): a role word matches only from the start of one to the end of another
_ROLE_WORD = re.compile(r"[\w-]+")


def _intro(text: str, start: int) -> str:
    """The words just before a name, back to the last break of the clause ("... with Iraqi Prime Minister "), lower case."""
    window = text[max(0, start - INTRO_CHARS) : start]
    return re.split(r"[.,;:!?()\n\"\u201c\u201d]", window)[-1].casefold()


@functools.lru_cache(maxsize=65536)
def _roles_in(window: str) -> frozenset[str]:
    """The roles named in ``window`` (lower case), whole words only.

    Each run of up to :attr:`References.longest` whole words is looked up in the role table: a regex per role word
    and person mention (``re.escape`` and the regex cache each time) was a fifth of extraction after the parse.
    Memoised: the words before a name recur ("Prime Minister ") across an article and the stream.
    """
    lex = references()
    words = [(m.start(), m.end()) for m in _ROLE_WORD.finditer(window)]
    found = set()
    for i, (start, _) in enumerate(words):
        for _, end in words[i : i + lex.longest]:
            role = lex.roles.get(window[start:end])
            if role is not None:
                found.add(role)
    return frozenset(found)


def coreferences(parse: ParsedDoc, entities: list[Entity]) -> list[tuple[int, int, str, str]]:
    """(start, end, name, type) spans of the words that stand for one of ``entities``: a pronoun, a role noun, a place noun.

    Only an unambiguous antecedent counts: two prime ministers introduced before "the premier" leave it unresolved.
    """
    lex = references()
    text = parse.text
    spans = sorted((m.start, m.end, e.name, e.type) for e in entities for m in e.mentions)
    if not spans:
        return []
    people = [s for s in spans if s[3] == "PERSON"]
    settled = {e.name for e in entities if e.geonames is not None}  # a city or town (GeoNames), not a country
    countries = {e.name for e in entities if e.wikidata is not None and e.geonames is None and e.type == "GPE"}
    places = [s for s in spans if s[3] in PLACE_TYPES]
    windows = [(s, _intro(text, s[0])) for s in people]
    intros = [(s, window, _roles_in(window)) for s, window in windows]
    firsts = [first for first, _ in parse.sents]
    starts = [parse.idx[first] for first in firsts]
    covered = {i for first, last, *_ in parse.ents for i in range(first, last)}
    dep, pos, tag, lower, children = parse.dep, parse.pos, parse.tag, parse.lower, parse.children
    out: list[tuple[int, int, str, str]] = []
    for i in range(len(lower)):
        if dep[i] not in PARTICIPANT_DEPS or i in covered:
            continue
        word = lower[i]
        if not (tag[i] == "PRP" and word in lex.pronouns) and (pos[i] != "NOUN" or (word not in lex.role_ends and word not in lex.places)):
            continue  # most words stand for nothing: their sentence is not looked up
        at, sentence = parse.idx[i], bisect.bisect_right(firsts, i) - 1
        back = starts[max(0, sentence - SENTENCES_BACK)]
        if tag[i] == "PRP" and word in lex.pronouns:
            before = [s for s in people if back <= s[0] < at]
            if before:
                out.append((at, parse.end_char(i), before[-1][2], "PERSON"))
            continue
        if pos[i] != "NOUN":
            continue
        words = [lower[c] for c in children(i) if dep[c] in {"amod", "compound"}]
        role = lex.roles.get(word) or (lex.roles.get(f"{words[-1]} {word}") if words else None)
        if role is not None:
            name = _role_holder(role, words, intros, back, at)
            if name is None and any(lower[c] in {"a", "an"} for c in children(i) if dep[c] == "det"):
                name = _named_after(parse, people, sentence, starts)  # "A senior advisor to ... discussed": the lead
            if name is not None:
                out.append((at, parse.end_char(i), name, "PERSON"))
                bisect.insort(people, (at, parse.end_char(i), name, "PERSON"))  # "The premier ... He ...": him
        elif (word in lex.places and any(lower[c] == "the" for c in children(i) if dep[c] == "det")
              and not any(dep[c] in {"prep", "appos", "compound"} or c in covered for c in children(i))):  # fmt: skip
            # "the city" alone; "the city of Mosul" names its place itself
            kind = countries if word in {"country", "nation"} else settled if word in SETTLEMENTS else None
            before = [s for s in places if back <= s[0] < at and (kind is None or s[2] in kind)]
            if before:
                out.append((at, parse.end_char(i), before[-1][2], before[-1][3]))
    return out


def _role_holder(role: str, words: list[str], intros: list[tuple[tuple[int, int, str, str], str, frozenset[str]]], back: int,
                 at: int) -> str | None:  # fmt: skip
    """The one person introduced with ``role`` before ``at`` (and with the description's words, "Iraqi", when several)."""
    holders = {s[2]: window for s, window, roles in intros if role in roles and s[0] < at}
    if len(holders) > 1 and words:
        holders = {name: window for name, window in holders.items() if all(w in window for w in words)}
    return next(iter(holders)) if len(holders) == 1 else None


def _named_after(parse: ParsedDoc, people: list[tuple[int, int, str, str]], sentence: int, starts: list[int]) -> str | None:
    """The first person named in the sentences after ``sentence`` (a lead's description named in the next one)."""
    if sentence + 1 >= len(starts):
        return None
    start = starts[sentence + 1]
    end = starts[sentence + 1 + SENTENCES_AHEAD] if sentence + 1 + SENTENCES_AHEAD < len(starts) else len(parse.text)
    after = [s for s in people if start <= s[0] < end]
    return after[0][2] if after else None
