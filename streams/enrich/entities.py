"""Canonical entities of one article: one per real-world name, short forms joined, the type voted over the article."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from schemas import Entity, MentionSpan
from streams import ids
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from streams.enrich.names import initials, mention_name, name_lexicon, particle_free, pieces, title_before

KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW", "LANGUAGE"})


#: an acronym defined in parentheses right after its expansion: "Islamic State (IS)"
_DEFINED_ACRONYM = re.compile(r"\s*\(([A-Z][A-Za-z]{0,2}[A-Z]{1,6})\)")


@dataclass
class _Group:
    name: str
    labels: Counter[str] = field(default_factory=Counter)
    aliases: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    spans: dict[tuple[int, int], str] = field(default_factory=dict)
    rule_ids: set[str] = field(default_factory=set)
    watched: Any = None
    #: titles before a mention and PERSON tags on a full (two-word or longer) name
    person_evidence: int = 0

    def absorb(self, other: _Group) -> None:
        self.labels.update(other.labels)
        self.aliases |= other.aliases | {other.name}
        self.forms |= other.forms
        self.spans.update(other.spans)
        self.person_evidence += other.person_evidence


def canonical_entities(text: str, spans: list[tuple[int, int, str]], watchlist: Watchlist | None = None) -> list[Entity]:
    """One entity per real-world name from model spans ``(start, end, label)`` and watchlist hits.

    Names are cleaned of titles and possessives; short forms, surnames and acronyms join their full
    form; the type is voted across the whole text (with titles and organisation words as evidence);
    every further occurrence of a known name becomes a mention too.
    """
    groups: dict[str, _Group] = {}
    taken = bytearray(len(text) + 1)
    for span_start, span_end, label in _merge_split_names(text, spans):
        taken[span_start:span_end] = b"\x01" * (span_end - span_start)  # any model span, kept or not, blocks a later guess
        if label not in KEPT_LABELS:
            continue
        for start, end in pieces(text[span_start:span_end], numbered=label == "LAW"):
            _add_mention(text, groups, span_start + start, span_start + end, label)
    _join_acronyms(text, groups)
    _join_short_forms(groups)
    types = {key: _decide_type(group) for key, group in groups.items()}
    _add_unlabelled_mentions(text, groups, types, taken)
    entities = _watched(text, groups, watchlist) if watchlist else []
    for key, group in groups.items():
        label = types[key]
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


def _merge_split_names(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Rejoin a name the model cut in two: "Islamic" (NORP) + "State" (ORG) is "Islamic State" (ORG)."""
    out: list[tuple[int, int, str]] = []
    for start, end, label in sorted(spans):
        if out:
            p_start, p_end, p_label = out[-1]
            if (
                p_label == "NORP"
                and label in {"ORG", "GPE", "LOC", "FAC", "EVENT"}
                and text[p_end:start] == " "
                and " " not in text[p_start:p_end]
                and " " not in text[start:end]
                and text[start:end].istitle()
            ):
                out[-1] = (p_start, end, label)
                continue
        out.append((start, end, label))
    return out


def _add_mention(text: str, groups: dict[str, _Group], start: int, end: int, label: str) -> None:
    surface = text[start:end]
    found = mention_name(surface)
    if found is None:
        return
    name, offset, titled = found
    if offset >= 0:  # keep the mention to the name itself, without title or possessive
        start, end = start + offset, start + offset + len(name)
    key = name.casefold()
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group(name)
    elif group.name.isupper() and not name.isupper():
        group.name = name  # "NEW YORK" in a headline, "New York" in the body: the body spells it
    group.forms.add(name)
    group.labels[label] += 1
    if titled or title_before(text, start):
        group.person_evidence += 1  # "President X", "Mr X": a title is strong evidence of a person
    elif label == "PERSON" and len(name.split()) > 1:
        group.person_evidence += 1
    if surface.strip() != name:
        group.aliases.add(surface.strip())
    group.spans[(start, end)] = text[start:end]


def _decide_type(group: _Group) -> str:
    """The article-wide type: organisation words decide; a PERSON vote beats ORG-like confusions; else the majority."""
    words = {word.strip(".,").casefold() for word in group.name.split()}
    if group.labels["ORG"] and words & set(name_lexicon()["org_words"]):
        return "ORG"
    top = group.labels.most_common(1)[0][0]
    # the small model tags unfamiliar surnames ORG/PRODUCT/WORK_OF_ART/GPE; a title or a full name read as PERSON wins
    if group.person_evidence and group.labels["PERSON"] and top != "PERSON":
        return "PERSON"
    return top


