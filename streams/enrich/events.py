"""PLOVER 2.0 key events from spaCy's dependency parse and the data lexicon ``lexicons/events.yaml`` (see :mod:`streams.enrich.lexicon`).

One module of about 400 lines on purpose: candidates, participants, place, date and magnitudes are steps of
one extraction over the same parse and share its private types; the lexicon and the parse live apart.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy
from spacy.symbols import AUX, NOUN, PROPN, VERB

from schemas import Entity, Event, Magnitude
from streams import ids
from streams.enrich.corefer import coreferences
from streams.enrich.lexicon import LIGHT_VERBS, Lexicon, base, lemma_candidates, lexicon, lookup
from streams.enrich.parsed import LABELS, ParsedDoc
from streams.enrich.participants import EVENT_PREPS, PLACE_TYPES, Mentions, participants, reporter

#: entity labels whose numbers are not head counts (years, sums, shares, ranks)
NOT_COUNTS = frozenset({"DATE", "TIME", "MONEY", "PERCENT", "ORDINAL", "QUANTITY"})
#: prepositions that introduce where an event happens
PLACE_PREPS = frozenset({"in", "at", "near", "outside", "inside", "across", "around", "of", "into", "from", "throughout"})
#: clauses that state their own event (a conjunct, a reported clause), not a purpose or circumstance of another
MAIN_CLAUSE = frozenset({"ROOT", "conj", "ccomp"})
#: where an event noun stands when it names an event: "the offensive started", "in a meeting with", "amid the battle"
NOUN_EVENT_DEPS = frozenset({"nsubj", "nsubjpass", "dobj", "ROOT", "conj"})
STRENGTH = {"noun": 0.5, "verb": 0.7, "phrase": 0.8}


@dataclass
class _Candidate:
    anchor: int  # the token whose clause holds the event's arguments
    trigger: int
    kind: str  # "phrase", "verb" or "noun"
    value: str  # "TYPE" or "TYPE/mode"
    governed: bool = False


def extract_events(doc: Any, entities: list[Entity], article_id: str, text: str | None = None) -> list[Event]:
    """Every PLOVER event of a parsed doc, at most one per type and sentence.

    ``doc`` is a spaCy doc (whose ``text`` the caller may pass) or a ``ParsedDoc`` of it.
    """
    lex = lexicon()
    parse = doc if isinstance(doc, ParsedDoc) else ParsedDoc(doc, text)
    mentions = Mentions(entities, coreferences(parse, entities))
    dates = [(start, end, parse.text[a:b]) for start, end, a, b, label in parse.ents if label == "DATE"]
    # the tokens that can be a count, found once: most of a text is words, and _number would say so one by one
    numbers = lex.numbers
    numeric = [
        i
        for i, (word, like_num) in enumerate(zip(parse.lower, parse.like_num, strict=True))
        if like_num or word in numbers or ("," in word and word.replace(",", "") in numbers)
    ]
    words = _candidate_words(parse)
    events: list[Event] = []
    for sent_start, sent_end in parse.sents:
        candidates = _candidates(parse, words[bisect.bisect_left(words, sent_start) : bisect.bisect_left(words, sent_end)], lex)
        counts = numeric[bisect.bisect_left(numeric, sent_start) : bisect.bisect_left(numeric, sent_end)]
        magnitudes = _magnitudes(parse, counts, sent_end, lex) if counts else []
        if not candidates and any(m.kind in {"killed", "injured", "abducted"} for m in magnitudes):
            root = parse.root(sent_start, sent_end)
            candidates = [_Candidate(root, root, "noun", "ASSAULT")]  # "12 dead in the north": a violent act
        sent_dates = [date for date in dates if sent_start <= date[0] < sent_end]
        found: list[Event] = []
        for number, candidate in enumerate(_ranked(parse, candidates)):
            if number and (candidate.kind == "noun" or parse.dep[candidate.anchor] not in MAIN_CLAUSE):
                continue  # a second event in one sentence needs a verb of its own main clause
            event = _event(parse, (sent_start, sent_end), candidate, mentions, sent_dates, lex, article_id)
            if event is not None and event.type not in {e.type for e in found} and (not number or event.actors):
                found.append(event)
        if found and magnitudes:  # the counts belong to the violent or coercive event of the sentence, if there is one
            target = next((i for i, e in enumerate(found) if e.type in lex.hostile), 0)
            found[target] = found[target].model_copy(update={"magnitudes": magnitudes})
        events += found
    return events


def _ranked(parse: ParsedDoc, candidates: list[_Candidate]) -> list[_Candidate]:
    """The main-clause, strongest evidence first; weak noun evidence only when nothing stronger is there."""
    # by strength, then position: an earlier key, the anchor's depth in the tree, was always 20 under spaCy 3 (it
    # compared Token objects with "is", and every read builds a new one), and the true depth moves events in
    # 28 of 561 test texts without changing the PLOVER figures: left out until there is gold to choose by
    ranked = sorted(candidates, key=lambda c: (-STRENGTH[c.kind], c.trigger))
    if ranked and ranked[0].kind != "noun":
        ranked = [c for c in ranked if c.kind != "noun" or parse.dep[c.trigger] in {"dobj", "nsubj", "nsubjpass", "ROOT"}]
    return ranked


def _candidate_words(parse: ParsedDoc) -> list[int]:
    """The verbs and the nouns outside named entities: what _candidates reads, found with array operations over the whole doc."""
    pos, tag, ent_type = parse.array[:, 0], parse.array[:, 1], parse.array[:, 3]
    verb_tags = numpy.array([key for key in numpy.unique(tag).tolist() if LABELS[key].startswith("VB")], dtype=numpy.uint64)
    verbs = (pos == VERB) | (numpy.isin(tag, verb_tags) & (pos != AUX))
    nouns = ((pos == NOUN) | (pos == PROPN)) & (ent_type == 0)
    return list(numpy.flatnonzero(verbs | nouns).tolist())


def _candidates(parse: ParsedDoc, words: list[int], lex: Lexicon) -> list[_Candidate]:
    """The event evidence among a sentence's ``words`` (see _candidate_words)."""
    pos, tag, dep, head, lower = parse.pos, parse.tag, parse.dep, parse.head, parse.lower
    out: list[_Candidate] = []
    governed: set[int] = set()
    for i in words:
        if pos[i] == "VERB" or (tag[i].startswith("VB") and pos[i] != "AUX"):
            found = _verb_value(parse, i, lex)
            if found is None:
                continue
            kind, value = found
            h = head[i]
            if dep[i] in {"xcomp", "ccomp"} and h != i and h not in governed and base(lower[h], lex) in lex.governors:
                # "threatened to ban": the governor is the event, the complement its mode
                mode = value.split("/")[1] if "/" in value else value.lower()
                governed.add(h)
                out = [c for c in out if c.trigger != h]
                out.append(_Candidate(h, i, "phrase", f"{lex.governors[base(lower[h], lex)]}/{mode}", governed=True))
                continue
            if i in governed:
                continue
            out.append(_Candidate(i, i, kind, value))
        elif pos[i] in {"NOUN", "PROPN"} and not parse.ent_type[i]:
            noun = lookup(lower[i], lex.nouns, lex)
            if noun is None:
                continue
            h = head[i]
            light = dep[i] == "dobj" and base(lower[h], lex) in LIGHT_VERBS
            if not light and dep[i] not in NOUN_EVENT_DEPS and not (dep[i] == "pobj" and lower[h] in EVENT_PREPS):
                continue  # "described IS as a threat": the noun names no event that took place
            out.append(_Candidate(h if light else i, i, "phrase" if light else "noun", noun[1]))
    return out


