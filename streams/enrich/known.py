"""Names the registry or the offline places know, found in an article where the model missed them.

The model misses names in capitals ("MILWAUKEE 1996-08-29"), in tables of results and in lists; a name the
registry holds (seen in other articles, so with its evidence) or a known place is a mention wherever it stands
capitalised, as the gazetteer finds watched names. Runs of capitalised words not inside a model entity are looked
up, the longest first; a single ordinary word at a sentence start ("Reading the report") is never taken.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from schemas import Entity, MentionSpan
from streams.enrich.headline import ORDINARY_ZIPF, zipf
from streams.enrich.normal import name_key
from streams.enrich.places import place_of
from streams.enrich.registry import Registry

#: capitalised runs looked up per article at most (a table of thousands of names costs no more than this)
MAX_RUNS = 2000
#: words of a run tried as one name at most
MAX_WORDS = 4
#: articles in which a registry name must have been seen before it is found without the model
MIN_MENTIONS = 2

#: what follows a news dateline's place in capitals: a date ("1996-08-30", "Aug 30"), the agency "(Reuters)", a dash
_DATELINE = re.compile(r"(?:,[ ][A-Z][\w .]{1,30})?[ ]*(?:\d{4}-\d{2}-\d{2}|\(|[A-Z][a-z]{2,8}\.?[ ]\d{1,2}\b|[-\u2013\u2014][ ])")
_RUN = re.compile(r"[A-Z][\w'’&.-]*(?:[ ][A-Z][\w'’&.-]*)*")
_NONSPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Found:
    """A known name found without the model: where, and the entity it is (id, name, type, ids)."""

    start: int
    end: int
    id: str
    name: str
    type: str
    wikidata: str | None = None
    geonames: int | None = None
    lat: float | None = None
    lon: float | None = None


def known_names(text: str, covered: Callable[[int, int], bool], registry: Registry, when: datetime) -> list[Found]:
    """Known names in ``text`` at places ``covered`` says no entity holds yet."""
    out: list[Found] = []
    for number, run in enumerate(_RUN.finditer(text)):
        if number >= MAX_RUNS:
            break
        words = [m.span() for m in _NONSPACE.finditer(text, run.start(), run.end())]
        i = 0
        while i < len(words):
            for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
                start, end = words[i][0], words[i + n - 1][1]
                while end > start and text[end - 1] in ".,'’-":
                    end -= 1
                if end <= start or covered(start, end):
                    continue
                found = _lookup(text, start, end, registry, when)
                if found is not None:
                    out.append(found)
                    i += n - 1
                    break
            i += 1
    return out


def _lookup(text: str, start: int, end: int, registry: Registry, when: datetime) -> Found | None:
    surface = text[start:end]
    single = " " not in surface
    if single and len(surface) < 3:
        return None
    name = surface.title() if surface.isupper() and len(surface) > 4 else surface
    at_start = start == 0 or text[max(0, start - 2) : start].strip() in {"", ".", "!", "?", '"'}
    if single and zipf(name) >= ORDINARY_ZIPF and at_start and not (surface.isupper() and _DATELINE.match(text, end)):
        return None  # "Reading the report": a capitalised word at a sentence start; "DUBLIN 1996-08-30" is a dateline
    place = place_of(name)
    if place is not None:
        return Found(start, end, place.id, place.name, "GPE", place.wikidata, place.geonames, place.lat, place.lon)
    entries = [e for e in registry.lookup("name", name_key(name)) if registry.active(e, when) and e.mentions >= MIN_MENTIONS]
    if len(entries) != 1 or (single and zipf(name) >= ORDINARY_ZIPF):
        return None  # unknown, ambiguous, or an ordinary word that is also a name ("Bush", "May")
    entry = entries[0]
    return Found(start, end, entry.id, entry.name, entry.type, entry.wikidata, entry.geonames, entry.lat, entry.lon)


def add_known(text: str, entities: list[Entity], registry: Registry, when: datetime) -> list[Entity]:
    """``entities`` with the known names the model missed as further mentions (new entities where needed)."""
    taken = bytearray(len(text) + 1)
    for entity in entities:
        for mention in entity.mentions:
            taken[mention.start : mention.end] = b"\x01" * (mention.end - mention.start)
    found = known_names(text, lambda s, e: taken.find(1, s, e) >= 0, registry, when)
    if not found:
        return entities
    by_id = {entity.id: entity for entity in entities}
    for hit in found:
        span = MentionSpan(start=hit.start, end=hit.end, text=text[hit.start : hit.end])
        existing = by_id.get(hit.id)
        if existing is None:
            by_id[hit.id] = Entity(id=hit.id, name=hit.name, type=hit.type, mentions=[span], wikidata=hit.wikidata,
                                   geonames=hit.geonames, lat=hit.lat, lon=hit.lon)  # fmt: skip
        else:
            by_id[hit.id] = existing.model_copy(update={"mentions": sorted([*existing.mentions, span], key=lambda m: m.start)})
    return sorted(by_id.values(), key=lambda e: e.mentions[0].start if e.mentions else 0)
