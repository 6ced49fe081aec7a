"""The enrich step as pure functions: articles through one ``nlp.pipe`` pass to canonical entities, events and mentions.

The enrich agent and ``wirewatch extract`` share this code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from spacy.tokens import Doc

from schemas import Article, EnrichedArticle, Entity, Event, Mention
from streams import ids
from streams.clock import utcnow
from streams.enrich.bounds import SENTENCE_MAX_CHARS, fit_enriched
from streams.enrich.child import ChildPipeline
from streams.enrich.entities import canonical_entities
from streams.enrich.events import extract_events
from streams.enrich.fingerprint import sketch
from streams.enrich.gazetteer import Watchlist
from streams.enrich.headline import headline_entities, model_view
from streams.enrich.normal import name_key
from streams.enrich.parsed import ParsedDoc, sentence_at, sentence_bounds
from streams.enrich.places import place_of
from streams.enrich.registry import Entry, Registry
from streams.enrich.resolve import resolve_entities


@dataclass(frozen=True)
class Extraction:
    """What extraction found in one text: canonical entities (with each one's first sentence) and key events."""

    entities: list[Entity]
    sentences: dict[str, tuple[int, int]]
    events: list[Event]


@dataclass(frozen=True)
class Resolution:
    """What resolving against the registry needs besides the article: the registry, the article's time, its story."""

    registry: Registry
    when: datetime
    story: str | None = None


def extract_doc(
    doc: Any, watchlist: Watchlist | None = None, article_id: str = "", resolution: Resolution | None = None, text: str | None = None
) -> Extraction:
    """Canonical entities (resolved against the registry when ``resolution`` is given) and PLOVER events of one parsed doc.

    ``text`` is the original of a doc parsed from its :func:`~streams.enrich.headline.model_view` (names come from it).
    """
    parse = ParsedDoc(doc, text)  # the parse read once: token and span attributes are costly to read from spaCy
    text = parse.text
    entities = canonical_entities(text, [(start, end, label) for _, _, start, end, label in parse.ents], watchlist)
    entities = headline_entities(text, entities, _known(resolution))
    if resolution is not None:
        entities = resolve_entities(resolution.registry, entities, resolution.when, resolution.story, text)
    bounds = sentence_bounds(parse)
    sentences = {e.id: sentence_at(bounds, e.mentions[0].start, len(text)) for e in entities if e.mentions}
    return Extraction(entities, sentences, located(extract_events(parse, entities, article_id), entities))


def _known(resolution: Resolution | None) -> Any:
    """Whether the registry (when there is one) or the offline places know a name: a headline name is then real."""

    def known(name: str) -> bool:
        if place_of(name) is not None:
            return True
        if resolution is None:
            return False
        found = resolution.registry.lookup("name", name_key(name))
        return any(resolution.registry.active(entry, resolution.when) and not _other_case(name, entry) for entry in found)

    return known


def _other_case(name: str, entry: Entry) -> bool:
    """Whether the registry knows ``name``, a capitalised word, only in capitals ("EPIC", "US" for a title-case
    headline's "Epic", "Us"): the acronym is no evidence that the headline's word is a name."""
    spellings = {entry.name, *entry.variants}
    return name not in spellings and not name.isupper() and all(spelling.isupper() for spelling in spellings)


def located(events: list[Event], entities: list[Entity]) -> list[Event]:
    """Events whose location is a place the registry knows, with its coordinates."""
    where = {e.name: (e.lat, e.lon) for e in entities if e.lat is not None and e.lon is not None}
    if not where:
        return events
    return [e.model_copy(update={"location_lat": where[e.location][0], "location_lon": where[e.location][1]})
            if e.location in where else e for e in events]  # fmt: skip


#: characters per spaCy call at most: spaCy's parser and NER need about 1 GB of temporary memory per 100,000
#: characters (spaCy's documentation of ``nlp.max_length``), and a text over ``nlp.max_length`` is refused outright
CHUNK_CHARS = 100_000

#: where a chunk may end, best first: a paragraph, a line, a sentence, a word
_BREAKS = ("\n\n", "\n", ". ", " ")


def chunks(text: str, size: int) -> list[str]:
    """``text`` in consecutive pieces of at most ``size`` characters that join back to exactly ``text``.

    Each piece ends just after the best break in its second half (paragraph, line, sentence end, space), so a
    sentence or a name is rarely split; a text without any is cut at ``size``.
    """
    pieces: list[str] = []
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        end = size
        for separator in _BREAKS:
            found = window.rfind(separator, size // 2)
            if found >= 0:
                end = found + len(separator)
                break
        pieces.append(window[:end])
        start += end
    pieces.append(text[start:])
    return pieces


def model_pieces(nlp: Any, texts: list[str]) -> tuple[list[int], list[str]]:
    """What spaCy reads of ``texts``: each text's :func:`chunks` as model views (capital-letter runs re-cased,
    offsets unchanged: streams/enrich/headline.py), and the index of the text each piece belongs to."""
    size = max(1, min(CHUNK_CHARS, int(nlp.max_length) - 1))
    owners: list[int] = []
    pieces: list[str] = []
    for index, text in enumerate(texts):
        for piece in chunks(text, size):
            owners.append(index)
            pieces.append(model_view(piece))
    return owners, pieces


def start_parsing(nlp: Any, articles: list[Article], batch_size: int = 16) -> None:
    """Have a child-process pipeline start parsing ``articles`` now, so the child works while earlier batches are
    extracted; :func:`enrich_articles` on the same articles then reads its docs (nothing to do in-process)."""
    if isinstance(nlp, ChildPipeline):
        nlp.prefetch(model_pieces(nlp, [analysed_text(article) for article in articles])[1], batch_size)


def parsed_docs(nlp: Any, texts: list[str], batch_size: int = 16) -> Iterator[Any]:
    """One spaCy doc per text through ``nlp.pipe``; a text over :data:`CHUNK_CHARS` (or ``nlp.max_length``) is parsed
    in :func:`chunks` and joined back with ``Doc.from_docs``, so its offsets, entities and sentences are those of
    the whole text, as if spaCy had read it in one go."""
    owners, pieces = model_pieces(nlp, texts)
    docs = zip(owners, nlp.pipe(pieces, batch_size=batch_size), strict=True)
    for _, group in groupby(docs, key=lambda pair: pair[0]):
        parts = [doc for _, doc in group]
        yield parts[0] if len(parts) == 1 else Doc.from_docs(parts, ensure_whitespace=False)


def extract_texts(
    nlp: Any,
    texts: list[str],
    watchlist: Watchlist | None = None,
    batch_size: int = 16,
    article_ids: list[str] | None = None,
    resolutions: list[Resolution | None] | None = None,
) -> list[Extraction]:
    """Extraction for a batch of texts of any length through ``nlp.pipe`` (the one code path of agent and CLI).

    With ``resolutions`` each text's entities are resolved against the registry in order, so an article learns
    from the ones before it in the same batch.
    """
    names = article_ids if article_ids is not None else [""] * len(texts)
    wanted = resolutions if resolutions is not None else [None] * len(texts)
    docs = parsed_docs(nlp, texts, batch_size)
    return [extract_doc(doc, watchlist, name, r, text) for doc, name, r, text in zip(docs, names, wanted, texts, strict=True)]


@dataclass(frozen=True)
class Enriched:
    """One article's enrichment: the record for ``wirewatch.enriched`` and its mentions."""

    item: EnrichedArticle
    mentions: list[Mention]


def analysed_text(article: Article) -> str:
    """The text entities are found in: the article's text, or its title when it has none (a title-only feed item).

    Entity offsets point into this text, so for a title-only article they point into the title.
    """
    return article.text or article.title


def enrich_articles(
    nlp: Any,
    articles: list[Article],
    watchlist: Watchlist | None,
    batch_size: int = 16,
    max_bytes: int | None = None,
    registry: Registry | None = None,
) -> list[Enriched]:
    """Entities of every article through one ``nlp.pipe`` pass (the code path ``wirewatch extract`` shares).

    With ``max_bytes`` (the agent's message limit for the enriched value) each record is bounded to it and
    encoded; its mentions then cover only the entities it kept. With a ``registry`` the entities are resolved
    against it (at the article's published time, else its fetch time) before events and mentions are built.
    """
    texts = [analysed_text(article) for article in articles]
    resolutions: list[Resolution | None] | None = None
    if registry is not None:
        registry.absorb()  # the records the topic's follower queued since the last batch, on this (the NLP) thread
        resolutions = [Resolution(registry, article.published or article.fetched) for article in articles]
    extractions = extract_texts(nlp, texts, watchlist, batch_size, [article.id for article in articles], resolutions)
    now = utcnow()
    model = str(nlp.meta.get("wirewatch_name") or nlp.meta.get("name", "spacy"))
    out = []
    for article, extraction in zip(articles, extractions, strict=True):
        events = [event.model_copy(update={"seen": article.fetched}) for event in extraction.events]
        item = EnrichedArticle(article=article, entities=extraction.entities, events=events, model=model, enriched=now)
        if max_bytes is not None:
            item, _ = fit_enriched(item, max_bytes)
        out.append(Enriched(item, mentions_of(item, extraction)))
    return out


def sentence_window(sentence: tuple[int, int], start: int, end: int, max_chars: int = SENTENCE_MAX_CHARS) -> tuple[int, int]:
    """The part of ``sentence`` (character offsets) at most ``max_chars`` long that holds ``start``-``end``, centred on it."""
    s_start, s_end = sentence
    if s_end - s_start <= max_chars:
        return sentence
    margin = max(0, (max_chars - (end - start)) // 2)
    w_start = max(s_start, min(start - margin, s_end - max_chars))
    return w_start, min(s_end, w_start + max_chars)


def mentions_of(item: EnrichedArticle, extraction: Extraction) -> list[Mention]:
    """One Mention per canonical entity of an enriched article, with its first sentence."""
    article = item.article
    text = analysed_text(article)
    story_sketch = sketch(article.title, article.text)  # a near-duplicate sketch consumers may use (not the story stage)
    mentions = []
    for entity in item.entities:
        if not entity.mentions:
            continue
        first = entity.mentions[0]
        s_start, s_end = sentence_window(extraction.sentences.get(entity.id, (first.start, first.end)), first.start, first.end)
        mentions.append(
            Mention(
                id=ids.mention_id(entity.id, article.id),
                entity_id=entity.id,
                name=entity.name,
                type=entity.type,
                watch_ids=entity.watch_ids,
                article_id=article.id,
                revision=article.revision,
                feed_id=article.feed_id,
                url=article.url,
                title=article.title,
                sentence=text[s_start:s_end].strip(),
                sentence_start=s_start + (len(text[s_start:s_end]) - len(text[s_start:s_end].lstrip())),
                start=first.start,
                end=first.end,
                published=article.published,
                fetched=article.fetched,
                canonical_url=article.canonical_url,
                content_hash=article.content_hash,
                sketch=story_sketch,
                co_entity_ids=[other.id for other in item.entities if other.id != entity.id][:100],
                aliases=entity.aliases[:20],
                wikidata=entity.wikidata,
                geonames=entity.geonames,
            )
        )
    return mentions
