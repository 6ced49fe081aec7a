"""Headlines and shouting: capital-letter runs re-cased for the model, title-case headlines' names checked.

spaCy's small model reads capital-letter runs ("PITTSBURGH SAN FRANCISCO") as one name, so it reads a view of the
text in which such a run's ordinary words are lower-case and the others capitalised at their first letter only
(offsets do not move: a word whose case change would change its length stays as written; names are taken from the
original text). In a title-case headline it takes any capitalised words for a name ("Nasty Weather Has Curbed"
PERSON): a name found only in such a line is trimmed of ordinary words at its ends and kept only when a rare word,
an acronym, the rest of the article, a known place or the registry vouches for it; a headline verb, a colon or an
opening quote inside such a name ends it, and a full stop after an initial ("Mt. Gox") ends no headline; a name it
quotes as a title is kept whole. In any line a closing quote inside a name ends it, and a lower-case common word
inside one ends what comes before it ("Bitcoin exchange MtGox"). A common-noun acronym ("IPO") or a legal form alone
("Inc") is never a name. Word frequencies are wordfreq's
(a maintained package of word frequencies from many corpora; docs/design.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from rigour.names import remove_org_types
from wordfreq import zipf_frequency

from schemas import Entity
from streams.enrich.names import canonical_name, name_lexicon
from streams.enrich.places import place_of

#: Zipf frequency (log10 of occurrences per billion words, wordfreq's English list) from which a word of a
#: title-case headline is an ordinary word: chosen on the UCI News Aggregator dev headlines (docs/benchmarks.md)
ORDINARY_ZIPF = 3.0
#: from this frequency a word inside a headline name is a word of the sentence ("Has", "Are"), never part of a name
SENTENCE_ZIPF = 5.0
#: in a capital-letter run, words from this frequency are lower-cased ("TAKE OVER AT TOP"), the rest capitalised
#: ("LEICESTERSHIRE" → "Leicestershire"): chosen on CoNLL-2003 train headlines and datelines
SHOUT_ORDINARY_ZIPF = 4.5
#: a headline is at most this long (the longest UCI dev title is 300 characters; most are under 100)
HEADLINE_MAX_CHARS = 300
#: share of a line's long words (four letters or more) that must be capitalised for it to read as title case
TITLE_SHARE = 0.7

#: this many lower-case long words (no small word, no "iTunes") make a line sentence case, however many names it
#: capitalises ("Quillmont offers 'Vantrell Nights,' 'House of Quorrel' with Tarrow deal"); one is a style's exception
SENTENCE_CASE_WORDS = 2

_WORD = re.compile(r"[^\W\d_][\w'’.&-]*")
_CAPS_RUN = re.compile(r"\b[A-Z][A-Z'’.&-]+(?:[ \t]+[A-Z][A-Z'’.&-]+)+\b")
#: short words every headline style keeps lower-case or capitalises at will
_SENTENCE_END = re.compile(r"[.!?]\s+[A-Z]")
#: the word before a full stop that is an abbreviation, not a sentence's end: an initial or a short capitalised word
#: ("J.C. Penney", "Mt. Gox", "Jos. A. Bank", "U.S. Court")
_ABBREVIATION = re.compile(r"(?:\b[A-Z]|\b[A-Z][a-z]{1,2}|[A-Za-z]\.[A-Za-z])$")
#: a name never runs across a colon, a dash between spaces or a quotation mark that opens after a word
_NAME_BREAK = re.compile(r":\s|\s[-–—]\s|\s[\"“'‘]")
#: a quotation mark closing after a word, with more words after it: the quoted title ends there
_CLOSING_QUOTE = re.compile(r"(?<=\w)[\"”’']\s+(?=\S)")
#: prepositions and conjunctions of four letters or more, which some title-case styles keep lower-case (Chicago's:
#: every preposition) and others capitalise (AP's: every word from four letters): a line's share counts neither
_TITLE_SMALL = frozenset({"with", "from", "into", "onto", "over", "upon", "than", "that", "when", "after", "about"})
_QUOTES = frozenset("\"“”'‘’")
#: types whose names are titles of works, laws or events, with lower-case words of their own
_TITLED = frozenset({"WORK_OF_ART", "LAW", "EVENT"})
_SMALL = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "and", "or", "but", "as", "is", "vs", "via"})


@functools.lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """``word``'s Zipf frequency in English (any case)."""
    return float(zipf_frequency(word.casefold(), "en"))


def _recase_run(run: str) -> str:
    """One capital-letter run re-cased: ordinary words lower-case, the others capitalised, known places kept whole."""
    chars = list(run)
    for match in _WORD.finditer(run):
        word = match.group()
        letters = word.strip("'’.&-")
        if len(letters) <= 1:
            continue
        new = word.lower() if zipf(letters) >= SHOUT_ORDINARY_ZIPF and place_of(letters.title()) is None else word[0] + word[1:].lower()
        if len(new) == len(word):
            chars[match.start() : match.end()] = new
    return "".join(chars)


