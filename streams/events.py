"""PLOVER 2.0 key events from spaCy's dependency parse and the data lexicon ``lexicons/events.yaml``."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas import Entity, Event, Magnitude
from streams import ids

LEXICON_FILE = Path(__file__).resolve().parent / "lexicons" / "events.yaml"
#: entity types that can act or be acted upon, and those that are places
ACTOR_TYPES = frozenset({"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC"})
PLACE_TYPES = frozenset({"GPE", "LOC", "FAC"})
#: entity labels whose numbers are not head counts (years, sums, shares, ranks)
NOT_COUNTS = frozenset({"DATE", "TIME", "MONEY", "PERCENT", "ORDINAL", "QUANTITY"})
#: verbs that carry an event noun as their object: "launched an offensive", "held a meeting"
LIGHT_VERBS = frozenset(
    {"launch", "hold", "stage", "begin", "continue", "mount", "impose", "announce", "lodge", "issue", "conduct",
     "carry", "start", "resume", "end", "attend", "follow", "host", "make", "order", "call", "declare", "step"}
)  # fmt: skip
#: prepositions that introduce whom an event is aimed at
RECIPIENT_PREPS = frozenset({"with", "against", "to", "on", "into", "toward", "towards", "at", "from", "for"})
#: prepositions that introduce where an event happens
PLACE_PREPS = frozenset({"in", "at", "near", "outside", "inside", "across", "around", "of", "into", "from", "throughout"})
#: clauses that state their own event (a conjunct, a reported clause), not a purpose or circumstance of another
MAIN_CLAUSE = frozenset({"ROOT", "conj", "ccomp"})
#: where an event noun stands when it names an event: "the offensive started", "in a meeting with", "amid the battle"
NOUN_EVENT_DEPS = frozenset({"nsubj", "nsubjpass", "dobj", "ROOT", "conj"})
EVENT_PREPS = frozenset({"in", "during", "after", "before", "at", "amid", "following", "since", "despite"})
STRENGTH = {"noun": 0.5, "verb": 0.7, "phrase": 0.8}


@dataclass(frozen=True)
class Lexicon:
    """The event lexicon, loaded once from YAML."""

    types: frozenset[str]
    cooperative: frozenset[str]
    hostile: frozenset[str]
    verbs: dict[str, str]
    verb_objects: dict[str, str]
    governors: dict[str, str]
    verb_particles: dict[str, str]
    nouns: dict[str, str]
    future_aux: frozenset[str]
    future_governors: frozenset[str]
    obligation_aux: frozenset[str]
    hypothetical_aux: frozenset[str]
    conditions: frozenset[str]
    reporting: frozenset[str]
    magnitudes: dict[str, str]  # lemma → kind
    numbers: dict[str, int]
    irregular: dict[str, str]
    known: frozenset[str]  # every base form a rule above names
    forms: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)  # lemma_candidates, memoised


@functools.cache
def lexicon(path: Path = LEXICON_FILE) -> Lexicon:
    """The lexicon at ``path``, checked: every value names one of the 16 PLOVER types."""
    data = yaml.safe_load(path.read_text("utf-8"))
    types = frozenset(data["types"])
    for section in ("verbs", "verb_objects", "governors", "verb_particles", "nouns"):
        for word, value in data[section].items():
            if str(value).split("/")[0] not in types:
                raise ValueError(f"{path}: {section}.{word}: {value!r} is not a PLOVER type")
    phrase_heads = {str(key).split()[0] for key in (*data["verb_objects"], *data["verb_particles"])}
    known = {*map(str, data["verbs"]), *map(str, data["governors"]), *map(str, data["reporting"])}
    known |= {*map(str, data["future_governors"]), *phrase_heads, *LIGHT_VERBS}
    return Lexicon(
        types=types,
        cooperative=frozenset(data["cooperative"]),
        hostile=frozenset(data["hostile"]),
        verbs={str(k): str(v) for k, v in data["verbs"].items()},
        verb_objects={str(k): str(v) for k, v in data["verb_objects"].items()},
        governors={str(k): str(v) for k, v in data["governors"].items()},
        verb_particles={str(k): str(v) for k, v in data["verb_particles"].items()},
        nouns={str(k): str(v) for k, v in data["nouns"].items()},
        future_aux=frozenset(map(str, data["future_aux"])),
        future_governors=frozenset(map(str, data["future_governors"])),
        obligation_aux=frozenset(map(str, data["obligation_aux"])),
        hypothetical_aux=frozenset(map(str, data["hypothetical_aux"])),
        conditions=frozenset(map(str, data["conditions"])),
        reporting=frozenset(map(str, data["reporting"])),
        magnitudes={str(word): kind for kind, words in data["magnitudes"].items() for word in words},
        numbers={str(k): int(v) for k, v in data["numbers"].items()},
        irregular={str(k): str(v) for k, v in data["irregular"].items()},
        known=frozenset(known),
    )


_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", ""))


def lemma_candidates(word: str, lex: Lexicon) -> list[str]:
    """The word and its likely base forms, most literal first (the pipeline runs without a lemmatizer)."""
    w = word.lower()
    cached = lex.forms.get(w)
    if cached is not None:
        return cached
    out = [w]
    if w in lex.irregular:
        out.append(lex.irregular[w])
    for suffix, replacement in _SUFFIXES:
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            stem = w[: -len(suffix)] + replacement
            out.append(stem)
            if not replacement and stem[-1] == stem[-2]:
                out.append(stem[:-1])  # "stopped" → "stop"
    if len(lex.forms) < 100_000:  # news vocabulary is bounded; the cap keeps a pathological stream from growing it
        lex.forms[w] = out
    return out


def lookup(word: str, table: dict[str, str], lex: Lexicon) -> tuple[str, str] | None:
    """The first base form of ``word`` found in ``table``, with its value."""
    for lemma in lemma_candidates(word, lex):
        if lemma in table:
            return lemma, table[lemma]
    return None


def base(word: str, lex: Lexicon) -> str:
    """The base form of a word as far as the lexicon knows it (for phrases, reporting verbs and governors)."""
    for lemma in lemma_candidates(word, lex):
        if lemma in lex.known:
            return lemma
    return word.lower()


@dataclass
class _Candidate:
    anchor: Any  # the token whose clause holds the event's arguments
    trigger: Any
    kind: str  # "phrase", "verb" or "noun"
    value: str  # "TYPE" or "TYPE/mode"
    governed: bool = False


class _Mentions:
    """Which canonical entity a character span names."""

    def __init__(self, entities: list[Entity]) -> None:
        spans = sorted((m.start, m.end, e.name, e.type) for e in entities for m in e.mentions)
        self.starts = [s[0] for s in spans]
        self.spans = spans

    def inside(self, start: int, end: int) -> list[tuple[int, int, str, str]]:
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.spans) and self.spans[i][0] < end:
            if self.spans[i][1] <= end:
                out.append(self.spans[i])
            i += 1
        return out


def extract_events(doc: Any, entities: list[Entity], article_id: str, text: str | None = None) -> list[Event]:
    """Every PLOVER event of a parsed doc (whose ``text`` the caller may pass), at most one per type and sentence."""
    lex = lexicon()
    text = doc.text if text is None else text
    mentions = _Mentions(entities)
    dates = [ent for ent in doc.ents if ent.label_ == "DATE"]  # once: Span.ents walks the whole doc on every read
    events: list[Event] = []
    for sent in doc.sents:
        candidates = _candidates(sent, lex)
        magnitudes = _magnitudes(sent, lex)
        if not candidates and any(m.kind in {"killed", "injured", "abducted"} for m in magnitudes):
            candidates = [_Candidate(sent.root, sent.root, "noun", "ASSAULT")]  # "12 dead in the north": a violent act
        sent_dates = [ent for ent in dates if sent.start <= ent.start < sent.end]
        found: list[Event] = []
        for number, candidate in enumerate(_ranked(candidates)):
            if number and (candidate.kind == "noun" or candidate.anchor.dep_ not in MAIN_CLAUSE):
                continue  # a second event in one sentence needs a verb of its own main clause
            event = _event(text, sent, candidate, mentions, sent_dates, lex, article_id)
            if event is not None and event.type not in {e.type for e in found} and (not number or event.actors):
                found.append(event)
        if found and magnitudes:  # the counts belong to the violent or coercive event of the sentence, if there is one
            target = next((i for i, e in enumerate(found) if e.type in lex.hostile), 0)
            found[target] = found[target].model_copy(update={"magnitudes": magnitudes})
        events += found
    return events


def _ranked(candidates: list[_Candidate]) -> list[_Candidate]:
    """The main-clause, strongest evidence first; weak noun evidence only when nothing stronger is there."""

    def depth(token: Any) -> int:
        d = 0
        while token.head is not token and d < 20:
            token, d = token.head, d + 1
        return d

    ranked = sorted(candidates, key=lambda c: (-STRENGTH[c.kind], depth(c.anchor), c.trigger.i))
    if ranked and ranked[0].kind != "noun":
        ranked = [c for c in ranked if c.kind != "noun" or c.trigger.dep_ in {"dobj", "nsubj", "nsubjpass", "ROOT"}]
    return ranked


def _candidates(sent: Any, lex: Lexicon) -> list[_Candidate]:
    out: list[_Candidate] = []
    governed: set[int] = set()
    for token in sent:
        if token.pos_ == "VERB" or (token.tag_.startswith("VB") and token.pos_ != "AUX"):
            found = _verb_value(token, lex)
            if found is None:
                continue
            kind, value = found
            head = token.head
            head_base = base(head.text, lex)
            if token.dep_ in {"xcomp", "ccomp"} and head is not token and head_base in lex.governors and head.i not in governed:
                # "threatened to ban": the governor is the event, the complement its mode
                mode = value.split("/")[1] if "/" in value else value.lower()
                governed.add(head.i)
                out = [c for c in out if c.trigger.i != head.i]
                out.append(_Candidate(head, token, "phrase", f"{lex.governors[head_base]}/{mode}", governed=True))
                continue
            if token.i in governed:
                continue
            out.append(_Candidate(token, token, kind, value))
        elif token.pos_ in {"NOUN", "PROPN"} and not token.ent_type_:
            noun = lookup(token.text, lex.nouns, lex)
            if noun is None:
                continue
            head = token.head
            light = token.dep_ == "dobj" and base(head.text, lex) in LIGHT_VERBS
            if not light and token.dep_ not in NOUN_EVENT_DEPS and not (token.dep_ == "pobj" and head.lower_ in EVENT_PREPS):
                continue  # "described IS as a threat": the noun names no event that took place
            anchor = head if light else token
            out.append(_Candidate(anchor, token, "phrase" if light else "noun", noun[1]))
    return out


def _verb_value(token: Any, lex: Lexicon) -> tuple[str, str] | None:
    """The lexicon's reading of a verb: its particle, its object, or the verb alone."""
    verb = lookup(token.text, lex.verbs, lex)
    lemma = verb[0] if verb else base(token.text, lex)
    if lemma in lex.reporting:
        return None
    for child in token.children:
        if child.dep_ in {"prt", "prep"}:
            phrase = lex.verb_particles.get(f"{lemma} {child.lower_}")
            if phrase:
                return "phrase", phrase
    for child in token.children:
        if child.dep_ in {"dobj", "nsubjpass"}:
            for object_lemma in lemma_candidates(child.text, lex):
                phrase = lex.verb_objects.get(f"{lemma} {object_lemma}")
                if phrase:
                    return "phrase", phrase
    if verb is None:
        return None
    return "verb", verb[1]


