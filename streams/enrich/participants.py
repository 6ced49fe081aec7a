"""Who takes part in a PLOVER event: actors from the clause's subject, recipients from its objects, over canonical
entities and the words that stand for them (streams/enrich/corefer.py). Split from streams/enrich/events.py."""

from __future__ import annotations

import bisect

from schemas import Entity
from streams.enrich.lexicon import Lexicon, base
from streams.enrich.parsed import ParsedDoc

#: entity types that can act or be acted upon, and those that are places
ACTOR_TYPES = frozenset({"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC"})
PLACE_TYPES = frozenset({"GPE", "LOC", "FAC"})
#: prepositions that introduce whom an event is aimed at
RECIPIENT_PREPS = frozenset({"with", "against", "to", "on", "into", "toward", "towards", "at", "from", "for"})
#: where an event noun stands when it names an event: "in a meeting with", "amid the battle"
EVENT_PREPS = frozenset({"in", "during", "after", "before", "at", "amid", "following", "since", "despite"})


class Mentions:
    """Which canonical entity a character span names."""

    def __init__(self, entities: list[Entity], references: list[tuple[int, int, str, str]] | None = None) -> None:
        references = references or []
        spans = sorted({*((m.start, m.end, e.name, e.type) for e in entities for m in e.mentions), *references})
        self.starts = [s[0] for s in spans]
        self.spans = spans
        #: the words that stand for a named entity (streams/enrich/corefer.py), by their start
        self.references = {start: name for start, _, name, _ in references}

    def inside(self, start: int, end: int) -> list[tuple[int, int, str, str]]:
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.spans) and self.spans[i][0] < end:
            if self.spans[i][1] <= end:
                out.append(self.spans[i])
            i += 1
        return out


def _entities_in(parse: ParsedDoc, token: int, mentions: Mentions) -> list[str]:
    """Canonical names inside a token's subtree, nearest to the token first; the one it stands for if it is a reference."""
    if (reference := mentions.references.get(parse.idx[token])) is not None:
        return [reference]  # "a senior advisor to the Leader": the advisor, not the Leader
    left, right = parse.edges(token)
    found = mentions.inside(parse.idx[left], parse.end_char(right))
    found = [m for m in found if m[3] in ACTOR_TYPES]
    # "Iraqi" in "Iraqi President Fuad Masum" only describes him; in "Palestinian homes" it is whose homes
    found = [m for m in found if m[3] != "NORP" or not _describes(parse.text, m, found)]
    at = parse.idx[token]
    found.sort(key=lambda m: abs(m[0] - at))
    names: list[str] = []
    for _, _, name, _ in found:
        if name not in names:
            names.append(name)
    return names[:3]


def _describes(text: str, norp: tuple[int, int, str, str], found: list[tuple[int, int, str, str]]) -> bool:
    """A people's name that qualifies the name a few words after it ("Iraqi President Fuad Masum")."""
    return any(m[3] != "NORP" and 0 <= m[0] - norp[1] and len(text[norp[1] : m[0]].split()) <= 3 and "," not in text[norp[1] : m[0]]
               for m in found)  # fmt: skip


def participants(parse: ParsedDoc, anchor: int, trigger: int, mentions: Mentions, lex: Lexicon) -> tuple[list[str], list[str]]:
    """Actors from the clause's subject (or a reporting verb's, for "it"/"they"), recipients from objects."""
    dep, head, children = parse.dep, parse.head, parse.children
    actors: list[str] = []
    recipients: list[str] = []
    clause = anchor
    for _ in range(3):  # a complement or a conjunct shares the subject of the verb it hangs from
        if any(dep[c] in {"nsubj", "nsubjpass", "agent"} for c in children(clause)) or head[clause] == clause:
            break
        if dep[clause] not in {"xcomp", "conj", "advcl", "acl", "relcl", "acomp"}:  # "is willing to withdraw"
            break
        clause = head[clause]
    for child in children(clause):
        if dep[child] == "nsubj":
            actors += _entities_in(parse, child, mentions)
            governor = head[clause]
            pronoun = parse.tag[child] == "PRP" or any(parse.tag[c] == "PRP$" for c in children(child))  # "their forces"
            if not actors and pronoun and dep[clause] == "ccomp" and base(parse.lower[governor], lex) in lex.reporting:
                for c in children(governor):
                    if dep[c] == "nsubj":
                        actors += _entities_in(parse, c, mentions)  # "Hungary has said it will support ..."
        elif dep[child] == "agent":
            for pobj in children(child):
                actors += _entities_in(parse, pobj, mentions)
        elif dep[child] == "nsubjpass":
            recipients += _entities_in(parse, child, mentions)
    for token in {anchor: None, trigger: None}:  # the clause's head and, for "held talks with X", the event noun
        for child in children(token):
            # the event noun itself is an object here ("talks with X": X is inside it); the nearest names count
            if dep[child] in {"dobj", "dative", "iobj", "attr"}:
                recipients += _entities_in(parse, child, mentions)
            elif dep[child] == "prep" and parse.lower[child] in RECIPIENT_PREPS:
                recipients += [n for p in children(child) if dep[p] == "pobj" for n in _entities_in(parse, p, mentions)]
            elif dep[child] == "prep" and parse.lower[child] in EVENT_PREPS:  # "discussed ... in a meeting with X"
                meetings = [p for p in children(child) if dep[p] == "pobj"]
                withs = [w for p in meetings for w in children(p) if dep[w] == "prep" and parse.lower[w] == "with"]
                recipients += [n for w in withs for p in children(w) if dep[p] == "pobj" for n in _entities_in(parse, p, mentions)]
    if not recipients:
        recipients = _addressees(parse, anchor, mentions)
    if not actors and parse.pos[trigger] in {"NOUN", "PROPN"}:  # "Palestinian riots", "US Predator attacks": whose
        modifiers = [c for c in children(trigger) if dep[c] in {"poss", "compound", "amod", "nmod"}]
        places = {m[2] for m in mentions.spans if m[3] in PLACE_TYPES}  # "the Mosul battle": where, not who
        actors = [n for c in modifiers for n in _entities_in(parse, c, mentions) if n not in places]
    actors = list(dict.fromkeys(actors))
    recipients = [r for r in dict.fromkeys(recipients) if r not in actors]
    return actors, recipients


def _addressees(parse: ParsedDoc, anchor: int, mentions: Mentions) -> list[str]:
    """Whom an event without an object is aimed at: the subject of what it asks ("demanded that the US cancel ..."),
    the object of its purpose ("a hunger strike to demand the resignation of ...")."""
    dep, children = parse.dep, parse.children
    found: list[str] = []
    for child in children(anchor):
        if dep[child] == "ccomp":
            found += [n for c in children(child) if dep[c] in {"nsubj", "nsubjpass"} for n in _entities_in(parse, c, mentions)]
        elif dep[child] in {"xcomp", "advcl"} and any(dep[c] == "aux" and parse.lower[c] == "to" for c in children(child)):
            found += [n for c in children(child) if dep[c] in {"dobj", "dative"} for n in _entities_in(parse, c, mentions)]
    return found


def reporter(parse: ParsedDoc, clause: int, mentions: Mentions, lex: Lexicon) -> list[str]:
    """The subject of the reporting verb a clause hangs from ("Russia said ..."), when it does."""
    governor = parse.head[clause]
    if base(parse.lower[governor], lex) not in lex.reporting:
        return []
    return [n for c in parse.children(governor) if parse.dep[c] == "nsubj" for n in _entities_in(parse, c, mentions)]
