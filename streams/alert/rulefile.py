"""Watch rules as people write them: ``watch add`` options and watchlist YAML files to WatchRule records, and back to words."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from schemas import WatchedEntity, WatchRule
from streams import ids
from streams.errors import RuleError


def rule_id(entity: WatchedEntity, kind: str, *more: str) -> str:
    """The id of a rule: derived from what it watches, so adding it twice is one rule."""
    return ids.stable_id("rule", kind, " ".join(entity.name.casefold().split()), entity.type or "", *more)


#: rule options a watchlist entry or ``wirewatch watch add`` may set besides the entity (WatchRule fields)
RULE_OPTIONS = (
    "lookback_days", "destinations", "enabled", "min_confidence", "min_sources", "spike_window_minutes", "spike_baseline_hours",
    "spike_sensitivity", "spike_min_mentions", "cooldown_minutes", "event_types", "event_modes", "event_actor", "event_location",
    "magnitude_kind", "magnitude_min", "digest",
)  # fmt: skip


def load_rules_yaml(data: str) -> list[WatchRule]:
    """Rules from a watchlist YAML file: a list under ``watch:`` of {name, aliases, type, wikidata, kind, options...}.

    ``other`` (co_mention) is a name or a mapping like the entry's own; ``magnitude: killed>=10`` is short for
    ``magnitude_kind``/``magnitude_min``; every other key of :data:`RULE_OPTIONS` is passed through.
    """
    doc = yaml.safe_load(data) or {}
    entries = doc.get("watch", []) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise RuleError("a watchlist file holds a list of entries under 'watch:'")
    rules = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not entry.get("name"):
            raise RuleError(f"watchlist entry {number}: needs at least a 'name'")
        unknown = set(entry) - {"name", "aliases", "type", "wikidata", "kind", "other", "magnitude", *RULE_OPTIONS}
        if unknown:
            raise RuleError(f"watchlist entry {number} ({entry['name']}): unknown key(s) {', '.join(sorted(unknown))}")
        options = {key: entry[key] for key in RULE_OPTIONS if key in entry}
        if "magnitude" in entry:
            options.update(parse_magnitude(str(entry["magnitude"])))
        other = entry.get("other")
        if isinstance(other, str):
            other = {"name": other}
        try:
            rules.append(
                make_rule(
                    str(entry["name"]),
                    [str(a) for a in entry.get("aliases", [])],
                    entry.get("type"),
                    entry.get("wikidata"),
                    entry.get("kind", "new_mention"),
                    other=other,
                    **options,
                )
            )
        except ValueError as exc:
            raise RuleError(f"watchlist entry {number} ({entry['name']}): {exc}") from exc
    return rules


def parse_magnitude(text: str) -> dict[str, Any]:
    """``killed>=10`` → ``{"magnitude_kind": "killed", "magnitude_min": 10}``; a bare number means any kind."""
    kind, sep, value = text.replace(" ", "").replace(",", "").replace("≥", ">=").partition(">=")
    if not sep:
        kind, value = "", kind
    if not value.isdigit():
        raise RuleError(f"magnitude {text!r}: expected KIND>=NUMBER, e.g. killed>=10 or displaced>=1000")
    return {"magnitude_kind": kind or None, "magnitude_min": int(value)}


def make_rule(
    name: str,
    aliases: list[str],
    entity_type: str | None = None,
    wikidata: str | None = None,
    kind: str = "new_mention",
    other: dict[str, Any] | None = None,
    **options: Any,
) -> WatchRule:
    """A rule watching ``name`` (and its aliases) with a derived id; ``options`` are further WatchRule fields.

    For an event rule the name is the rule's label; for a co_mention rule ``other`` is the second entity.
    """
    entity = WatchedEntity(name=" ".join(name.split()), aliases=aliases, type=entity_type, wikidata=wikidata)
    if kind == "co_mention" and not other:
        raise RuleError("a co_mention rule needs the other entity ('other', --with)")
    if kind in ("spike", "event", "breaking") and (options.get("min_sources") or 1) > 1:
        # a spike counts new stories as they start (one source each); event copies are not grouped into stories;
        # a breaking rule counts the sources joining a story (spike_min_mentions)
        raise RuleError(f"min_sources applies to mention, new_mention and co_mention rules, not to {kind}")
    second = WatchedEntity.model_validate(other) if other else None
    extra = () if second is None else (" ".join(second.name.casefold().split()), second.type or "")
    try:
        return WatchRule.model_validate(
            {
                "id": rule_id(entity, kind, *extra),
                "kind": kind,
                "entity": entity.model_dump(),
                "other": second.model_dump() if second else None,
                **{key: value for key, value in options.items() if value is not None},
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RuleError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


def describe(rule: WatchRule) -> str:
    """A short human summary of a rule's kind-specific settings and gates (``watch list``)."""
    parts: list[str] = []
    if rule.kind == "new_mention" and rule.lookback_days:
        parts.append(f"look-back {rule.lookback_days} d")
    if rule.kind == "breaking":
        parts.append(
            f"{'any story' if rule.entity.name == '*' else 'stories naming it'}: ≥{rule.spike_min_mentions} new sources and "
            f"×{rule.spike_sensitivity:g} its pace in {rule.spike_window_minutes} min (cooldown {rule.cooldown_minutes} min)"
        )
    if rule.kind == "spike":
        parts.append(
            f"≥{rule.spike_min_mentions} and ×{rule.spike_sensitivity:g} baseline in {rule.spike_window_minutes} min "
            f"(baseline {rule.spike_baseline_hours} h, cooldown {rule.cooldown_minutes} min)"
        )
    if rule.kind == "co_mention" and rule.other:
        parts.append(f"with {rule.other.name}")
    if rule.kind == "event":
        if rule.event_types:
            parts.append("/".join(rule.event_types))
        if rule.event_modes:
            parts.append("mode " + "/".join(rule.event_modes))
        if rule.event_actor:
            parts.append(f"by {rule.event_actor}")
        if rule.event_location:
            parts.append(f"in {rule.event_location}")
        if rule.magnitude_min is not None:
            parts.append(f"≥{rule.magnitude_min:,} {rule.magnitude_kind or ''}".rstrip())
    if rule.min_confidence is not None:
        parts.append(f"confidence ≥{rule.min_confidence:g}")
    if rule.min_sources > 1:
        parts.append(f"≥{rule.min_sources} sources")
    if rule.destinations:
        parts.append("→ " + ", ".join(rule.destinations))
    if rule.digest:
        parts.append(f"{rule.digest} digest")
    return "; ".join(parts)