def _event(
    text: str,
    sent: Any,
    candidate: _Candidate,
    mentions: _Mentions,
    dates: list[Any],
    lex: Lexicon,
    article_id: str,
) -> Event | None:
    anchor = candidate.anchor
    plover, _, mode = candidate.value.partition("/")
    flags = _flags(anchor, candidate.trigger, lex)
    negated, future, hypothetical, obligation = flags
    if obligation and not candidate.governed:
        mode, plover = plover.lower(), "REQUEST"  # "X must release the prisoners": asked of someone, not done
    elif negated and plover in lex.cooperative:
        mode, plover = plover.lower(), "REJECT"
    elif (future or hypothetical) and plover in lex.cooperative and plover != "AGREE" and not candidate.governed:
        mode, plover = plover.lower(), "AGREE"  # PLOVER's AGREE is the intent to cooperate
    elif hypothetical and future and plover in lex.hostile and not candidate.governed:
        mode, plover = plover.lower(), "THREATEN"  # "will withdraw its force unless ...": a threat
    if plover not in lex.types:
        return None
    actors, recipients = _participants(anchor, candidate.trigger, mentions, lex)
    location = _location(sent, mentions, set(actors), set(recipients))
    recipients = [r for r in recipients if r != location]  # "drive them out of the city of Kessin": where, not whom
    date = _date(dates, anchor)
    start, end = _stripped(text, sent.start_char, sent.end_char)
    confidence = STRENGTH[candidate.kind] + 0.1 * bool(actors) + 0.05 * bool(recipients) - 0.2 * hypothetical - 0.1 * future
    return Event(
        id=ids.stable_id("event", article_id, str(start), plover),
        article_id=article_id,
        type=plover,
        mode=mode or None,
        actors=actors,
        recipients=recipients,
        location=location,
        date=date,
        negated=negated,
        future=future,
        hypothetical=hypothetical,
        sentence=text[start:end],
        start=start,
        end=end,
        confidence=round(min(0.95, max(0.05, confidence)), 2),
    )


