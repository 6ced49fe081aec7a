"""Event participants: titles, descriptions and pronouns resolved to the named entity the article introduces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.enrich.corefer import coreferences, references
from streams.enrich.parsed import ParsedDoc
from streams.enrich.registry import Registry
from streams.enrich.step import Resolution, extract_texts, parsed_docs

# invented, with the phenomena of a real wire report: a lead that names its actor in the next sentence, a title
# introduced with the name and used alone later, a pronoun, and "the city" after a city
ARTICLE = (
    "A senior envoy of the Valdorian government discussed border security in a meeting with Ostrian Prime Minister "
    "Pieter Halvard on Tuesday.\n\n"
    "Chidi Okonkwo said the talks had gone well.\n\n"
    "The Ostrian premier thanked Valdoria for its help.\n\n"
    "He praised the envoy.\n\n"
    "Rebels attacked Mosul on Monday. The army defended the city."
)


def events_of(nlp: Any, text: str) -> dict[str, Any]:
    (extraction,) = extract_texts(nlp, [text], None, 16, ["a1"], [Resolution(Registry(), datetime(2026, 11, 20, tzinfo=UTC))])
    return {e.sentence[:20]: e for e in extraction.events}


def test_the_lead_description_title_and_pronoun_resolve_to_the_named_people(nlp: Any) -> None:
    events = events_of(nlp, ARTICLE)
    meeting = events["A senior envoy of th"]
    assert meeting.actors == ["Chidi Okonkwo"] and "Pieter Halvard" in meeting.recipients  # not "Valdorian"
    assert events["The Ostrian premier "].actors == ["Pieter Halvard"]
    assert events["He praised the envoy"].actors == ["Pieter Halvard"]


def test_the_city_after_a_city_is_that_city(nlp: Any) -> None:
    events = events_of(nlp, ARTICLE)
    defended = next(e for key, e in events.items() if key.startswith("The army defended"))
    assert "Mosul" in [defended.location, *defended.recipients]


def test_two_holders_of_a_title_leave_it_unresolved(nlp: Any) -> None:
    text = ("Ostrian President Ana Weiss met Valdorian President Karl Brun in Kessin.\n\n"
            "The president thanked the hosts.")  # fmt: skip
    doc = next(parsed_docs(nlp, [text]))
    parse = ParsedDoc(doc, text)
    from streams.enrich.entities import canonical_entities

    entities = canonical_entities(text, [(s, e, label) for _, _, s, e, label in parse.ents], None)
    assert {e.name for e in entities if e.type == "PERSON"} >= {"Ana Weiss", "Karl Brun"}
    assert not [r for r in coreferences(parse, entities) if text[r[0] : r[1]] == "president"]


def test_the_lexicon_is_data() -> None:
    lex = references()
    assert lex.roles["premier"] == lex.roles["prime minister"] == "prime minister"
    assert "he" in lex.pronouns and "city" in lex.places


def test_roles_are_found_as_whole_words_as_one_regex_per_role_word_finds_them() -> None:
    import re

    from streams.enrich.corefer import _roles_in

    roles = references().roles
    for window in [" with iraqi prime minister ", " the vice-president and ", " by secretary general ", " secretary-general ",
                   " the prime-minister-elect ", " at 3pm the pm ", " its ceo and chief executive ", " the ministers "]:  # fmt: skip
        expected = {role for word, role in roles.items() if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", window)}
        assert _roles_in(window) == expected, window
    assert _roles_in(" with iraqi prime minister ") == {"prime minister", "minister"}
