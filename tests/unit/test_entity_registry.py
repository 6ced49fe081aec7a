"""The entity registry: name keys, resolution across articles (one Ferreira, two Johnsons apart), bad input bounded."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import Entity, EntityRecord, MentionSpan, encode
from streams.config import Settings
from streams.enrich.normal import MAX_NAME_CHARS, name_key
from streams.enrich.registry import MAX_VARIANTS, SHARED_FIELDS, Entry, Registry, entry_of, load_registry, save_registry
from streams.enrich.registryfeed import RegistryFollower, keep_record
from streams.enrich.resolve import MAX_RESOLVED, resolve_entities
from streams.enrich.step import Resolution, extract_texts
from tests.factories import entity

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_name_keys_join_spellings_and_refuse_what_is_no_name() -> None:
    assert name_key("U.S.") == name_key("US") == "us"
    assert name_key("Ana Lucía Ferreira") == name_key("ana lucia ferreira")
    assert name_key("EBay") == name_key("eBay")
    assert name_key("Velayati's") == name_key("Velayati")
    assert name_key("Acme Widgets Inc", org=True) == name_key("Acme Widgets", org=True)
    assert name_key("Ana\x00\x07 Ferr\x1feira\x7f") == name_key("Ana Ferreira")  # control characters removed
    assert name_key("x" * (MAX_NAME_CHARS + 1)) == ""  # too long to be a name: left alone
    assert name_key("x" * 100_000) == ""


def resolve(nlp: Any, texts: list[str], registry: Registry | None = None, when: datetime = T0) -> tuple[Registry, list[Any]]:
    """``texts`` as articles an hour apart from ``when``, resolved against ``registry`` (a fresh one unless given):
    the registry and the extractions."""
    registry = Registry() if registry is None else registry
    ids = [f"a{i}" for i in range(len(texts))]
    return registry, extract_texts(nlp, texts, None, 16, ids, [Resolution(registry, when + timedelta(hours=i)) for i in range(len(texts))])


def spanned(entity_id: str, name: str, entity_type: str = "PERSON", start: int = 0, end: int | None = None, text: str = "x") -> Entity:
    """A found entity with one mention span (``start`` to ``end``, one character by default) of ``text``."""
    span = MentionSpan(start=start, end=start + 1 if end is None else end, text=text)
    return entity(name, entity_type, id=entity_id, mentions=[span])


def ids_of(extraction: Any, key: str) -> set[str]:
    return {e.id for e in extraction.entities if key in name_key(e.name) or any(key in name_key(a) for a in e.aliases)}


def test_full_name_then_surname_then_title_resolve_to_one_registry_entity(nlp: Any) -> None:
    registry, (first, second, third) = resolve(nlp, [
        "Ana Lucía Ferreira, the mayor of Porto Alegre, opened the new harbour on Monday.",
        "Ferreira said the harbour would bring work to the city.",
        "Dr. Ferreira thanked the engineers who built it.",
    ])  # fmt: skip
    one = ids_of(first, "ferreira")
    assert len(one) == 1
    assert ids_of(second, "ferreira") == one and ids_of(third, "ferreira") == one
    entry = registry.get(next(iter(one)))
    assert entry is not None and entry.name == "Ana Lucía Ferreira" and entry.mentions == 3
    assert {"Ferreira"} <= set(entry.variants)


def test_two_active_johnsons_stay_apart_and_johnson_alone_joins_neither(nlp: Any) -> None:
    registry, (boris, dustin, alone) = resolve(nlp, [
        "Boris Johnson spoke to union leaders in London on Tuesday.",
        "The golfer Dustin Johnson won the tournament in Georgia on Sunday.",
        "Johnson said he was pleased with the result.",
    ])  # fmt: skip
    (boris_id,), (dustin_id,) = ids_of(boris, "boris johnson"), ids_of(dustin, "dustin johnson")
    assert boris_id != dustin_id
    assert not ids_of(alone, "johnson") & {boris_id, dustin_id}
    entries = registry.lookup("short", "johnson")
    assert {e.id for e in entries} == {boris_id, dustin_id}


def test_a_surname_resolves_only_to_an_active_full_name(nlp: Any) -> None:
    registry, (first,) = resolve(nlp, ["Ana Lucía Ferreira opened the new harbour on Monday."], Registry(active_days=30))
    _, (later,) = resolve(nlp, ["Ferreira said the harbour would bring work."], registry, when=T0 + timedelta(days=90))
    assert ids_of(later, "ferreira") and ids_of(later, "ferreira") != ids_of(first, "ferreira")


def test_the_same_articles_in_another_process_give_the_same_ids(nlp: Any) -> None:
    texts = ["Ana Lucía Ferreira opened the new harbour.", "Ferreira said it would bring work to Porto Alegre."]
    once = [sorted(e.id for e in x.entities) for x in resolve(nlp, texts)[1]]
    again = [sorted(e.id for e in x.entities) for x in resolve(nlp, texts)[1]]
    assert once == again


def test_an_article_naming_10000_distinct_people_is_capped_and_the_index_stays_bounded(nlp: Any, caplog: Any) -> None:
    registry = Registry(max_active=2_000)
    entities = [spanned(f"e{i}", f"Person{i} Surname{i}", start=i) for i in range(10_000)]
    with caplog.at_level(logging.INFO):
        out = resolve_entities(registry, entities, T0)
    assert len(out) == 10_000  # nothing lost: the ones past the cap keep their own ids
    assert len(registry) == min(MAX_RESOLVED, 2_000) and len(registry.index) <= 3 * MAX_RESOLVED
    assert "keep their own ids" in caplog.text
    for batch in range(10):  # many such articles: the index never holds more than max_active
        resolve_entities(registry, [e.model_copy(update={"id": f"b{batch}-{e.id}", "name": f"B{batch} {e.name}"}) for e in entities], T0)
    assert len(registry) <= 2_000 and registry.evicted > 0


def test_names_in_scripts_without_latin_spelling_and_huge_names_are_left_alone() -> None:
    registry = Registry()
    huge = spanned("huge", "N" * 100_000, end=5, text="N")
    ruled = spanned("rule", "\u2500\u2500\u2500", "ORG", start=6, end=9)
    out = resolve_entities(registry, [huge, ruled], T0)
    assert {e.id for e in out} == {"huge", "rule"}
    assert all(len(v) <= 200 for entry in registry.entries.values() for v in entry.variants)


def record(entity_id: str = "ent-1", **fields: Any) -> EntityRecord:
    """Ana Lucía Ferreira, seen once at :data:`T0`; any other field of the record by keyword."""
    values: dict[str, Any] = {"name": "Ana Lucía Ferreira", "type": "PERSON", "types": {"PERSON": 1}, "variants": {"Ferreira": 1},
                              "first_seen": T0, "last_seen": T0}  # fmt: skip
    return EntityRecord(id=entity_id, **(values | fields))


def filled(*records: EntityRecord) -> Registry:
    """A registry holding ``records``, as the topic or the file gives them."""
    registry = Registry()
    for item in records:
        registry.put(item)
    return registry


def test_a_corrupt_or_newer_schema_registry_record_is_skipped_with_a_reason(caplog: Any) -> None:
    registry = Registry()
    follower = RegistryFollower(Settings(), keep_record(registry))
    newer = orjson.loads(encode(record()))
    newer["schema_version"] = 99
    with caplog.at_level(logging.WARNING):
        assert follower.apply("ent-1", b"\x00{not json") is not None
        assert follower.apply("ent-1", orjson.dumps(newer)) is not None
        assert "ent-2" in (follower.apply("ent-2", encode(record())) or "")  # an id that is not its key
    assert len(registry) == 0 and "registry record ent-1 skipped" in caplog.text
    assert follower.apply("ent-1", encode(record())) is None
    assert registry.get("ent-1") is not None


def test_a_registry_file_round_trips_and_a_bad_line_is_skipped(tmp_path: Path, caplog: Any) -> None:
    registry = filled(record("ent-1"), record("ent-2", name="Boris Johnson", variants={"Johnson": 2}))
    path = tmp_path / "registry.jsonl"
    assert save_registry(path, registry) == 2
    path.write_bytes(path.read_bytes() + b"{broken\n")
    loaded = Registry()
    with caplog.at_level(logging.WARNING):
        assert load_registry(path, loaded) == 2
    assert "line 3 skipped" in caplog.text
    assert {r.id for r in loaded.records()} == {"ent-1", "ent-2"}


def test_an_entry_and_its_record_carry_the_same_fields_both_ways() -> None:
    # the one field list both conversions use: every Entry field is on the record, but the index's own keys
    assert {f.name for f in dataclasses.fields(Entry)} == {*SHARED_FIELDS, "keys"}
    full = record(
        "ent-1", variants={f"V{i}": MAX_VARIANTS * 2 - i for i in range(MAX_VARIANTS * 2)}, blocked=["Zed", "Al"],
        roles={"mayor": 3, "doctor": 1}, stories=["s1", "s2"], recent=["m1"], mentions=7, last_seen=T0 + timedelta(days=1),
        wikidata="Q1", geonames=3469058, lat=-30.03, lon=-51.23, merged_into="ent-0", origin="operator",
    )  # fmt: skip
    entry = entry_of(full)
    assert entry.variants["V0"] == MAX_VARIANTS * 2 and entry.blocked == {"Zed", "Al"} and entry.keys == set()
    again = entry.record()
    assert again.variants == {f"V{i}": MAX_VARIANTS * 2 - i for i in range(MAX_VARIANTS)}  # the most frequent, bounded
    assert again.blocked == ["Al", "Zed"]  # sorted
    assert again == full.model_copy(update={"variants": again.variants, "blocked": again.blocked})
    assert entry_of(again).record() == again
    assert entry.stories is not full.stories  # the entry's lists are its own: the frozen record is never changed


def test_a_merged_entry_answers_for_the_entity_it_was_merged_into() -> None:
    registry = filled(record("ent-1"), record("ent-2", name="A. L. Ferreira", merged_into="ent-1"))
    merged = registry.get("ent-2")
    assert merged is not None and merged.id == "ent-1"
    assert [e.id for e in registry.lookup("name", name_key("A. L. Ferreira"))] == ["ent-1"]


@pytest.mark.parametrize(
    "text", ["\u4e60\u8fd1\u5e73\u4e0e\u7279\u6717\u666e\u4f1a\u6676\u3002", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05dc\u05d9\u05db\u05dd"]
)
def test_text_in_a_script_the_model_does_not_read_enriches_without_error(nlp: Any, text: str) -> None:
    _, (extraction,) = resolve(nlp, [text])
    assert all(e.id for e in extraction.entities)  # whatever the model makes of it, every entity has an id


def refiled(registry: Registry) -> dict[tuple[str, str], set[str]]:
    """The index a registry would hold were every entry filed afresh from its names (what observe and put skip)."""
    index: dict[tuple[str, str], set[str]] = {}
    for entry in registry.entries.values():
        for key in registry._keys(entry):
            index.setdefault(key, set()).add(entry.id)
    return index


def test_the_index_follows_names_when_observe_and_put_skip_filing_an_unchanged_entry() -> None:
    registry = Registry()
    registry.observe("ent-1", "Ana Lucía Ferreira", "PERSON", ["Ana Lucía Ferreira"], T0)
    filed = dict(registry.index)
    registry.observe("ent-1", "Ana Lucía Ferreira", "PERSON", ["Ana Lucía Ferreira"], T0)  # the same names: keys kept
    assert registry.index == filed == refiled(registry)
    registry.observe("ent-1", "Ana Lucía Ferreira", "PERSON", ["A. L. Ferreira"], T0)  # a new spelling is filed
    assert [e.id for e in registry.lookup("name", name_key("A. L. Ferreira"))] == ["ent-1"]
    assert registry.index == refiled(registry)
    registry.put(record("ent-1", mentions=9))  # the topic's word: names changed, so filed again
    assert registry.lookup("name", name_key("A. L. Ferreira")) == []
    assert registry.index == refiled(registry)
    registry.put(record("ent-1", mentions=10))  # counts only: the keys it is filed under stay
    assert registry.index == refiled(registry)
    registry.put(record("ent-1", mentions=11, blocked=["Ferreira"]))
    assert registry.lookup("name", name_key("Ferreira")) == []
    assert registry.index == refiled(registry)