def _flags(anchor: Any, trigger: Any, lex: Lexicon) -> tuple[bool, bool, bool, bool]:
    """Negated, future, hypothetical and obligation readings of the event's clause."""
    negated = future = hypothetical = obligation = False
    for token in {anchor, trigger}:
        for child in token.children:
            word = child.lower_
            if child.dep_ == "neg" or word in {"never", "no"} and child.dep_ in {"neg", "advmod", "det"}:
                negated = True
            elif child.dep_ in {"aux", "auxpass"}:
                if word in lex.future_aux:
                    future = True
                    hypothetical = hypothetical or word == "would"
                elif word in lex.obligation_aux:
                    obligation = True
                elif word in lex.hypothetical_aux:
                    hypothetical = True
            elif child.dep_ == "advcl" and any(g.dep_ == "mark" and g.lower_ in lex.conditions for g in child.children):
                hypothetical = True
            elif child.dep_ == "mark" and word in lex.conditions:
                hypothetical = True
        head = token.head
        if token.dep_ in {"xcomp", "acl", "ccomp"} and base(head.text, lex) in lex.future_governors:
            future = True
            negated = negated or any(c.dep_ == "neg" for c in head.children)
    return negated, future, hypothetical, obligation


def _entities_in(token: Any, mentions: _Mentions) -> list[str]:
    """Canonical names inside a token's subtree, nearest to the token first."""
    left, right = token.left_edge, token.right_edge
    found = mentions.inside(left.idx, right.idx + len(right.text))
    found = [m for m in found if m[3] in ACTOR_TYPES]
    if any(m[3] != "NORP" for m in found):
        found = [m for m in found if m[3] != "NORP"]  # "Iraqi" in "Iraqi President Fuad Masum" only describes him
    found.sort(key=lambda m: abs(m[0] - token.idx))
    names: list[str] = []
    for _, _, name, _ in found:
        if name not in names:
            names.append(name)
    return names[:3]