def _verb_value(parse: ParsedDoc, i: int, lex: Lexicon) -> tuple[str, str] | None:
    """The lexicon's reading of a verb: its particle, its object, or the verb alone."""
    dep, lower = parse.dep, parse.lower
    verb = lookup(lower[i], lex.verbs, lex)
    lemma = verb[0] if verb else base(lower[i], lex)
    if lemma in lex.reporting:
        return None
    if lemma in lex.particle_verbs:
        for child in parse.children(i):
            if dep[child] in {"prt", "prep"}:
                phrase = lex.verb_particles.get(f"{lemma} {lower[child]}")
                if phrase:
                    return "phrase", phrase
    if lemma in lex.object_verbs:
        for child in parse.children(i):
            if dep[child] in {"dobj", "nsubjpass"}:
                for object_lemma in lemma_candidates(lower[child], lex):
                    phrase = lex.verb_objects.get(f"{lemma} {object_lemma}")
                    if phrase:
                        return "phrase", phrase
    if verb is None:
        return None
    return "verb", verb[1]


def _event(
    parse: ParsedDoc,
    sent: tuple[int, int],
    candidate: _Candidate,
    mentions: Mentions,
    dates: list[tuple[int, int, str]],
    lex: Lexicon,
    article_id: str,
) -> Event | None:
    anchor = candidate.anchor
    plover, _, mode = candidate.value.partition("/")
    flags = _flags(parse, anchor, candidate.trigger, lex)
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
    text = parse.text
    sent_start, sent_end = parse.idx[sent[0]], parse.end_char(sent[1] - 1)
    actors, recipients = participants(parse, anchor, candidate.trigger, mentions, lex)
    location = _location(parse, sent_start, sent_end, mentions, set(actors), set(recipients))
    if any(r != location for r in recipients):
        recipients = [r for r in recipients if r != location]  # "drive them out of the city of Kessin": where, not whom
    # else the place is what the event was aimed at: "fired at targets in Jericho", "a curfew in Algiers"
    if obligation and not candidate.governed and parse.dep[anchor] == "ccomp" and not candidate.kind == "noun":
        said_by = reporter(parse, anchor, mentions, lex)
        if said_by and actors and not set(said_by) & set(actors):
            actors, recipients = said_by, [*actors, *(r for r in recipients if r not in actors)]  # "X said Y must ..."
    date = _date(parse, dates, anchor)
    start, end = _stripped(text, sent_start, sent_end)
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


