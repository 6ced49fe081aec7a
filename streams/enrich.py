"""The enrich step as one pure function: articles in, enriched articles (entities, events) and mentions out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import Article, EnrichedArticle, Mention
from streams import ids
from streams.nlp import Extraction, extract_texts
from streams.rules import utcnow
from streams.stories import sketch
from streams.watch import Watchlist


@dataclass(frozen=True)
class Enriched:
    """One article's enrichment: the record for ``wirewatch.enriched`` and its mentions."""

    item: EnrichedArticle
    mentions: list[Mention]


def enrich_articles(nlp: Any, articles: list[Article], watchlist: Watchlist | None, batch_size: int = 16) -> list[Enriched]:
    """Entities of every article through one ``nlp.pipe`` pass (the code path ``wirewatch extract`` shares)."""
    texts = [article.text for article in articles]
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
    story_sketch = sketch(article.title, article.text)  # story grouping of the alert agent (streams/stories.py)
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
                sentence=article.text[s_start:s_end].strip(),
                sentence_start=s_start + (len(article.text[s_start:s_end]) - len(article.text[s_start:s_end].lstrip())),
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
