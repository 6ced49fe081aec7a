"""PLOVER events: the lexicon's rules, then the real spaCy pipeline on sentences we wrote ourselves."""

from pathlib import Path
from typing import Any

import pytest

from schemas import Event
from streams import ids
from streams.enrich.events import extract_events
from streams.enrich.lexicon import lemma_candidates, lexicon
from streams.enrich.parsed import ParsedDoc
from streams.enrich.step import extract_doc


def events_of(nlp: Any, text: str) -> list[Event]:
    return extract_doc(nlp(text), None, "art-1").events


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The mayor of Lindenport met the governor of Ostrava on Friday.", "CONSULT"),
        ("Halvard held talks with the Estmark delegation in Kessin.", "CONSULT"),
        ("Estmark and Valdoria agreed to reopen their shared border.", "AGREE"),
        ("The Valdorian foreign minister praised Estmark for its restraint.", "SUPPORT"),
        ("Rebels attacked a police station in Kessin, killing four officers.", "ASSAULT"),
        ("Police arrested 30 people after the march in Lindenport.", "COERCE"),
        ("Thousands of farmers demonstrated outside the parliament in Ostrava.", "PROTEST"),
        ("Estmark imposed sanctions on three Valdorian banks.", "SANCTION"),
        ("The union demanded that the government raise wages.", "REQUEST"),
        ("The opposition accused the ministry of hiding the report.", "ACCUSE"),
        ("The council rejected the proposal to close the harbour.", "REJECT"),
        ("Estmark threatened to expel the Valdorian ambassador.", "THREATEN"),
        ("The army withdrew its troops from the border town.", "RETREAT"),
        ("Valdoria sent emergency food aid to the flooded districts.", "AID"),
        ("The Estmark government lifted the ban on the opposition party.", "CONCEDE"),
        ("Valdoria deployed troops along the northern border.", "MOBILIZE"),
    ],
    ids=lambda v: v if v.isupper() else "",
)
def test_types(nlp: Any, text: str, expected: str) -> None:
    assert expected in [event.type for event in events_of(nlp, text)]


def test_arguments_evidence_and_id(nlp: Any) -> None:
    text = "Storms hit the coast.\n\nPresident Anja Lindqvist met Chidi Okonkwo in Kessin on Tuesday."
    (event,) = events_of(nlp, text)
    assert (event.type, event.actors, event.recipients, event.location, event.date) == (
        "CONSULT", ["Anja Lindqvist"], ["Chidi Okonkwo"], "Kessin", "Tuesday"
    )  # fmt: skip
    assert text[event.start : event.end] == event.sentence == "President Anja Lindqvist met Chidi Okonkwo in Kessin on Tuesday."
    assert event.id == ids.stable_id("event", "art-1", str(event.start), "CONSULT")
    assert event.article_id == "art-1" and 0 < event.confidence <= 1
    assert not (event.negated or event.future or event.hypothetical)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("The fighting has forced 5,210 people to flee their homes.", "displaced", 5210),
        ("Gunmen attacked the convoy and twelve soldiers were killed.", "killed", 12),
        ("A bomb exploded in the market, wounding 1.5 million people.", "injured", 1_500_000),
        ("Police arrested 48 protesters in the capital.", "arrested", 48),
    ],
    ids=["comma-number", "number-word", "decimal-million", "arrested"],
)
def test_magnitudes(nlp: Any, text: str, kind: str, value: int) -> None:
    magnitudes = [(m.kind, m.value) for event in events_of(nlp, text) for m in event.magnitudes]
    assert (kind, value) in magnitudes


def test_years_and_money_are_not_head_counts(nlp: Any) -> None:
    events = events_of(nlp, "In 2019 rebels attacked a bank and stole $400 from the safe.")
    assert events and all(not event.magnitudes for event in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Estmark will send aid to Valdoria next week.", ("AGREE", False, True, False)),
        ("Valdoria did not meet the Estmark delegation.", ("REJECT", True, False, False)),
        ("Estmark will attack the port unless Valdoria withdraws.", ("THREATEN", False, True, True)),
        ("The rebels could attack the capital.", ("ASSAULT", False, False, True)),
        ("Valdoria refused to release the prisoners.", ("REJECT", False, False, False)),
    ],
    ids=["future-cooperation-is-intent", "negated-cooperation", "conditional-threat", "hypothetical", "refusal"],
)
def test_flags(nlp: Any, text: str, expected: tuple[str, bool, bool, bool]) -> None:
    event = events_of(nlp, text)[0]
    assert (event.type, event.negated, event.future, event.hypothetical) == expected