def _join_acronyms(text: str, groups: dict[str, _Group]) -> None:
    """Fold an acronym into its expansion: defined in parentheses, or the one name in the text with those initials."""
    by_end = {end: key for key, group in groups.items() for (_, end) in group.spans}
    for match in _DEFINED_ACRONYM.finditer(text):
        key = by_end.get(match.start())
        if key is None:
            continue
        acronym = match.group(1)
        expansion = groups[key]
        expansion.forms.add(acronym)
        expansion.aliases.add(acronym)
        acronym_group = groups.pop(acronym.casefold(), None)
        if acronym_group is not None and acronym_group is not expansion:
            expansion.absorb(acronym_group)
    for key in [k for k, g in groups.items() if g.name.isupper() and 2 <= len(g.name) <= 6 and g.name.isalpha()]:
        if key not in groups:
            continue
        candidates = [g for k, g in groups.items() if k != key and " " in g.name and initials(g.name) == groups[key].name]
        if len(candidates) == 1:
            candidates[0].absorb(groups.pop(key))
    # an acronym the model missed ("IS militants") that spells the one multi-word name with those initials
    by_initials: dict[str, list[_Group]] = {}
    for group in groups.values():
        if " " in group.name and not group.name.isupper():
            by_initials.setdefault(initials(group.name), []).append(group)
    for letters, owners in by_initials.items():
        if len(owners) == 1 and 2 <= len(letters) <= 6 and letters.casefold() not in groups:
            if any(not _in_capitals(text, *span) for span in _occurrences(text, letters)):
                owners[0].forms.add(letters)
                owners[0].aliases.add(letters)


def _occurrences(text: str, word: str) -> Iterator[tuple[int, int]]:
    """Whole-word occurrences of ``word`` (plain ``str.find``: a regex per name and article costs more than the search)."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            yield start, end
        start = text.find(word, start + 1)


def _in_capitals(text: str, start: int, end: int) -> bool:
    before = re.findall(r"[^\W\d_]+", text[max(0, start - 30) : start])
    after = re.findall(r"[^\W\d_]+", text[end : end + 30])
    neighbours = [w for w in (before[-1:] + after[:1])]
    return bool(neighbours) and all(w.isupper() for w in neighbours)


def _join_short_forms(groups: dict[str, _Group]) -> None:
    """Fold "Velayati" into "Ali Akbar Velayati" when the longer name is in the same article (and only one is)."""
    # a shorter name is part of a longer one if it is its first or last words, or its last words without particles
    # ("Maliki" of "Nouri al-Maliki"); every such part is indexed once: comparing every name with every other was
    # quadratic in the names of an article. Names do not change while joining, groups only leave.
    longer: dict[tuple[str, ...], list[str]] = {}
    for key, group in groups.items():
        tokens = group.name.split()
        bare = [particle_free(token) for token in tokens]
        for n in range(1, len(tokens)):
            for part in {tuple(tokens[-n:]), tuple(tokens[:n]), tuple(bare[-n:])}:
                longer.setdefault(part, []).append(key)
    for key in sorted(groups, key=len):
        group = groups[key]
        tokens = group.name.split()
        candidates = [groups[other] for other in longer.get(tuple(tokens), ()) if other != key and other in groups]
        if len(candidates) == 1 and _may_join(group, candidates[0], tokens):
            candidates[0].absorb(group)
            del groups[key]


_PLACE_LIKE = frozenset({"GPE", "LOC", "NORP", "FAC"})


def _may_join(short: _Group, long: _Group, tokens: list[str]) -> bool:
    """A surname joins a person; "Iraq" never joins "Islamic Supreme Council of Iraq", nor "Iraqi" "Iraqi Army"."""
    short_label = short.labels.most_common(1)[0][0]
    long_label = long.labels.most_common(1)[0][0]
    if long_label == "PERSON" or long.person_evidence:
        return True
    if short_label in _PLACE_LIKE and ids.type_group(short_label) != ids.type_group(long_label):
        return False
    return long.name.split()[: len(tokens)] == tokens  # an organisation's short form is its first words


def _surname(group: _Group, label: str) -> str | None:
    tokens = group.name.split()
    if label != "PERSON" or len(tokens) < 2:
        return None
    return particle_free(tokens[-1])


def _add_unlabelled_mentions(text: str, groups: dict[str, _Group], types: dict[str, str], taken: bytearray) -> None:
    """Occurrences of a known name (or a person's surname) the model did not tag become mentions too."""
    owners: dict[str, set[str]] = {}
    for key, group in groups.items():
        for form in {group.name, *group.forms, _surname(group, types[key]) or group.name}:
            owners.setdefault(form, set()).add(key)
    # the longest form first, so that "Anja Lindqvist" claims its occurrences before "Lindqvist" takes part of one;
    # in set order, the mentions changed from one process to the next (str hashes are salted per process)
    for form, keys in sorted(owners.items(), key=lambda item: (-len(item[0]), item[0])):
        if len(keys) != 1 or len(form) < 2:
            continue  # a surname two people share stays unattributed
        acronym = form.isupper()
        if not acronym and next(_occurrences(text, form.lower()), None):
            continue  # the form is also an ordinary lower-case word here ("may", "bush"): too risky to guess
        group = groups[next(iter(keys))]
        for variant in {form, form.upper()}:
            for start, end in _occurrences(text, variant):
                if any(taken[start:end]) or (acronym and _in_capitals(text, start, end)):
                    continue  # "IS" in "WHO IS TO BLAME" is a word of a shouted headline, not the acronym
                group.spans[(start, end)] = text[start:end]
                taken[start:end] = b"\x01" * (end - start)


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
        label = group.watched.type or (_decide_type(group) if group.labels else "PERSON")
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
