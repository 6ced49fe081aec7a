"""Resolution: an article's canonical entities against the registry, so one real entity keeps one id across articles.

A full name resolves to the registry entry filed under its key (its own derived id when new); a place to its Wikidata
or GeoNames id; a surname or an acronym to the one full entity that is active and unambiguous (in the same story
first, when a story is given, then among the recent ones); two active "Johnson"s leave "Johnson" alone. What the
article shows (its short forms and acronyms joined to their full names) is then learned for the next articles.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from datetime import datetime

import yaml

from schemas import Entity
from streams import ids
from streams.enrich.known import add_known
from streams.enrich.names import LEXICONS
from streams.enrich.normal import name_key, people_stem
from streams.enrich.places import Place, demonym_of, place_of
from streams.enrich.registry import Entry, Registry
from streams.enrich.senses import split_teams, sports_text

log = logging.getLogger(__name__)

#: entities of one article resolved and learned at most; an article naming more (a list, a table) keeps derived ids
#: for the rest, so one article can neither take long nor fill the registry
MAX_RESOLVED = 500
#: types whose names may be places
PLACE_TYPES = frozenset({"GPE", "LOC", "FAC"})
#: types whose names may be a country's people or language
PEOPLE_TYPES = frozenset({"NORP", "LANGUAGE"})
#: types a surname alone may be given by the model while naming a person
SURNAME_TYPES = frozenset({"PERSON", "ORG", "GPE", "NORP", "PRODUCT", "WORK_OF_ART", "FAC", "LOC"})


@functools.cache
def _descriptions() -> tuple[str, ...]:
    data = yaml.safe_load((LEXICONS / "places.yaml").read_text("utf-8"))
    return tuple(str(d) for d in data.get("descriptions") or ())


def _short(name: str) -> bool:
    """A surname or an acronym: one word."""
    return len(name.split()) == 1


def _pick(candidates: list[Entry], when: datetime, registry: Registry, story: str | None) -> Entry | None:
    active = [entry for entry in candidates if registry.active(entry, when)]
    if story is not None:
        same = [entry for entry in active if story in entry.stories]
        if len(same) == 1:
            return same[0]
    return active[0] if len(active) == 1 else None


def resolve_one(registry: Registry, entity: Entity, when: datetime, story: str | None = None) -> tuple[str, str, Entry | Place | None]:
    """The id and type ``entity`` resolves to, and the registry entry or place that decided it (None: its own)."""
    if entity.watch_ids:
        return entity.id, entity.type, None  # a watched name keeps the watch's id
    org = entity.type == "ORG"
    key = name_key(entity.name, org)
    if not key:
        return entity.id, entity.type, None  # a name anyascii cannot spell, or too long to be a name: left alone
    if entity.type in PLACE_TYPES and (place := place_of(entity.name)) is not None:
        return place.id, "GPE", place
    if entity.type in PEOPLE_TYPES and (place := demonym_of(entity.name)) is not None:
        return place.id, "GPE", place  # "German", "Iraqis": the country, as Wikipedia-linking systems take it
    named = registry.lookup("name", key)
    if _short(entity.name):
        fulls = [e for e in named if e.full] + registry.lookup("short", key)
        fulls = list({e.id: e for e in fulls if entity.type in SURNAME_TYPES or e.type != "PERSON"}.values())
        if entity.name.isupper() and len(entity.name) > 1:
            fulls = [e for e in fulls if e.type != "PERSON"]  # an acronym is no person's surname
        elif entity.type != "PERSON" and not entity.name.isupper():
            fulls = [e for e in fulls if e.type == "PERSON" or ids.type_group(e.type) == ids.type_group(entity.type)]
        chosen = _pick(sorted(fulls, key=lambda e: e.id), when, registry, story)
        itself = [e for e in named if not e.full and name_key(e.name, e.type == "ORG") == key and registry.active(e, when)]
        if chosen is not None and chosen.type != "PERSON" and any(e.mentions >= chosen.mentions for e in itself):
            chosen = None  # "SXSW" named on its own at least as often as "SXSW Daily Digest": an entity of its own
        if chosen is not None:
            return chosen.id, chosen.type, chosen
    if entity.type == "NORP" and not named:  # "Kurds" after "Kurdish", "Moslems" after "Moslem": one people
        kin = [e for e in registry.lookup("people", people_stem(key)) if e.type == "NORP" and registry.active(e, when)]
        if len(kin) == 1:
            return kin[0].id, "NORP", kin[0]
    group = ids.type_group(entity.type)
    same = [e for e in named if ids.type_group(e.type) == group]
    if same:
        own = next((e for e in same if e.id == entity.id), None)
        chosen = own or max(same, key=lambda e: (e.mentions, e.id))
        return chosen.id, _type(chosen, entity.type), chosen
    others = [e for e in named if name_key(e.name, e.type == "ORG") == key and not _apart(e.type, entity.type)]
    if len(others) == 1:
        # the same name seen as another type before: one entity, whose type the registry's evidence decides
        return others[0].id, _type(others[0], entity.type), others[0]
    return entity.id, entity.type, None


def _apart(one: str, other: str) -> bool:
    """A person and a place of one name are two entities ("Jordan"); other type confusions are the model's."""
    groups = {ids.type_group(one), ids.type_group(other)}
    return "PERSON" in groups and ("PLACE" in groups or "NORP" in groups)