def test_one_event_per_type_and_sentence_and_none_for_plain_prose(nlp: Any) -> None:
    assert events_of(nlp, "The weather was mild and the harbour was quiet.") == []
    events = events_of(nlp, "Rebels attacked the town and attacked the bridge.")
    assert [event.type for event in events] == ["ASSAULT"]


def test_actor_of_a_reported_pronoun_is_the_speaker(nlp: Any) -> None:
    (event, *_) = events_of(nlp, "Estmark said it will support Valdoria.")
    assert event.actors == ["Estmark"] and event.type == "AGREE"


def test_entities_are_passed_not_recomputed(nlp: Any) -> None:
    doc = nlp("Rebels attacked Kessin.")
    assert extract_events(doc, [], "a")[0].actors == [] and extract_events(doc, [], "a")[0].location is None


PARSE_TEXT = (
    "ESTMARK TALKS\n\nPresident Anja Lindqvist, 61, met Chidi Okonkwo in Kessin on Tuesday. "
    "Police said 1,200 people had fled and twelve soldiers were wounded; the talks didn't end.\n"
    "Valdoria’s envoy will return in May."
)


def test_parsed_doc_reads_what_spacy_tokens_say(nlp: Any) -> None:
    doc = nlp(PARSE_TEXT)
    parse = ParsedDoc(doc)
    assert parse.text == doc.text == PARSE_TEXT
    assert parse.sents == [(sent.start, sent.end) for sent in doc.sents] and len(parse.sents) >= 4
    assert parse.ents == [(e.start, e.end, e.start_char, e.end_char, e.label_) for e in doc.ents]
    for token in doc:
        i = token.i
        assert (parse.pos[i], parse.tag[i], parse.dep[i], parse.ent_type[i], parse.lower[i]) == (
            token.pos_, token.tag_, token.dep_, token.ent_type_, token.lower_
        )  # fmt: skip
        assert (parse.head[i], parse.idx[i], parse.end_char(i), bool(parse.like_num[i])) == (
            token.head.i, token.idx, token.idx + len(token.text), token.like_num
        )  # fmt: skip
        assert parse.children(i) == [child.i for child in token.children]
        assert parse.edges(i) == (token.left_edge.i, token.right_edge.i)
    for start, end in parse.sents:
        assert parse.root(start, end) == doc[start:end].root.i


def test_parsed_doc_of_an_empty_text(nlp: Any) -> None:
    parse = ParsedDoc(nlp(""))
    assert (parse.text, parse.sents, parse.ents, parse.head) == ("", [], [], [])
    assert extract_events(parse, [], "a") == []


def test_parsed_doc_entities_side_by_side_and_at_the_end(nlp: Any) -> None:
    from spacy.tokens import Span

    doc = nlp.make_doc("Anja Lindqvist Estmark Bank")
    doc.ents = [Span(doc, 0, 2, "PERSON"), Span(doc, 2, 4, "ORG")]
    assert ParsedDoc(doc).ents == [(e.start, e.end, e.start_char, e.end_char, e.label_) for e in doc.ents]
    assert ParsedDoc(doc).ents == [(0, 2, 0, 14, "PERSON"), (2, 4, 15, 27, "ORG")]


def test_events_of_a_doc_and_of_its_parse_are_the_same(nlp: Any) -> None:
    doc = nlp(PARSE_TEXT)
    entities = extract_doc(doc, None, "a").entities
    events = extract_events(doc, entities, "a")
    assert events and events == extract_events(ParsedDoc(doc), entities, "a") == extract_events(doc, entities, "a", PARSE_TEXT)


def test_lemma_candidates_cover_regular_and_irregular_forms() -> None:
    lex = lexicon()
    assert "stop" in lemma_candidates("stopped", lex)
    assert "hold" in lemma_candidates("held", lex)
    assert "rally" in lemma_candidates("rallied", lex)


def test_lexicon_refuses_an_unknown_type(tmp_path: Path) -> None:
    from streams.enrich.lexicon import LEXICON_FILE

    bad = tmp_path / "events.yaml"
    bad.write_text(LEXICON_FILE.read_text("utf-8").replace("  agree: AGREE\n", "  agree: AGREEMENT\n", 1), "utf-8")
    with pytest.raises(ValueError, match="verbs.agree: 'AGREEMENT' is not a PLOVER type"):
        lexicon(bad)
