"""Full-text fetch: an article's page through the guarded fetcher, its main text extracted with trafilatura."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from schemas import Article, FeedSource
from streams.config import Settings
from streams.errors import FetchError, FulltextError
from streams.poll.fetch import Fetcher
from streams.poll.parserpool import ParserPool

log = logging.getLogger(__name__)

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def wanted(article: Article, source: FeedSource, settings: Settings) -> bool:
    """True when the article's page should be fetched: the feed asks for full text, or (when the
    setting is on) the feed's text is only a short summary; never for an article without its own link."""
    if article.url == source.url or not article.url.lower().startswith(("http://", "https://")):
        return False
    return source.fulltext or len(article.text) < settings.fulltext_summary_chars


async def add_fulltext(
    articles: list[Article], source: FeedSource, fetcher: Fetcher, parser: ParserPool, settings: Settings
) -> tuple[list[Article], Counter[str]]:
    """The articles with their page's text where it is wanted and longer than the feed's, and outcome counts.

    A page that fails never loses its article: it keeps the feed's text and one log line says why.
    The feed's content hash is kept, so the article's revisions still follow the feed item.
    """
    outcomes: Counter[str] = Counter()

    async def one(article: Article) -> Article:
        try:
            # the same guarded client as the feed: address guard on every hop, body cap, deadline,
            # redirect limit, and the per-host limit shared with the feed requests
            result = await fetcher.get(article.url, accept=PAGE_ACCEPT)
            text = await parser.extract(result.body, result.content_type, result.url, article.title)
        except FetchError as exc:
            return _kept(article, source, outcomes, f"fetch_{exc.kind}", str(exc))
        except FulltextError as exc:
            return _kept(article, source, outcomes, exc.outcome, str(exc))
        except Exception as exc:  # noqa: BLE001 - a crashed extraction must not lose the article
            return _kept(article, source, outcomes, "error", f"{type(exc).__name__}: {exc}")
        if len(text) <= len(article.text):
            # a paywall teaser or a cookie wall: the feed said more than the page
            cause = f"page text ({len(text)} chars) not longer than the feed's ({len(article.text)})"
            return _kept(article, source, outcomes, "shorter", cause)
        outcomes["ok"] += 1
        return article.model_copy(update={"text": text})

    chosen = [index for index, article in enumerate(articles) if wanted(article, source, settings)]
    if not chosen:
        return articles, outcomes  # the common case: no task per article
    result = list(articles)
    for index, article in zip(chosen, await asyncio.gather(*(one(articles[index]) for index in chosen)), strict=True):
        result[index] = article
    return result, outcomes


def _kept(article: Article, source: FeedSource, outcomes: Counter[str], outcome: str, cause: str) -> Article:
    outcomes[outcome] += 1
    log.warning(
        "feed %s (%s): full text of %s not used (%s: %s); published with the feed's text",
        source.id,
        source.url,
        article.url,
        outcome,
        cause,
        extra={"feed_id": source.id, "fulltext_outcome": outcome},
    )
    return article
