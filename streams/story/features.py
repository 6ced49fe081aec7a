"""An article's story features: the words of its title, lead and URL (stemmed, stop words out) and its entities.

The candidate keys an article probes are the same strings: ``w:<stem>`` for a word, ``e:<entity id>`` for an entity.
Only the title, the first :data:`LEAD_WORDS` words of the summary (else of the text) and the URL's path are read,
so a 1 MB text costs no more than a short one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import Stemmer
from spacy.util import get_lang_class

from schemas import EnrichedArticle
from streams.clock import dated_ahead
from streams.enrich.fingerprint import source_of

#: words of the summary (else the text) that count as the lead: a feed's summary is about this long
LEAD_WORDS = 40
#: keys an article probes at most (entities first, then title, URL and lead words): each is one message each way
MAX_KEYS = 16
#: characters of text read for the lead: enough for LEAD_WORDS words of any language, and a 1 MB text costs nothing more
LEAD_CHARS = 600
#: weight of a lead or URL word against a title word: a headline names the story; the lead and the URL's slug echo it
SECONDARY_WEIGHT = 0.5

_WORD = re.compile(r"\w+", re.UNICODE)
_URL_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_HASHTAG = re.compile(r"#(\w+)", re.UNICODE)
#: where a camel-case tag's next word starts: a capital after a small letter ("BanBossy", "BringBackOurGirls")
_CAMEL_BREAK = re.compile(r"(?<=[a-z])(?=[A-Z])")
#: path segments of news URLs that say nothing about the story
_URL_NOISE = frozenset({"html", "htm", "php", "asp", "aspx", "shtml", "story", "stories", "news", "article", "articles", "index",
                        "www", "com", "amp", "rss", "feed", "section", "content", "view", "post", "posts", "blog", "item"})  # fmt: skip

#: ISO 639-1 codes of the languages Snowball stems (PyStemmer's algorithm names)
_STEMMERS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish", "nl": "dutch",
    "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french", "de": "german", "el": "greek",
    "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


@dataclass(frozen=True)
class StoryFeatures:
    """What the story stage knows of one article: its weighted keys, time, source and language."""

    article_id: str
    #: key → term frequency weight (1 for a title word or entity, SECONDARY_WEIGHT for a lead or URL word)
    terms: dict[str, float]
    #: the keys probed, at most MAX_KEYS, in a fixed order (entities, then title, URL and lead words)
    keys: tuple[str, ...]
    #: the article's time in unix seconds: published, unless in the future (then fetched)
    time: float
    source: str
    language: str
    #: the date as published was in the future (then the fetch time is used): logged as suspect
    suspect_date: bool = False
    #: probed keys that only the body gave (lead words, entities the title does not name): a rich article must match more
    lead_keys: int = 0
    #: the article has a lead (summary or text): it is judged as before the age factor (see streams/story/decide.py)
    lead: bool = False


def language_of(code: str | None) -> str:
    """The two-letter language of an article (``en`` when the feed does not say)."""
    return (code or "en").split("-")[0].split("_")[0].strip().lower()[:2] or "en"


@functools.lru_cache(maxsize=64)
def _stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words of ``language`` (its language data needs no model); none for a language spaCy lacks."""
    try:
        return frozenset(get_lang_class(language).Defaults.stop_words)
    except Exception:  # noqa: BLE001 - spaCy raises ImportError or its own error for a language it does not have
        return frozenset()


@functools.lru_cache(maxsize=64)
def _stemmer(language: str) -> Stemmer.Stemmer | None:
    name = _STEMMERS.get(language)
    return Stemmer.Stemmer(name) if name else None


def hashtag_words(text: str) -> str:
    """``text`` with each camel-case hashtag as its words: "#BanBossy" is "Ban Bossy", as the outlets that write it out
    say it. A tag that starts small ("#iPhone6", a product) or has no capital inside ("#asksnowden": nothing marks
    where its words end) stays one word."""
    if "#" not in text:
        return text  # most titles and leads: no pattern run on the stage's hottest text path
    return _HASHTAG.sub(_tag_words, text)


def _tag_words(match: re.Match[str]) -> str:
    tag = match.group(1)
    return _CAMEL_BREAK.sub(" ", tag) if tag[0].isupper() else tag


def words(text: str, language: str) -> list[str]:
    """The stemmed content words of ``text``: hashtags split, lower-cased, stop words, numbers and single letters out."""
    stop = _stop_words(language)
    kept = [w for w in _WORD.findall(hashtag_words(text).casefold()) if len(w) > 1 and not w.isdigit() and w not in stop]
    stemmer = _stemmer(language)
    return stemmer.stemWords(kept) if stemmer else kept


def url_words(url: str, language: str) -> list[str]:
    """The stemmed words of a URL's path (a news URL's slug often carries the headline as first written)."""
    path = urlsplit(url).path.casefold()
    stop = _stop_words(language)
    kept = [w for w in _URL_WORD.findall(path) if len(w) > 2 and w not in _URL_NOISE and w not in stop]
    stemmer = _stemmer(language)
    return stemmer.stemWords(kept) if stemmer else kept


def story_time(published: datetime | None, fetched: datetime) -> tuple[float, bool]:
    """The article's time for clustering and whether its published date is suspect (in the future: then its fetch time)."""
    if published is None:
        return fetched.timestamp(), False
    if dated_ahead(published, fetched):
        return fetched.timestamp(), True
    return published.timestamp(), False


def features_of(item: EnrichedArticle) -> StoryFeatures:
    """The story features of an enriched article (pure: the same article always gives the same features)."""
    article = item.article
    language = language_of(article.language)
    terms: dict[str, float] = {}
    ordered: list[str] = []

    def add(key: str, weight: float) -> None:
        if key not in terms:
            ordered.append(key)
        terms[key] = max(terms.get(key, 0.0), weight)

    for entity in item.entities:
        add(f"e:{entity.id}", 1.0)
    title = article.title.casefold()
    # entities the headline names are headline keys; the others come from the body, like lead words
    body_entities = {f"e:{e.id}" for e in item.entities if e.name.casefold() not in title}
    for word in words(article.title, language):
        add(f"w:{word}", 1.0)
    lead = " ".join((article.summary or article.text)[:LEAD_CHARS].split()[:LEAD_WORDS])
    for word in url_words(article.url, language):
        add(f"w:{word}", SECONDARY_WEIGHT)
    headline_keys = set(ordered) - body_entities
    lead_words = words(lead, language)
    for word in lead_words:
        add(f"w:{word}", SECONDARY_WEIGHT)
    when, suspect = story_time(article.published, article.fetched)
    keys = tuple(ordered[:MAX_KEYS])
    return StoryFeatures(
        article_id=article.id,
        terms=terms,
        keys=keys,
        time=when,
        source=source_of(article.url) or article.feed_id,
        language=language,
        suspect_date=suspect,
        lead_keys=sum(1 for key in keys if key not in headline_keys),
        lead=bool(lead_words),
    )
