"""Title-case headlines: names cut at the headline's verb or a colon, abbreviations that end no sentence, and names
that are none (a common-noun acronym, a legal form alone, "Internet" as a territory). Titles invented for the tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import Entity
from streams.enrich import step
from streams.enrich.entities import canonical_entities
from streams.enrich.headline import headline_entities, headline_lines, not_a_name
from streams.enrich.places import place_of
from streams.enrich.registry import Registry


def entities_of(text: str, *spans: tuple[str, str]) -> list[Entity]:
    """Canonical entities of ``text`` from model spans given as (surface, label), each at its first occurrence."""
    found = []
    for surface, label in spans:
        start = text.index(surface)
        found.append((start, start + len(surface), label))
    return canonical_entities(text, found)


def names(text: str, *spans: tuple[str, str], known: frozenset[str] = frozenset()) -> list[str]:
    return [entity.name for entity in headline_entities(text, entities_of(text, *spans), lambda name: name in known)]


@pytest.mark.parametrize(
    ("title", "title_case"),
    [
        ("Mt. Quorrel Exchange Files For Bankruptcy Protection", True),
        ("J.R. Vantrell Extends Lead After Upgrade Of Shares", True),
        ("Vantrell Shares Fall. Markets Close Lower Across Europe", False),
        ("Is The Quorrel Exchange Finished? Traders Wonder Aloud", False),
    ],
)
def test_a_full_stop_after_an_initial_or_a_short_abbreviation_ends_no_headline(title: str, title_case: bool) -> None:
    assert bool(headline_lines(title)) is title_case


def test_a_headline_verb_inside_a_name_ends_it() -> None:
    title = "Harbourline Marine Unveils Newest Welding Arm For Shipyards"
    assert names(title, ("Harbourline Marine Unveils Newest Welding Arm", "ORG")) == ["Harbourline Marine"]


def test_a_verb_after_an_abbreviated_name_ends_it_once_the_abbreviation_ends_no_sentence() -> None:
    title = "Mt. Quorrel Seeks Court Protection During Bankruptcy"
    assert names(title, ("Mt. Quorrel Seeks Court", "PRODUCT")) == ["Mt. Quorrel"]


def test_a_colon_ends_a_name() -> None:
    title = "Varnholt Quarry: Letting Tenants Decide Rents Is Wise"
    assert names(title, ("Varnholt Quarry: Letting Tenants", "ORG")) == ["Varnholt Quarry"]


def test_a_known_name_is_kept_whole_even_with_frequent_words_in_it() -> None:
    # "States" is a frequent word: without the place vouching for the whole name it would end the name
    title = "United States Warns Travellers Of Coastal Storms"
    assert names(title, ("United States", "GPE"), known=frozenset({"United States"})) == ["United States"]
    assert names(title, ("United States", "GPE")) != ["United States"]


@pytest.mark.parametrize("word", ["IPO", "CEO", "Inc", "Ltd."])
def test_a_common_noun_acronym_or_a_legal_form_alone_is_no_name(word: str) -> None:
    assert not_a_name(word)
    text = f"Quillmont said on Monday that the {word} would follow in May, after the vote."
    assert names(text, (word, "ORG"), ("Quillmont", "ORG")) == ["Quillmont"]


@pytest.mark.parametrize("name", ["IPOX Holdings", "Quillmont Inc", "Ceolan"])
def test_names_holding_such_words_stay_names(name: str) -> None:
    assert not not_a_name(name)


def test_the_internet_is_no_territory() -> None:
    assert place_of("Internet") is None
    assert place_of("Iran") is not None


def test_a_name_the_registry_knows_ends_a_glued_headline_span() -> None:
    # "Hurls" is too rare a word to read as the headline's verb: the known name "Tobin Marlowe" ends the span
    title = "Tobin Marlowe Hurls Insults At Court Reporter During Hearing"
    spans = ("Tobin Marlowe Hurls", "PERSON")
    assert names(title, spans, known=frozenset({"Tobin Marlowe"})) == ["Tobin Marlowe"]


def test_one_known_word_does_not_cut_a_longer_name() -> None:
    title = "Fennick Mae Ostrava Shares Climb After Quarterly Report"
    assert names(title, ("Fennick Mae Ostrava", "ORG"), known=frozenset({"Fennick"})) == ["Fennick Mae Ostrava"]


def test_a_trimmed_name_keeps_no_glued_words_as_alias() -> None:
    title = "Quorrel Exchange Files For Bankruptcy Protection In Tokyo"
    [entity] = headline_entities(title, entities_of(title, ("Quorrel Exchange Files", "ORG")), lambda name: False)
    assert entity.name == "Quorrel Exchange"
    assert "Quorrel Exchange Files" not in entity.aliases


def test_a_law_keeps_its_number_and_a_score_loses_it() -> None:
    text = "Vantrell Foods filed for Chapter 11 on Monday; Kent 108-3 at stumps."
    found = {e.name: e.type for e in entities_of(text, ("Vantrell Foods", "ORG"), ("Chapter 11", "LAW"), ("Kent 108-3", "ORG"))}
    assert found == {"Vantrell Foods": "ORG", "Chapter 11": "LAW", "Kent": "ORG"}


def test_a_start_the_registry_knows_does_not_run_across_a_quote() -> None:
    # the registry learned '2014 "Coin Makers"' from another title: the opening quote still ends the name here
    title = 'Marla Quent Tops "Vantrell" 2014 "Coin Makers" List'
    known = frozenset({'2014 "Coin Makers"'})
    assert names(title, ('2014 "Coin Makers" List', "WORK_OF_ART"), known=known) == []


def test_a_lower_case_common_word_inside_a_name_cuts_it_to_the_name_after() -> None:
    text = "Quorrel exchange Vantrix faced hack attacks every second, its chief said."
    assert names(text, ("Quorrel exchange Vantrix", "ORG")) == ["Vantrix"]


@pytest.mark.parametrize(
    ("name", "label"), [("Banco de Quillmont", "ORG"), ("Ruud van Tarrow", "PERSON"), ("Gone with the Quillwind", "WORK_OF_ART")]
)
def test_connectors_and_the_words_of_a_title_stay_in_a_name(name: str, label: str) -> None:
    text = f"On Monday {name} was in the news again, as it was last year."
    assert names(text, (name, label)) == [name]


def test_a_closing_quote_inside_a_name_ends_it() -> None:
    text = "Epic new 'Vantrell Of Crowns' Season 4 trailer showcases blood and vengeance"
    assert names(text, ("Vantrell Of Crowns' Season", "WORK_OF_ART")) == ["Vantrell Of Crowns"]


def test_a_name_neither_starts_nor_ends_with_a_small_word() -> None:
    text = "Tobin Marlowe to launch a campaign for Pono Quillsound at the fair"
    assert names(text, ("Pono Quillsound at", "ORG")) == ["Pono Quillsound"]


def test_a_quoted_title_in_a_title_case_headline_is_kept_whole() -> None:
    title = "'House of Quorrel' Comes to Vantrix Store Next Week"
    assert names(title, ("House of Quorrel' Comes", "ORG")) == ["House of Quorrel"]


@pytest.mark.parametrize(
    ("title", "span"),
    [
        ("'We Need A Watchdog That Watches Vantrix' Leads The Debate", "We Need A Watchdog That Watches Vantrix"),
        ("Hackers Claim Exchange Still Has 'Stolen' Coins In Vaults", "Stolen"),
    ],
)
def test_a_quoted_remark_or_a_scare_quoted_word_is_no_title(title: str, span: str) -> None:
    assert names(title, (span, "WORK_OF_ART")) == []


def test_a_title_left_at_the_end_of_a_cut_name_is_cut_too() -> None:
    title = "Quorrel Rep: Letting Vantrix Speak At Summit Encourages Unrest"
    assert names(title, ("Quorrel Rep: Letting Vantrix Speak", "ORG")) == ["Quorrel"]


def test_a_role_before_a_name_is_a_title() -> None:
    title = "Flappy Wing Online Return: Creator Dovrik Quennel Speaks On Plans"
    assert names(title, ("Creator Dovrik Quennel Speaks", "PERSON")) == ["Dovrik Quennel"]


@pytest.mark.parametrize(
    ("title", "title_case"),
    [
        ("Vantrix TV Updated with iTunes Festival Channel", True),
        ("Quillmont offers 'Vantrell Nights,' 'House of Quorrel' with Tarrow deal", False),
    ],
)
def test_prepositions_are_small_words_and_two_lower_case_words_make_sentence_case(title: str, title_case: bool) -> None:
    assert bool(headline_lines(title)) is title_case


def test_a_glued_headline_word_is_cut_once_prepositions_are_small_words() -> None:
    title = "Vantrix TV Updated with iTunes Festival Channel"
    assert names(title, ("Vantrix TV Updated", "ORG")) == ["Vantrix TV"]


def test_the_registry_knowing_a_word_in_capitals_only_does_not_vouch_for_it() -> None:
    when = datetime(2026, 12, 2, tzinfo=UTC)
    registry = Registry()
    registry.observe("epic", "EPIC", "ORG", ["EPIC"], when)
    registry.observe("ebay", "eBay", "ORG", ["eBay"], when)
    known = step._known(step.Resolution(registry, when))
    assert known("EPIC")
    assert not known("Epic")  # a title-case headline's word, the acronym of another title
    assert known("Ebay")  # a name in other capitals than the registry's, none of them an acronym