def _participants(anchor: Any, trigger: Any, mentions: _Mentions, lex: Lexicon) -> tuple[list[str], list[str]]:
    """Actors from the clause's subject (or a reporting verb's, for "it"/"they"), recipients from objects."""
    actors: list[str] = []
    recipients: list[str] = []
    clause = anchor
    for _ in range(3):  # a complement or a conjunct shares the subject of the verb it hangs from
        if any(c.dep_ in {"nsubj", "nsubjpass", "agent"} for c in clause.children) or clause.head is clause:
            break
        if clause.dep_ not in {"xcomp", "conj", "advcl", "acl", "relcl"}:
            break
        clause = clause.head
    for child in clause.children:
        if child.dep_ == "nsubj":
            actors += _entities_in(child, mentions)
            if not actors and child.tag_ == "PRP" and clause.dep_ == "ccomp" and base(clause.head.text, lex) in lex.reporting:
                for c in clause.head.children:
                    if c.dep_ == "nsubj":
                        actors += _entities_in(c, mentions)  # "Hungary has said it will support ..."
        elif child.dep_ == "agent":
            for pobj in child.children:
                actors += _entities_in(pobj, mentions)
        elif child.dep_ == "nsubjpass":
            recipients += _entities_in(child, mentions)
    objects = [anchor, trigger] if anchor is not trigger else [anchor]
    for token in objects:
        for child in token.children:
            if child.dep_ in {"dobj", "dative", "iobj", "attr"} and child is not trigger:
                recipients += _entities_in(child, mentions)
            elif child.dep_ == "dobj" and child is trigger:
                for prep in child.children:
                    if prep.dep_ == "prep" and prep.lower_ in RECIPIENT_PREPS:
                        recipients += [n for p in prep.children for n in _entities_in(p, mentions)]
            elif child.dep_ == "prep" and child.lower_ in RECIPIENT_PREPS:
                recipients += [n for p in child.children if p.dep_ == "pobj" for n in _entities_in(p, mentions)]
    actors = list(dict.fromkeys(actors))
    recipients = [r for r in dict.fromkeys(recipients) if r not in actors]
    return actors, recipients


