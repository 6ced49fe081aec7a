"""The one decision rule: an article joins the candidate story it is most similar to, if similar enough, else opens one.

Similarity is the cosine between the article's key vector and the story's centroid (the sum of its articles' unit
vectors), times a freshness factor that halves every :data:`FRESHNESS_HALF_LIFE_HOURS` hours the story has been quiet
and, for a headline without a lead (an article with one is judged against :data:`LEAD_THRESHOLD`), an age factor
that halves every :data:`AGE_HALF_LIFE_HOURS` hours since the story's first article.
A key's weight is its term weight times an inverse *story* frequency, ``1 + ln((S + 1) / (s + 1))``, where ``s`` is the
number of recent stories carrying the key (its spread, from the key's own entries) and ``S`` the number of stories
opened in the window: a word every story uses ("says", "stocks") counts little, a word one story uses a hundred times
("Snowden") counts fully. How :data:`THRESHOLD` and the half-lives were chosen is in docs/benchmarks.md ("Stories").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas import StoryCandidate, StoryKeyAnswer
from streams import ids
from streams.story.features import StoryFeatures

#: the least freshness- and age-weighted cosine at which an article joins a story: the middle of the dev set's plateau
#: (0.05-0.07 with the age factor; docs/benchmarks.md)
THRESHOLD = 0.06
#: a story quiet for this long counts half as similar: a new development a day later is a new story, as in Google News
FRESHNESS_HALF_LIFE_HOURS = 6.0
#: a story this much older than the article counts half as similar, however many articles keep it active: without it
#: a story that a trickle of articles keeps fresh (a market report, a company's commentary) drifts and absorbs the next
#: day's stories and every commentary piece that shares a word with it, and a name's own story never alerts. The
#: Europe Media Monitor clusters per day for the same reason. Chosen on the dev set (docs/benchmarks.md), which has
#: headlines only: an article with a lead is not aged (its threshold already grows with the lead, see :func:`density`;
#: aged too, three outlets' versions of one story with summaries an hour apart split on a real broker, tests/e2e)
AGE_HALF_LIFE_HOURS = 2.0
#: the threshold of an article with a lead (not aged): the first pass's, with which :func:`density` was checked on the
#: BBC stream with summaries (lowered to THRESHOLD without the age factor, that stream's P fell from 0.93 to 0.89)
LEAD_THRESHOLD = 0.07
#: keys of a headline (stop words out): the threshold was tuned on headlines, up to this many keys it holds as it is
HEADLINE_KEYS = 8
#: how the threshold grows with a lead: quadratic, as the chance that two unrelated word sets share a word grows with
#: the product of their sizes (see :func:`density`)
DENSITY_EXPONENT = 2.0
#: added to ln((S + 1) / (s + 1)): a key every story carries still counts this much (the usual smoothed IDF)
ISF_ADD = 1.0
#: the least inverse story frequency a key gets (the window's story count is an estimate; a key may seem to span more)
ISF_FLOOR = 0.1
#: terms an article's vector keeps (the heaviest) when it is added to its story's centroid
VECTOR_TERMS = 24
#: two stories whose first articles are at most this far apart are *concurrent*: opened in the same burst, each by an
#: article that came before the words the two share did. An article that would join either (both above its threshold)
#: links the one it does not join to the one it joins (:attr:`Decision.linked`), and a name that alerted on one counts
#: the other as the same story (streams/alert/mentions.py). Stories opened further apart are not linked: a name is in
#: many stories of a day, and the age factor already tells a new development from an old one. Chosen on the dev set
#: (docs/benchmarks.md, "Stories": 1 to 30 minutes give the same figures there, an hour links different stories)
LINK_SECONDS = 5 * 60.0


def story_id_for(article_id: str) -> str:
    """The id of the story an article opens: derived from the article, so a replay gives the same id."""
    return ids.stable_id("story", article_id)


def key_weights(features: StoryFeatures, answers: dict[str, StoryKeyAnswer], stories_in_window: float) -> dict[str, float]:
    """The article's unit vector over its probed keys: term weight × inverse story frequency, normalised."""
    raw: dict[str, float] = {}
    for key in features.keys:
        spread = answers[key].spread if key in answers else 0
        raw[key] = features.terms[key] * max(ISF_FLOOR, ISF_ADD + math.log((stories_in_window + 1.0) / (spread + 1.0)))
    return unit(raw)


def unit(vector: dict[str, float]) -> dict[str, float]:
    """``vector`` scaled to length 1 (non-positive weights dropped)."""
    kept = {k: v for k, v in vector.items() if v > 0}
    norm = math.sqrt(sum(v * v for v in kept.values()))
    return {k: v / norm for k, v in kept.items()} if norm else {}


def pending_weights(features: StoryFeatures) -> dict[str, float]:
    """The article's unit vector before any key answered (term weights only): what its pending entries carry."""
    return unit({key: features.terms[key] for key in features.keys})


