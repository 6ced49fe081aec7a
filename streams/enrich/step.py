"""The enrich step as pure functions: articles through one ``nlp.pipe`` pass to canonical entities, events and mentions.

The enrich agent and ``wirewatch extract`` share this code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import Article, EnrichedArticle, Entity, Event, Mention
from streams import ids
from streams.clock import utcnow
from streams.enrich.entities import canonical_entities
from streams.enrich.events import extract_events
from streams.enrich.fingerprint import sketch
from streams.enrich.gazetteer import Watchlist
from streams.enrich.parsed import ParsedDoc, sentence_at, sentence_bounds


@dataclass(frozen=True)
class Extraction:
    """What extraction found in one text: canonical entities (with each one's first sentence) and key events."""

    entities: list[Entity]
    sentences: dict[str, tuple[int, int]]
    events: list[Event]


def extract_doc(doc: Any, watchlist: Watchlist | None = None, article_id: str = "") -> Extraction:
    """Canonical entities and PLOVER events of one parsed spaCy doc."""
    parse = ParsedDoc(doc)  # the parse read once: token and span attributes are costly to read from spaCy
    text = parse.text
    entities = canonical_entities(text, [(start, end, label) for _, _, start, end, label in parse.ents], watchlist)
    bounds = sentence_bounds(parse)
    sentences = {e.id: sentence_at(bounds, e.mentions[0].start, len(text)) for e in entities if e.mentions}
    return Extraction(entities, sentences, extract_events(parse, entities, article_id))


def extract_texts(
    nlp: Any, texts: list[str], watchlist: Watchlist | None = None, batch_size: int = 16, article_ids: list[str] | None = None
) -> list[Extraction]:
    """Extraction for a batch of texts through ``nlp.pipe`` (the one code path of agent and CLI)."""
    names = article_ids if article_ids is not None else [""] * len(texts)
    docs = nlp.pipe(texts, batch_size=batch_size)
    return [extract_doc(doc, watchlist, name) for doc, name in zip(docs, names, strict=True)]


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


def enrich_articles(nlp: Any, articles: list[Article], watchlist: Watchlist | None, batch_size: int = 16) -> list[Enriched]:
    """Entities of every article through one ``nlp.pipe`` pass (the code path ``wirewatch extract`` shares)."""
    texts = [analysed_text(article) for article in articles]
    extractions = extract_texts(nlp, texts, watchlist, batch_size, [article.id for article in articles])
    now = utcnow()
    model = str(nlp.meta.get("wirewatch_name") or nlp.meta.get("name", "spacy"))
    out = []
    for article, extraction in zip(articles, extractions, strict=True):
        item = EnrichedArticle(article=article, entities=extraction.entities, events=extraction.events, model=model, enriched=now)
        out.append(Enriched(item, mentions_of(item, extraction)))
    return out


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
        s_start, s_end = extraction.sentences.get(entity.id, (first.start, first.end))
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
            )
        )
    return mentions