def model_view(text: str) -> str:
    """``text`` as the model should read it: runs of two or more words in capitals re-cased, the same length."""
    if not text or _CAPS_RUN.search(text) is None:
        return text
    return _CAPS_RUN.sub(lambda run: _recase_run(run.group()), text)


def headline_lines(text: str) -> list[tuple[int, int]]:
    """Where the title-case lines of ``text`` are (start, end)."""
    out = []
    start = 0
    for line in text.split("\n"):
        if _title_case(line):
            out.append((start, start + len(line)))
        start += len(line) + 1
    return out


def headline_entities(text: str, entities: list[Entity], known: Callable[[str], bool]) -> list[Entity]:
    """Entities named only in title-case lines, trimmed of ordinary words at their ends, and dropped when nothing
    but ordinary words is left (or a sentence word sits inside) unless ``known`` (the registry, a place, the
    rest of the article) vouches for the name. Entities named elsewhere in the text are kept as they are."""
    entities = [e for e in entities if e.watch_ids or not not_a_name(e.name)]
    entities = [kept for e in entities if (kept := e if e.watch_ids else _unglued(e)) is not None]
    lines = headline_lines(text)
    if not lines:
        return entities
    body_names = {e.name.casefold() for e in entities if any(not _inside(lines, m.start) for m in e.mentions)}
    out = []
    for entity in entities:
        if entity.watch_ids or any(not _inside(lines, m.start) for m in entity.mentions) or _quoted_title(text, entity):
            out.append(entity)
            continue
        # a place's own name is never trimmed ("United States"); the registry's names are not enough, as a headline's
        # glued words once let through would vouch for themselves
        kept = entity if place_of(entity.name) is not None else (_known_start(entity, known) or _trimmed(entity))
        if kept is None:
            continue
        if _vouched(kept.name) or kept.name.casefold() in body_names or known(kept.name):
            out.append(kept)
    return out


def _quoted_title(text: str, entity: Entity) -> bool:
    """Whether the headline quotes the name as a title: two words or more between quotation marks and no sentence word
    inside ("'House of Quorrel' Comes to ..."; not a quoted remark, "'We Need A Watchdog That Watches Us'", nor a
    scare-quoted word, "'Stolen'")."""
    words = entity.name.split()
    if len(words) < 2 or _sentence_inside(words):
        return False
    return any(m.start > 0 and text[m.start - 1] in _QUOTES and text[m.end : m.end + 1] in _QUOTES for m in entity.mentions)


def _known_start(entity: Entity, known: Callable[[str], bool]) -> Entity | None:
    """The entity cut to the longest start of two words or more that ``known`` vouches for ("Justin Bieber Hurls
    F-Bomb" when the registry knows "Justin Bieber"), or None. One word is too little: "Fannie" of "Fannie Mae",
    "American" of "American Eagle"."""
    # a colon, a spaced dash or an opening quote ends the name first: the registry may know glued words across one
    # ('2014 "Money Makers"' learned from another title)
    head = _NAME_BREAK.split(entity.name, maxsplit=1)[0]
    words = head.split()
    for end in range(len(words) if head != entity.name else len(words) - 1, 1, -1):
        start = " ".join(words[:end])
        if known(start):
            return _renamed(entity, start)
    return None


def _unglued(entity: Entity) -> Entity | None:
    """The entity cut to its name where the model glued other words on in any line: at a closing quotation mark
    inside it ("Game Of Thrones' Season"), and after a word of a common noun phrase before it, lower-case and no
    connector ("Bitcoin exchange MtGox", "Apple chief Tim Cook"). Titles of works keep theirs ("Gone with the Wind")."""
    words = _CLOSING_QUOTE.split(entity.name, maxsplit=1)[0].split()
    if entity.type not in _TITLED:
        common = [i for i, word in enumerate(words) if i > 0 and _common_word(word)]
        if common:
            words = words[common[-1] + 1 :] or words[: common[0]]
    # a name neither starts nor ends with a lower-case small word ("Pono Music at", "a F**king ...")
    while words and words[-1] in _SMALL:
        words.pop()
    while words and words[0] in _SMALL:
        words.pop(0)
    return _renamed(entity, " ".join(words)) if words else None


def _common_word(word: str) -> bool:
    """A lower-case word of four letters or more that is no name connector ("exchange", not "von" or "della")."""
    return len(word) >= 4 and word.isalpha() and word.islower() and word not in _SMALL and word not in _connectors()


@functools.cache
def _connectors() -> frozenset[str]:
    return frozenset(word.casefold() for word in name_lexicon()["connectors"])


def not_a_name(name: str) -> bool:
    """A common-noun acronym alone ("IPO", "CEO": names.yaml) or a legal form alone ("Inc", rigour's list)."""
    letters = name.strip(" .,'’")
    if letters.casefold() in _common_acronyms():
        return True
    return bool(letters) and not remove_org_types(letters).strip(" ,.")


