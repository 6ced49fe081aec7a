"""Watch rules as people write them: ``watch add`` options and watchlist YAML files to WatchRule records, and back to words."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas import WatchedEntity, WatchRule
from streams import ids
from streams.alert.query import words_of
from streams.alert.queryindex import rule_node
from streams.errors import RuleError
from streams.text import load_yaml, mask_destination


def rule_id(entity: WatchedEntity, kind: str, *more: str) -> str:
    """The id of a rule: derived from what it watches, so adding it twice is one rule."""
    return ids.stable_id("rule", kind, " ".join(entity.name.casefold().split()), entity.type or "", *more)


#: rule options a watchlist entry or ``wirewatch watch add`` may set besides the entity (WatchRule fields)
RULE_OPTIONS = (
    "lookback_days", "destinations", "enabled", "min_confidence", "min_sources", "spike_window_minutes", "spike_baseline_hours",
    "spike_sensitivity", "spike_min_mentions", "cooldown_minutes", "event_types", "event_modes", "event_actor", "event_location",
    "magnitude_kind", "magnitude_min", "digest", "query", "feeds", "sources", "languages", "exclude",
)  # fmt: skip
#: rule kinds (WatchRule.kind)
KINDS = ("new_mention", "mention", "spike", "event", "co_mention", "breaking", "query")
#: scopes and exclusions per rule, at most this many values each
MAX_SCOPE_VALUES = 100


def load_rules_yaml(data: str) -> list[WatchRule]:
    """Rules from a watchlist YAML file: a list under ``watch:`` of {name, aliases, type, wikidata, kind, options...}.

    ``other`` (co_mention) is a name or a mapping like the entry's own; ``magnitude: killed>=10`` is short for
    ``magnitude_kind``/``magnitude_min``; every other key of :data:`RULE_OPTIONS` is passed through.
    """
    doc = load_yaml(data, "watchlist") or {}
    if isinstance(doc, dict) and (extra := sorted(str(key) for key in doc if key != "watch")):
        # a misspelt or guessed section ("rules:", "watchlist:") would otherwise load as an empty watchlist
        raise RuleError(f"unknown top-level key(s) {', '.join(extra)}: a watchlist file holds its entries under 'watch:'")
    entries = doc.get("watch", []) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise RuleError("a watchlist file holds a list of entries under 'watch:'")
    rules = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            entry = {"name": entry}
        if isinstance(entry, dict) and entry.get("query") and not entry.get("name"):
            entry = {**entry, "name": query_label(str(entry["query"])), "kind": entry.get("kind", "query")}
        if isinstance(entry, dict) and entry.get("query") and "kind" not in entry:
            entry = {**entry, "kind": "query"}
        if not isinstance(entry, dict) or not entry.get("name") or not isinstance(entry["name"], str | int | float):
            raise RuleError(f"watchlist entry {number}: needs at least a 'name'")
        aliases = entry.get("aliases") or []
        aliases = [aliases] if isinstance(aliases, str) else aliases
        if not isinstance(aliases, list) or not all(isinstance(alias, str | int | float) for alias in aliases):
            raise RuleError(f"watchlist entry {number} ({entry['name']}): aliases must be a name or a list of names")
        for key in ("type", "wikidata", "kind"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise RuleError(f"watchlist entry {number} ({entry['name']}): {key} must be a text")
        unknown = set(entry) - {"name", "aliases", "type", "wikidata", "kind", "other", "magnitude", *RULE_OPTIONS}
        if unknown:
            raise RuleError(f"watchlist entry {number} ({entry['name']}): unknown key(s) {', '.join(sorted(unknown))}")
        options = {key: entry[key] for key in RULE_OPTIONS if key in entry}
        for key in ("feeds", "sources", "languages", "exclude"):
            if isinstance(options.get(key), str):
                options[key] = [options[key]]
        if "magnitude" in entry:
            options.update(parse_magnitude(str(entry["magnitude"])))
        other = entry.get("other")
        if isinstance(other, str):
            other = {"name": other}
        if other is not None and not isinstance(other, dict):
            raise RuleError(f"watchlist entry {number} ({entry['name']}): other must be a name or a mapping like an entry")
        try:
            rules.append(
                make_rule(
                    str(entry["name"]),
                    [str(a) for a in aliases],
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
    if not value.isascii() or not value.isdigit():
        raise RuleError(f"magnitude {text!r}: expected KIND>=NUMBER, e.g. killed>=10 or displaced>=1000")
    if len(value) > 13:  # more than 10^12 (of the world's people, say) before even converting it
        raise RuleError(f"magnitude {text!r}: at most {RULE_LIMITS['magnitude_min']:,}")
    return {"magnitude_kind": kind or None, "magnitude_min": int(value)}


#: the largest value each numeric rule option may take: beyond these a rule is a typo, and a huge number would reach
#: the workers' date arithmetic (a look-back of 10^30 days overflows) or the topic's encoder (64-bit integers at most)
RULE_LIMITS: dict[str, float] = {
    "lookback_days": 3660,
    "min_sources": 10_000,
    "spike_window_minutes": 7 * 24 * 60,
    "spike_baseline_hours": 366 * 24,
    "spike_sensitivity": 10_000,
    "spike_min_mentions": 1_000_000,
    "cooldown_minutes": 366 * 24 * 60,
    "magnitude_min": 10**12,
}


def query_label(query: str, size: int = 80) -> str:
    """A query rule's default name: its query on one line, cut to ``size`` characters."""
    line = " ".join(query.split())
    return line if len(line) <= size else line[: size - 1] + "…"


