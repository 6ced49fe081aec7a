"""The gazetteer: watched names and aliases found in text with Aho-Corasick, linked to the rules that watch them."""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick

from schemas import WatchedEntity, WatchRule
from streams import ids


@dataclass(frozen=True)
class Hit:
    """A watched name found in text: offsets, the text found, and the rules watching it."""

    start: int
    end: int
    text: str
    rule_ids: tuple[str, ...]


def watched_entity_id(entity: WatchedEntity) -> str:
    """The entity id every mention of a watched name gets, whatever the model thought."""
    if entity.wikidata:
        return ids.stable_id("entity", "wikidata", entity.wikidata)
    return ids.entity_id(entity.name, entity.type or "PERSON")


class Watchlist:
    """The rules in force and an automaton over every watched name and alias."""

    def __init__(self, rules: list[WatchRule] | None = None) -> None:
        self.rules: dict[str, WatchRule] = {}
        self._automaton: ahocorasick.Automaton | None = None
        for rule in rules or []:
            self.rules[rule.id] = rule

    def put(self, rule: WatchRule) -> None:
        self.rules[rule.id] = rule
        self._automaton = None

    def remove(self, rule_id: str) -> None:
        if self.rules.pop(rule_id, None) is not None:
            self._automaton = None

    def event_rules(self) -> list[WatchRule]:
        return [rule for rule in self.rules.values() if rule.enabled and rule.kind == "event"]

    def breaking_rules(self) -> list[WatchRule]:
        return [rule for rule in self.rules.values() if rule.enabled and rule.kind == "breaking"]

    def _build(self) -> ahocorasick.Automaton:
        automaton = ahocorasick.Automaton()
        names: dict[str, set[str]] = {}
        for rule in self.rules.values():
            if not rule.enabled or rule.kind in ("event", "query"):
                continue  # an event or query rule's name is its label, not a name to find
            for name in (rule.entity.name, *rule.entity.aliases):
                if name.strip() and name.strip() != "*":  # "*": a breaking rule on any story, not a name to find
                    names.setdefault(name.strip(), set()).add(rule.id)
        for name, rule_ids in names.items():
            automaton.add_word(name, (len(name), tuple(sorted(rule_ids))))
        if names:
            automaton.make_automaton()
        return automaton

    def find(self, text: str) -> list[Hit]:
        """Whole-word occurrences of watched names, longest first where they overlap."""
        if not self.rules:
            return []
        if self._automaton is None:
            self._automaton = self._build()
        if self._automaton.kind != ahocorasick.AHOCORASICK:
            return []
        hits: list[Hit] = []
        for end_index, (length, rule_ids) in self._automaton.iter(text):
            start, end = end_index - length + 1, end_index + 1
            if _word_boundary(text, start, end):
                hits.append(Hit(start, end, text[start:end], rule_ids))
        hits.sort(key=lambda hit: (hit.start, -(hit.end - hit.start)))
        kept: list[Hit] = []
        for hit in hits:
            if not kept or hit.start >= kept[-1].end:
                kept.append(hit)
        return kept


def _word_boundary(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not before.isalnum() and not after.isalnum()