@functools.cache
def _common_acronyms() -> frozenset[str]:
    return frozenset(word.casefold() for word in name_lexicon()["common_acronyms"])


def _inside(lines: list[tuple[int, int]], at: int) -> bool:
    return any(start <= at < end for start, end in lines)


def _vouched(name: str) -> bool:
    """A name that is no ordinary words: a rare word in it, an acronym, a word with inner capitals ("eBay")."""
    words = name.split()
    if _sentence_inside(words):
        return False  # "Nasty Weather Has Curbed": a sentence, not a name
    for word in words:
        letters = word.strip("'’.,&-")
        if (letters.isupper() and len(letters) >= 2) or any(ch.isupper() for ch in letters[1:]) or zipf(letters) < ORDINARY_ZIPF:
            return True
    return False


def _sentence_inside(words: list[str]) -> bool:
    """Whether a sentence word ("Has", "Are") stands inside the words."""
    return any(zipf(w.strip("'’.,&-")) >= SENTENCE_ZIPF and w.casefold() not in _SMALL for w in words[1:-1])


def _trimmed(entity: Entity) -> Entity | None:
    """The entity with ordinary words cut from the ends of its name and mentions ("Justin Bieber DEFENDS")."""
    words = _NAME_BREAK.split(entity.name, maxsplit=1)[0].split()
    # a headline's verb inside the name ends it ("Mt. Gox Seeks US Court", "HBO Unveils 'Catch The Throne'")
    cut = next((i for i, w in enumerate(words) if i > 0 and _headline_word(w) and w.casefold() not in _SMALL), len(words))
    words = words[:cut]
    if not words:
        return None
    shouted = any(w.isupper() and len(w) > 4 for w in words) and not all(w.isupper() for w in words)
    while len(words) > 1 and (_headline_word(words[-1]) or (shouted and words[-1].isupper())):
        words.pop()  # "Justin Bieber DEFENDS", "Spritz Debuts", "Kenny Chesney Top"
    # a title left at an end once glued words are cut is no part of the name ("GOP Rep" of "GOP Rep: Letting ..."),
    # as the model span's own titles are not (streams/enrich/names.py)
    name = canonical_name(" ".join(words))
    return _renamed(entity, name) if name else None


def _renamed(entity: Entity, name: str) -> Entity | None:
    """The entity named by ``name``, a part of its name, with its mentions cut to it (None when none holds it); a
    mention that is a part of ``name`` stays ("Cook" after "Apple chief Tim Cook"). The cut words are no alias: the
    registry would learn "Sbarro Files" as a spelling of Sbarro and find it in later titles."""
    if name == entity.name:
        return entity
    mentions = []
    for mention in entity.mentions:
        at = mention.text.find(name)
        if at >= 0:
            mentions.append(mention.model_copy(update={"start": mention.start + at, "end": mention.start + at + len(name), "text": name}))
        elif mention.text in name:
            mentions.append(mention)
    if not mentions:
        return None
    return entity.model_copy(update={"name": name, "mentions": mentions, "aliases": entity.aliases})


def _headline_word(word: str) -> bool:
    """A word of the headline's sentence glued to a name: very frequent ("Top", "Back"), or an ordinary verb form
    ("Launches", "Renamed", "Seeks")."""
    letters = word.strip("'’.,&-:")
    if (letters.isupper() and len(letters) <= 4) or any(ch.isupper() for ch in letters[1:-1]):
        return False  # an acronym, "eBay"
    frequency = zipf(letters)
    if frequency >= SENTENCE_ZIPF:
        return True
    return frequency >= ORDINARY_ZIPF and letters.casefold().endswith(_VERB_ENDINGS)


#: endings of the verb forms headlines use ("Launches", "Renamed", "Seeks", "Rising")
_VERB_ENDINGS = ("s", "ed", "ing")


def _sentence_end(line: str) -> bool:
    """Whether ``line`` holds a sentence's end followed by another sentence (a full stop after an initial or a short
    abbreviation is none)."""
    for match in _SENTENCE_END.finditer(line):
        if line[match.start()] != "." or _ABBREVIATION.search(line, 0, match.start()) is None:
            return True
    return False


def _title_case(line: str) -> bool:
    """A line of headline length most of whose long words start with a capital, with three long words or more
    (a longer line of capitalised words is a table or a list of names, whose names stand as they are)."""
    if len(line) > HEADLINE_MAX_CHARS or _sentence_end(line):
        return False  # a headline is one sentence
    words = [w for w in _WORD.findall(line) if len(w) >= 4 and w.casefold() not in _SMALL | _TITLE_SMALL and not w.isupper()]
    if len(words) < 3:
        return False
    # names are capitalised in any style: two lower-case words make a sentence-case line however many names it
    # holds; "iTunes" is a name
    lower = sum(w[0].islower() and not any(ch.isupper() for ch in w) for w in words)
    return bool(sum(w[0].isupper() for w in words) >= TITLE_SHARE * len(words)) and lower < SENTENCE_CASE_WORDS