def check_rule_limits(rule: WatchRule) -> None:
    """Refuse a rule whose options lie beyond :data:`RULE_LIMITS`, or whose query does not parse (the worker checks
    rules from the topic too)."""
    for name in ("feeds", "sources", "languages", "exclude"):
        values = getattr(rule, name)
        if len(values) > MAX_SCOPE_VALUES:
            raise RuleError(f"{name}: at most {MAX_SCOPE_VALUES} values, not {len(values)}")
        if any(not str(value).strip() for value in values):
            raise RuleError(f"{name}: an empty value")
    if rule.kind == "query" or rule.query is not None:
        if rule.kind != "query":
            raise RuleError(f"a query belongs to a query rule (kind query), not to {rule.kind}")
        rule_node(rule)  # raises RuleError with the column
    wordless = [word for word in rule.exclude if not words_of(word)]
    if wordless:
        raise RuleError(f"exclude: {wordless[0]!r} has no letter or digit")
    for name, limit in RULE_LIMITS.items():
        value = getattr(rule, name)
        if value is not None and not value <= limit:  # `not <=` also refuses NaN
            raise RuleError(f"{name}: at most {limit:,g}, not {value!r}")
    if rule.lookback_days is not None and rule.lookback_days < 1:
        raise RuleError(f"lookback_days: at least 1, not {rule.lookback_days!r}")
    if rule.magnitude_min is not None and rule.magnitude_min < 0:
        raise RuleError(f"magnitude_min: at least 0, not {rule.magnitude_min!r}")


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
    if not isinstance(kind, str):
        raise RuleError(f"kind: expected one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "query" and not name.strip():
        name = query_label(str(options.get("query") or ""))
    if kind == "co_mention" and not other:
        raise RuleError("a co_mention rule needs the other entity ('other', --with)")
    try:
        entity = WatchedEntity(name=" ".join(name.split()), aliases=aliases, type=entity_type, wikidata=wikidata)
        second = WatchedEntity.model_validate(other) if other else None
        extra: tuple[str, ...] = () if second is None else (" ".join(second.name.casefold().split()), second.type or "")
        if kind == "query":  # the query (and the scopes) make the rule: the name only labels it
            query = options.get("query")
            extra = (" ".join(str(query or "").split()), *(" ".join(sorted(map(str, options.get(k) or []))) for k in
                     ("feeds", "sources", "languages", "exclude")))  # fmt: skip
        rule = WatchRule.model_validate(
            {
                "id": ids.stable_id("rule", kind, *extra) if kind == "query" else rule_id(entity, kind, *extra),
                "kind": kind,
                "entity": entity.model_dump(),
                "other": second.model_dump() if second else None,
                **{key: value for key, value in options.items() if value is not None},
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RuleError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
    if rule.kind in ("spike", "event", "breaking") and rule.min_sources > 1:
        # a spike counts new stories as they start (one source each); event copies are not grouped into stories;
        # a breaking rule counts the sources joining a story (spike_min_mentions)
        raise RuleError(f"min_sources applies to mention, new_mention, co_mention and query rules, not to {rule.kind}")
    check_rule_limits(rule)
    return rule


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
    if rule.kind == "query" and rule.query:
        parts.append(f"query {query_label(rule.query)}")
    for name, label in (("feeds", "feeds"), ("sources", "sources"), ("languages", "languages")):
        if getattr(rule, name):
            parts.append(f"{label} {', '.join(getattr(rule, name))}")
    if rule.exclude:
        parts.append(f"except {', '.join(rule.exclude)}")
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
        parts.append("→ " + ", ".join(mask_destination(spec) for spec in rule.destinations))
    if rule.digest:
        parts.append(f"{rule.digest} digest")
    return "; ".join(parts)