def density(keys: int, lead_keys: int) -> float:
    """How much the threshold grows for an article whose lead (summary or text) added ``lead_keys`` of its ``keys``.

    The threshold was tuned on headlines. A lead is more words to compare, each one more chance that an unrelated
    story of the same day shares one (measured: three BBC articles naming one politician within minutes merge at the
    headline threshold): ``(keys / max(HEADLINE_KEYS, headline keys)) ** DENSITY_EXPONENT``, 1 without a lead.
    """
    headline = keys - lead_keys
    return float(max(1.0, keys / max(HEADLINE_KEYS, headline)) ** DENSITY_EXPONENT)


def freshness(when: float, last: float, half_life_hours: float = FRESHNESS_HALF_LIFE_HOURS) -> float:
    """The factor for a story whose last article is ``|when - last|`` seconds away from this one."""
    return float(0.5 ** (abs(when - last) / 3600.0 / half_life_hours))


def age(when: float, first: float | None, half_life_hours: float = AGE_HALF_LIFE_HOURS) -> float:
    """The factor for a story whose first article is ``when - first`` seconds before this one (1 when not known).

    An article earlier than the story's first (out of order) is not penalised for it: freshness already weighs the gap.
    """
    if first is None:
        return 1.0
    return float(0.5 ** (max(0.0, when - first) / 3600.0 / half_life_hours))


@dataclass(frozen=True)
class Decision:
    """Where an article goes: the story (new or joined), the score that decided, the article's vector."""

    story_id: str
    opened: bool
    score: float
    vector: dict[str, float]
    #: the best candidate's story and score even when below the threshold (for logs and tuning)
    nearest: str | None = None
    #: other stories the article would have joined too, opened within LINK_SECONDS of the one it joined (sorted)
    linked: tuple[str, ...] = ()


def decide(
    features: StoryFeatures,
    answers: dict[str, StoryKeyAnswer],
    stories_in_window: float,
    threshold: float = THRESHOLD,
    half_life_hours: float = FRESHNESS_HALF_LIFE_HOURS,
    age_half_life_hours: float = AGE_HALF_LIFE_HOURS,
    link_seconds: float = LINK_SECONDS,
) -> Decision:
    """The story of an article from its keys' answers; deterministic: ties go to the smaller story id."""
    vector = key_weights(features, answers, stories_in_window)
    dots: dict[str, float] = {}
    freshest: dict[str, StoryCandidate] = {}
    own = story_id_for(features.article_id)
    for key, weight in vector.items():
        answer = answers.get(key)
        if answer is None:
            continue
        for candidate in answer.candidates:
            if candidate.story == own:
                continue  # the article's own pending story: a replay must not join itself
            dots[candidate.story] = dots.get(candidate.story, 0.0) + weight * candidate.weight
            known = freshest.get(candidate.story)
            if known is None or (candidate.size, candidate.last) > (known.size, known.last):
                freshest[candidate.story] = candidate
    best, best_score = None, 0.0
    scores: dict[str, float] = {}
    for story in sorted(dots):
        snap = freshest[story]
        score = dots[story] / max(snap.norm, 1e-9) * freshness(features.time, snap.last, half_life_hours)
        if not features.lead:  # headlines only: what the age factor was tuned on (see AGE_HALF_LIFE_HOURS)
            score *= age(features.time, snap.first, age_half_life_hours)
        scores[story] = score
        if score > best_score:
            best, best_score = story, score
    limit = (LEAD_THRESHOLD if features.lead else threshold) * density(len(features.keys), features.lead_keys)
    if best is not None and best_score >= limit:
        return Decision(best, False, best_score, trimmed(vector), best, concurrent(best, scores, freshest, limit, link_seconds))
    return Decision(own, True, best_score, trimmed(vector), best)


def concurrent(
    best: str, scores: dict[str, float], snapshots: dict[str, StoryCandidate], limit: float, link_seconds: float = LINK_SECONDS
) -> tuple[str, ...]:
    """The stories besides ``best`` the article would have joined (score at least ``limit``), opened within
    ``link_seconds`` of ``best``: the same burst split in two by arrival order. A story whose first time is not known is
    not linked (its age cannot be told)."""
    first = snapshots[best].first
    if first is None:
        return ()
    return tuple(
        story
        for story in sorted(scores)
        if story != best and scores[story] >= limit and snapshots[story].first is not None
        and abs(float(snapshots[story].first or 0.0) - first) <= link_seconds
    )  # fmt: skip


def trimmed(vector: dict[str, float]) -> dict[str, float]:
    """The heaviest VECTOR_TERMS terms of a vector (what a story's centroid adds)."""
    if len(vector) <= VECTOR_TERMS:
        return vector
    return dict(sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:VECTOR_TERMS])