def _location(sent: Any, mentions: _Mentions, actors: set[str], recipients: set[str]) -> str | None:
    """A place in the sentence: one after "in", "at", "near" ... first, else any place not taking part."""
    places = [m for m in mentions.inside(sent.start_char, sent.end_char) if m[3] in PLACE_TYPES and m[2] not in actors]
    if not places:
        return None
    doc = sent.doc
    for start, _, name, _ in places:
        span = doc.char_span(start, start + 1, alignment_mode="expand")
        if span is None:
            continue
        token = span.root
        while token.dep_ in {"compound", "amod", "poss", "pobj", "appos"} and token.head is not token:
            if token.dep_ == "pobj":
                if token.head.lower_ in PLACE_PREPS:
                    return name
                break
            token = token.head
    others = [name for _, _, name, _ in places if name not in recipients]
    return others[0] if others else None


def _date(dates: list[Any], anchor: Any) -> str | None:
    """The sentence's date: one inside the event's clause first."""
    if not dates:
        return None
    inside = [ent for ent in dates if anchor.left_edge.i <= ent.start and ent.end <= anchor.right_edge.i + 1]
    return str((inside or dates)[0].text)


def _magnitudes(sent: Any, lex: Lexicon) -> list[Magnitude]:
    """Head counts in a sentence: "killing 12", "5,640 people to flee", "two soldiers were wounded"."""
    found: dict[str, int] = {}
    skip: set[int] = set()
    for token in sent:
        if token.i in skip or token.ent_type_ in NOT_COUNTS:
            continue
        value = _number(token, lex)
        if value is None:
            continue
        nxt = token.nbor(1) if token.i + 1 < len(token.doc) else None
        while nxt is not None and nxt.lower_ in {"hundred", "thousand", "million", "billion"} and nxt.i < sent.end:
            value *= lex.numbers[nxt.lower_]  # "1.5 million"
            skip.add(nxt.i)
            token = nxt
            nxt = token.nbor(1) if token.i + 1 < len(token.doc) else None
        kind = _magnitude_kind(token, lex)
        if kind and kind not in found:
            found[kind] = int(value)
    return [Magnitude(kind=kind, value=value) for kind, value in found.items()]


def _number(token: Any, lex: Lexicon) -> float | None:
    text = token.lower_.replace(",", "")
    if text in lex.numbers and text not in {"hundred", "thousand", "million", "billion"}:
        return lex.numbers[text]
    if token.like_num:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if value >= 1 else None
    return None


def _magnitude_kind(token: Any, lex: Lexicon) -> str | None:
    """The consequence a number counts, from the words around it in the parse."""
    noun = token.head if token.dep_ in {"nummod", "compound", "quantmod"} else token
    while noun.dep_ in {"nummod", "compound", "quantmod"} and noun.head is not noun:
        noun = noun.head
    verb = noun.head
    # what happened to them ("were arrested", "forced to flee") before what they are ("protesters", "dead")
    near = [verb, *[c for c in verb.children if c.dep_ in {"xcomp", "conj", "acomp", "advcl", "ccomp"}]]
    if verb.dep_ in {"xcomp", "conj", "acl", "relcl"}:
        near.append(verb.head)
    near += [c for c in noun.children if c.dep_ in {"amod", "acl", "relcl"}] + [noun]
    for word in near:
        if word.dep_ == "neg":
            continue
        hit = lookup(word.text, lex.magnitudes, lex)
        if hit:
            return hit[1]
    return None


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