def _type(entry: Entry, article_type: str) -> str:
    votes = Counter(entry.types)
    votes[article_type] += 1
    return votes.most_common(1)[0][0]


def resolve_entities(registry: Registry, entities: list[Entity], when: datetime, story: str | None = None, text: str = "") -> list[Entity]:
    """``entities`` of one article with registry ids (those resolving to one entity joined), learned into ``registry``.

    In a sports report (``text``, :mod:`streams.enrich.senses`) a place that plays is its team.
    """
    entities = [_before_date(entity) for entity in entities]
    resolved: dict[str, Entity] = {}
    sports = sports_text(text) if text else False
    countries: dict[str, Place] = {}
    pending: list[Entity] = []
    for number, entity in enumerate(entities):
        if number >= MAX_RESOLVED:
            if number == MAX_RESOLVED:
                log.info("resolution: %d entities in one article; the %d after the first %d keep their own ids",
                         len(entities), len(entities) - MAX_RESOLVED, MAX_RESOLVED)  # fmt: skip
            _join(resolved, entity)
            continue
        entity_id, entity_type, found = resolve_one(registry, entity, when, story)
        update: dict[str, object] = {"id": entity_id, "type": entity_type}
        if isinstance(found, Place):
            update |= {"name": found.name, "wikidata": found.wikidata, "geonames": found.geonames, "lat": found.lat, "lon": found.lon}
            if found.kind == "country":
                countries[found.id] = found
        elif isinstance(found, Entry):
            update |= {"name": found.name, "wikidata": entity.wikidata or found.wikidata, "geonames": found.geonames,
                       "lat": found.lat, "lon": found.lon}  # fmt: skip
        elif entity.type not in PLACE_TYPES and _short(entity.name) is False and _description(entity.name):
            pending.append(entity)
            continue
        if update.get("name") and update["name"] != entity.name:
            update["aliases"] = sorted({*entity.aliases, entity.name} - {str(update["name"])})
        _join(resolved, entity.model_copy(update=update))
    for entity in pending:  # "the Islamic Republic" after "Iran": the one country of the article with those words
        words = name_key(entity.name)
        owners = [p for p in countries.values() if words in name_key(_full_name(p))]
        if len(owners) == 1:
            place = owners[0]
            _join(resolved, entity.model_copy(update={"id": place.id, "name": place.name, "type": "GPE", "wikidata": place.wikidata,
                                                      "aliases": sorted({*entity.aliases, entity.name})}))  # fmt: skip
        else:
            _join(resolved, entity)
    out = sorted(resolved.values(), key=lambda e: e.mentions[0].start if e.mentions else 0)
    if text:
        out = add_known(text, out, registry, when)
    if sports:
        out = [sense for entity in out for sense in (split_teams(text, entity) if _place(entity) else [entity])]
    for entity in out[:MAX_RESOLVED]:
        registry.observe(entity.id, entity.name, entity.type, [entity.name, *entity.aliases], when, wikidata=entity.wikidata,
                         geonames=entity.geonames, lat=entity.lat, lon=entity.lon,
                         story=story, origin="watch" if entity.watch_ids else "registry")  # fmt: skip
    return out


#: a date inside a name: the model glued a dateline's place to what follows it ("SEOUL 1996-08-30 Results of")
_GLUED_DATE = re.compile(r"\s+\d{4}-\d{2}-\d{2}\b")


def _before_date(entity: Entity) -> Entity:
    """An entity whose name runs over a date, cut before it: "SEOUL 1996-08-30 Results of South Korean" is Seoul."""
    cut = _GLUED_DATE.search(entity.name)
    if cut is None or cut.start() == 0:
        return entity
    spans = []
    for mention in entity.mentions:
        inner = _GLUED_DATE.search(mention.text)
        end = mention.start + inner.start() if inner is not None else mention.end
        spans.append(mention.model_copy(update={"end": end, "text": mention.text[: end - mention.start]}))
    return entity.model_copy(update={"name": entity.name[: cut.start()], "mentions": spans})


def _place(entity: Entity) -> bool:
    """A resolved entity that is a known place (its id from Wikidata or GeoNames)."""
    return entity.type == "GPE" and (entity.wikidata is not None or entity.geonames is not None) and not entity.watch_ids


def _description(name: str) -> bool:
    key = name_key(name)
    return any(key == d or key.endswith(" " + d) or key.startswith(d + " ") for d in _descriptions())


@functools.lru_cache(maxsize=1024)
def _full_name(place: Place) -> str:
    from rigour.territories import get_territory_by_qid

    territory = get_territory_by_qid(place.wikidata) if place.wikidata else None
    return territory.full_name if territory is not None and territory.full_name else place.name


def _join(resolved: dict[str, Entity], entity: Entity) -> None:
    """Two entities of one article resolving to one id become one: mentions and aliases together."""
    other = resolved.get(entity.id)
    if other is None:
        resolved[entity.id] = entity
        return
    spans = {(m.start, m.end): m for m in [*other.mentions, *entity.mentions]}
    aliases = sorted({*other.aliases, *entity.aliases, entity.name, other.name} - {other.name})
    resolved[entity.id] = other.model_copy(
        update={"mentions": [spans[k] for k in sorted(spans)], "aliases": aliases,
                "watch_ids": sorted({*other.watch_ids, *entity.watch_ids}), "mentions_cut": other.mentions_cut + entity.mentions_cut}
    )  # fmt: skip
