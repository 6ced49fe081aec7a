"""Which sense of a place name a mention has: in a sports report, a country or city that plays is its team.

"England beat Pakistan by nine wickets" names two teams; "Mark Taylor (Australia)" and "in London" name places.
A text is a sports report when the words of ``lexicons/sports.yaml`` make up a share of its words; then a place
mention with a playing word right before it ("beat", "against") or after it ("won", "captain") is the place's team:
an ORG entity of its own id, so an alert on a country does not fire on its cricket team.
"""

from __future__ import annotations

import functools
import re

import yaml

from schemas import Entity, MentionSpan
from streams import ids
from streams.enrich.names import LEXICONS

_WORDS = re.compile(r"[a-z][a-z.-]*")


@functools.cache
def _lexicon() -> tuple[frozenset[str], float, int, frozenset[str], frozenset[str]]:
    data = yaml.safe_load((LEXICONS / "sports.yaml").read_text("utf-8"))
    return (frozenset(map(str, data["words"])), float(data["min_share"]), int(data["min_hits"]),
            frozenset(map(str, data["before"])), frozenset(map(str, data["after"])))  # fmt: skip


def sports_text(text: str) -> bool:
    """Whether ``text`` reads as a sports report (see ``lexicons/sports.yaml``)."""
    words = _WORDS.findall(text.lower())
    if not words:
        return False
    vocabulary, share, hits, _, _ = _lexicon()
    found = sum(word in vocabulary for word in words)
    return found >= hits and found >= share * len(words)


def team_id(place_id: str) -> str:
    """The entity id of the team that plays under a place's name."""
    return ids.stable_id("entity", "team", place_id)


def _plays(text: str, mention: MentionSpan) -> bool:
    _, _, _, before_words, after_words = _lexicon()
    before = text[max(0, mention.start - 15) : mention.start].lower().split()
    after = text[mention.end : mention.end + 15].lower().split()
    if before and before[-1] in before_words or after and after[0].strip(",.'s") in after_words:
        return True
    # a score or a table: "Chicago 5 Detroit 3", "Essex 372 and"; a year or a date after a place is a dateline
    return bool(after and after[0].isdigit() and len(after[0]) <= 3)


def split_teams(text: str, entity: Entity) -> list[Entity]:
    """A resolved place entity of a sports text as the place and its team, each with the mentions of its sense."""
    teams = [m for m in entity.mentions if _plays(text, m)]
    if not teams:
        return [entity]
    places = [m for m in entity.mentions if not _plays(text, m)]
    team = entity.model_copy(update={"id": team_id(entity.id), "type": "ORG", "mentions": teams, "wikidata": None,
                                     "geonames": None, "lat": None, "lon": None})  # fmt: skip
    return [entity.model_copy(update={"mentions": places}), team] if places else [team]