def _flags(parse: ParsedDoc, anchor: int, trigger: int, lex: Lexicon) -> tuple[bool, bool, bool, bool]:
    """Negated, future, hypothetical and obligation readings of the event's clause."""
    dep, lower, children = parse.dep, parse.lower, parse.children
    negated = future = hypothetical = obligation = False
    for token in {anchor, trigger}:
        for child in children(token):
            word = lower[child]
            if dep[child] == "neg" or word in {"never", "no"} and dep[child] in {"neg", "advmod", "det"}:
                negated = True
            elif dep[child] in {"aux", "auxpass"}:
                if word in lex.future_aux:
                    future = True
                    hypothetical = hypothetical or word == "would"
                elif word in lex.obligation_aux:
                    obligation = True
                elif word in lex.hypothetical_aux:
                    hypothetical = True
            elif dep[child] == "advcl" and any(dep[g] == "mark" and lower[g] in lex.conditions for g in children(child)):
                hypothetical = True
            elif dep[child] == "mark" and word in lex.conditions:
                hypothetical = True
        head = parse.head[token]
        if dep[token] in {"xcomp", "acl", "ccomp"} and base(lower[head], lex) in lex.future_governors:
            future = True
            negated = negated or any(dep[c] == "neg" for c in children(head))
    return negated, future, hypothetical, obligation


def _location(parse: ParsedDoc, start: int, end: int, mentions: Mentions, actors: set[str], recipients: set[str]) -> str | None:
    """A place in the sentence: one after "in", "at", "near" ... first, else any place not taking part."""
    places = [m for m in mentions.inside(start, end) if m[3] in PLACE_TYPES and m[2] not in actors]
    if not places:
        return None
    dep, head = parse.dep, parse.head
    for place_start, _, name, _ in places:
        span = parse.doc.char_span(place_start, place_start + 1, alignment_mode="expand")
        if span is None:
            continue
        token = span.root.i
        while dep[token] in {"compound", "amod", "poss", "pobj", "appos"} and head[token] != token:
            if dep[token] == "pobj":
                if parse.lower[head[token]] in PLACE_PREPS:
                    return name
                break
            token = head[token]
    others = [name for _, _, name, _ in places if name not in recipients]
    return others[0] if others else None


def _date(parse: ParsedDoc, dates: list[tuple[int, int, str]], anchor: int) -> str | None:
    """The sentence's date: one inside the event's clause first."""
    if not dates:
        return None
    left, right = parse.edges(anchor)
    inside = [date for date in dates if left <= date[0] and date[1] <= right + 1]
    return (inside or dates)[0][2]


def _magnitudes(parse: ParsedDoc, numeric: list[int], end: int, lex: Lexicon) -> list[Magnitude]:
    """Head counts in a sentence: "killing 12", "5,640 people to flee", "two soldiers were wounded".

    ``numeric`` are the sentence's tokens that can be numbers; ``end`` is where the sentence ends.
    """
    lower, ent_type = parse.lower, parse.ent_type
    found: dict[str, int] = {}
    skip: set[int] = set()
    n = len(lower)
    for i in numeric:
        if i in skip or ent_type[i] in NOT_COUNTS:
            continue
        value = _number(parse, i, lex)
        if value is None:
            continue
        token = i
        while token + 1 < min(n, end) and lower[token + 1] in {"hundred", "thousand", "million", "billion"}:
            token += 1
            value *= lex.numbers[lower[token]]  # "1.5 million"
            skip.add(token)
        kind = _magnitude_kind(parse, token, lex)
        if kind and kind not in found:
            found[kind] = int(value)
    return [Magnitude(kind=kind, value=value) for kind, value in found.items()]


def _number(parse: ParsedDoc, i: int, lex: Lexicon) -> float | None:
    text = parse.lower[i].replace(",", "")
    if text in lex.numbers and text not in {"hundred", "thousand", "million", "billion"}:
        return lex.numbers[text]
    if parse.like_num[i]:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if value >= 1 else None
    return None


def _magnitude_kind(parse: ParsedDoc, token: int, lex: Lexicon) -> str | None:
    """The consequence a number counts, from the words around it in the parse."""
    dep, head, children = parse.dep, parse.head, parse.children
    noun = head[token] if dep[token] in {"nummod", "compound", "quantmod"} else token
    while dep[noun] in {"nummod", "compound", "quantmod"} and head[noun] != noun:
        noun = head[noun]
    verb = head[noun]
    # what happened to them ("were arrested", "forced to flee") before what they are ("protesters", "dead")
    near = [verb, *[c for c in children(verb) if dep[c] in {"xcomp", "conj", "acomp", "advcl", "ccomp"}]]
    if dep[verb] in {"xcomp", "conj", "acl", "relcl"}:
        near.append(head[verb])
    near += [c for c in children(noun) if dep[c] in {"amod", "acl", "relcl"}] + [noun]
    for word in near:
        if dep[word] == "neg":
            continue
        hit = lookup(parse.lower[word], lex.magnitudes, lex)
        if hit:
            return hit[1]
    return None


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
