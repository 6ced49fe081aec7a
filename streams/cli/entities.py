"""``wirewatch entities``: the entity registry on the compacted topic ``wirewatch.entities``, and an operator's
corrections (merge, split), written as records every worker follows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from schemas import DecodeError, EntityRecord, decode
from streams.cli.common import fail, out, print_json, run_async
from streams.config import Settings, get_settings
from streams.enrich.normal import name_key


async def registry_records(settings: Settings) -> dict[str, EntityRecord]:
    """Every record of the registry topic as of now (a record that does not decode is left out)."""
    from streams.kafka.client import compacted_state

    records = {}
    for key, value in (await compacted_state(settings, "entities")).items():
        try:
            records[key] = decode(EntityRecord, value)
        except DecodeError:
            continue
    return records


def find_entity(records: dict[str, EntityRecord], query: str) -> tuple[EntityRecord | None, list[EntityRecord]]:
    """The entity ``query`` (an id, a name or one of its variants) names, following an alias record; and the others
    it might mean (ambiguous names list the rest, the most mentioned first)."""
    if query in records:
        found = records[query]
        return records.get(found.merged_into or "", found), []
    key = name_key(query)
    if not key:
        return None, []
    named = [
        r
        for r in records.values()
        if key in {name_key(n) for n in (r.name, *r.variants)} and name_key(query) not in map(name_key, r.blocked)
    ]
    named = list({(records.get(r.merged_into or "", r)).id: records.get(r.merged_into or "", r) for r in named}.values())
    named.sort(key=lambda r: (name_key(r.name) != key, -r.mentions, r.id))
    return (named[0], named[1:]) if named else (None, [])


def aliases_of(records: dict[str, EntityRecord], entity_id: str) -> list[EntityRecord]:
    """The alias records merged into ``entity_id``."""
    return sorted((r for r in records.values() if r.merged_into == entity_id), key=lambda r: r.id)


def merged(target: EntityRecord, other: EntityRecord) -> tuple[EntityRecord, EntityRecord]:
    """``other`` merged into ``target``: the target with both entities' names, types and times; ``other`` as an alias
    record pointing at it (its id stays valid: consumers follow ``merged_into``)."""
    variants = Counter(target.variants)
    variants.update(other.variants)
    variants[other.name] += 0
    types = Counter(target.types)
    types.update(other.types)
    combined = target.model_copy(update={
        "variants": dict(variants.most_common(50)), "types": dict(types.most_common()), "mentions": target.mentions + other.mentions,
        "first_seen": min(target.first_seen, other.first_seen), "last_seen": max(target.last_seen, other.last_seen),
        "wikidata": target.wikidata or other.wikidata, "geonames": target.geonames or other.geonames,
        "blocked": [b for b in target.blocked if name_key(b) not in {name_key(n) for n in other.variants}], "origin": "operator",
    })  # fmt: skip
    alias = other.model_copy(update={"merged_into": target.id, "origin": "operator"})
    return combined, alias


def split(entity: EntityRecord, name: str) -> EntityRecord:
    """``entity`` without the variant ``name`` (any spelling of it), which is never joined to it again."""
    key = name_key(name)
    variants = {n: c for n, c in entity.variants.items() if name_key(n) != key}
    return entity.model_copy(update={"variants": variants, "blocked": sorted({*entity.blocked, name}), "origin": "operator"})


@click.group()
def entities() -> None:
    """The entity registry (the compacted topic wirewatch.entities): show, merge and split entities."""


def _load(query: str) -> tuple[dict[str, EntityRecord], EntityRecord]:
    settings = get_settings()
    records = run_async(registry_records(settings))
    found, _ = find_entity(records, query)
    if found is None:
        fail(f"no registry entity matches {query!r}", 1)
    return records, found


@entities.command("merge")
@click.argument("target")
@click.argument("other")
def entities_merge(target: str, other: str) -> None:
    """Merge OTHER into TARGET (ids or names): one entity from now on; OTHER's id becomes an alias of TARGET's."""
    from streams.kafka.client import publish

    records, into = _load(target)
    found, _ = find_entity(records, other)
    if found is None:
        fail(f"no registry entity matches {other!r}", 1)
    if found.id == into.id:
        fail(f"{other!r} and {target!r} are already one entity ({into.id})")
    combined, alias = merged(into, found)
    run_async(publish(get_settings(), "entities", [(combined.id, combined), (alias.id, alias)]))
    out.print(escape(f"merged {found.name} ({found.id}) into {combined.name} ({combined.id})"))


@entities.command("split")
@click.argument("entity")
@click.argument("name")
def entities_split(entity: str, name: str) -> None:
    """Split NAME off ENTITY: an entity merged into it earlier becomes its own again; a variant is never joined to it
    again (its next mention starts an entity of its own)."""
    from streams.kafka.client import publish

    records, found = _load(entity)
    alias = next((r for r in aliases_of(records, found.id) if r.id == name or name_key(r.name) == name_key(name)), None)
    if alias is not None:
        freed = alias.model_copy(update={"merged_into": None, "origin": "operator"})
        kept = found.model_copy(update={"blocked": sorted({*found.blocked, *freed.variants, freed.name}), "origin": "operator",
                                        "variants": {n: c for n, c in found.variants.items() if n not in freed.variants}})  # fmt: skip
        run_async(publish(get_settings(), "entities", [(kept.id, kept), (freed.id, freed)]))
        out.print(escape(f"split {freed.name} ({freed.id}) off {kept.name} ({kept.id})"))
        return
    if name_key(name) == name_key(found.name):
        fail(f"{name!r} is {found.name!r}'s own name; split another variant off, or merge it elsewhere")
    if name_key(name) not in {name_key(v) for v in found.variants}:
        fail(f"{found.name!r} has no variant {name!r} (variants: {', '.join(found.variants)})", 1)
    kept = split(found, name)
    run_async(publish(get_settings(), "entities", [(kept.id, kept)]))
    out.print(escape(f"split {name} off {kept.name} ({kept.id}): it is its own entity from its next mention"))


@entities.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def entities_show(name: str, as_json: bool) -> None:
    """The registry entry of NAME: variants, types seen, ids, first and last seen, aliases merged into it."""
    records, found = _load(name)
    if as_json:
        print_json(registry_json(records, found))
        return
    print_entry(records, found)


def registry_json(records: dict[str, EntityRecord], found: EntityRecord) -> dict[str, Any]:
    data: dict[str, Any] = found.model_dump(mode="json", exclude={"schema_version", "recent"})
    data["aliases"] = [alias.id for alias in aliases_of(records, found.id)]
    return data


def print_entry(records: dict[str, EntityRecord], found: EntityRecord) -> None:
    """The registry entry as people read it."""
    ids = [f"wikidata {found.wikidata}" if found.wikidata else "", f"geonames {found.geonames}" if found.geonames else "",
           f"at {found.lat:.3f}, {found.lon:.3f}" if found.lat is not None and found.lon is not None else ""]  # fmt: skip
    out.print(escape(f"{found.name} ({found.type}, registry id {found.id}) {' '.join(i for i in ids if i)}"))
    out.print(
        escape(f"first seen {found.first_seen:%Y-%m-%d %H:%M}, last seen {found.last_seen:%Y-%m-%d %H:%M}, {found.mentions} article(s)")
    )
    table = Table("variant", "mentions", title="names")
    for variant, count in sorted(found.variants.items(), key=lambda v: -v[1]):
        table.add_row(escape(variant), str(count))
    out.print(table)
    out.print(escape("types seen: " + ", ".join(f"{t} {n}" for t, n in found.types.items())))
    if found.blocked:
        out.print(escape("split off: " + ", ".join(found.blocked)))
    aliases = aliases_of(records, found.id)
    if aliases:
        out.print(escape("merged into it: " + ", ".join(f"{a.name} ({a.id})" for a in aliases)))
