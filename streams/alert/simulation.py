"""The workers' steps after enrichment in one process, without Kafka: stories, mention, query and breaking rules.

``wirewatch simulate`` runs it over a file of articles (clustering them itself); ``watch test``, ``watch add --try``
and the dashboard's preview run it over the sink's stored articles, in the stories the story stage gave them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from schemas import Alert, EnrichedArticle, Mention, WatchRule
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.queryindex import QueryIndex
from streams.alert.queryrules import QuerySeen, evaluate_query, query_messages, screen_article
from streams.alert.storymemory import StoryMemory, memory_budget
from streams.config import Settings
from streams.story.breaking import evaluate_breaking
from streams.story.decide import story_id_for
from streams.story.index import StoryIndex

M = TypeVar("M", bound=StoryMemory)

#: the workers' message limit unless told otherwise (WIREWATCH_MAX_MESSAGE_BYTES): a name's memory is cut to half of it
DEFAULT_MESSAGE_BYTES: int = Settings.model_fields["max_message_bytes"].default


class Stepped(NamedTuple):
    """What one article did in a simulation."""

    story_id: str
    alerts: list[Alert]
    #: the stories opened in the same burst the article would have joined too: a rule that alerted on one of them counts
    #: the article's story as that one (streams/story/decide.py, LINK_SECONDS)
    linked: tuple[str, ...] = ()


@dataclass
class Simulation:
    """The workers' steps after enrichment, in one process: stories (StoryIndex), mention rules, breaking rules.

    A name's and a query rule's memory of stories is cut to half of ``message_bytes`` as the workers' table writes cut
    it (agents/common.py, ``bounded``), so a name in very many stories alerts here as it would there."""

    rules: list[WatchRule]
    lookback_days: int = 30
    index: StoryIndex = field(default_factory=StoryIndex)
    message_bytes: int = DEFAULT_MESSAGE_BYTES
    #: stories the names' and query rules' memories forgot to stay within half a message (the workers log each)
    forgotten: int = 0
    seen: dict[str, EntitySeen] = field(default_factory=dict)
    query_seen: dict[str, QuerySeen] = field(default_factory=dict)
    queries: QueryIndex = field(init=False)

    def __post_init__(self) -> None:
        self.queries = QueryIndex(self.rules)

    def step(self, item: EnrichedArticle, mentions: list[Mention]) -> Stepped:
        """One enriched article: its story id, the alerts it raises (``detected`` is the article's fetch time), and the
        stories it linked."""
        result = self.index.add(item, mentions)
        by_id = {rule.id: rule for rule in self.rules}
        hits, screened, outside = screen_article(result.outcome.item, result.outcome.mentions, self.queries)
        alerts = self.mention_alerts(item, screened)
        now = item.article.fetched
        breaking = [rule for rule in self.rules if rule.kind == "breaking" and rule.enabled]
        if breaking and result.state is not None and result.story is not None and result.outcome.update.article is not None:
            fired, raised = evaluate_breaking(result.state, breaking, result.outcome.update.article, now, self.lookback_days, outside)
            self.index.stories[result.state.id] = result.state.model_copy(update={"fired": fired})
            alerts += raised
        update = result.outcome.update
        for rule_id, match in query_messages(update, hits):  # counted per rule, as the workers count them (agents/story.py)
            assert match.article is not None  # noqa: S101 - query_messages sends only articles
            seen, raised = evaluate_query(self.query_seen.get(rule_id), match.query_hits[0], by_id.get(rule_id), match.article,
                                          update.story_id, update.linked_story_ids, now, self.lookback_days)  # fmt: skip
            self.query_seen[rule_id] = self.within_budget(rule_id, seen)
            alerts += raised
        return Stepped(result.outcome.item.story_id or "", alerts, tuple(update.linked_story_ids))

    def step_in_story(self, item: EnrichedArticle, mentions: list[Mention], story_id: str | None) -> tuple[str, list[Alert]]:
        """One enriched article already assigned to ``story_id`` (by the workers' story stage, as the sink stored it):
        its mention rules' alerts. An article stored without a story is a story of its own, as the alert agent takes it."""
        story = story_id or story_id_for(item.article.id)
        placed = [mention.model_copy(update={"story_id": story}) for mention in mentions]
        return story, self.mention_alerts(item, placed)

    def mention_alerts(self, item: EnrichedArticle, mentions: list[Mention]) -> list[Alert]:
        """The alerts of the mention rules watching each mention, the entity's history kept as the alert agent keeps it."""
        alerts: list[Alert] = []
        by_id = {rule.id: rule for rule in self.rules}
        for mention in mentions:
            rules = [by_id[rid] for rid in mention.watch_ids if rid in by_id and rid not in mention.out_of_scope]
            if rules:
                state, raised = evaluate_mention(mention, self.seen.get(mention.entity_id), rules, item.article.fetched, self.lookback_days)
                self.seen[mention.entity_id] = self.within_budget(mention.entity_id, state)
                alerts += raised
        return alerts

    def within_budget(self, key: str, memory: M) -> M:
        """``memory`` cut to half a message, as the workers write it to their tables; what it forgot counted."""
        kept, dropped, _ = memory.within(memory_budget(self.message_bytes, key))
        self.forgotten += dropped
        return kept
