"""The event lexicon (``lexicons/events.yaml``) loaded and checked, and the lemma lookup that reads it."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LEXICON_FILE = Path(__file__).resolve().parent / "lexicons" / "events.yaml"
#: verbs that carry an event noun as their object: "launched an offensive", "held a meeting"
LIGHT_VERBS = frozenset(
    {"launch", "hold", "stage", "begin", "continue", "mount", "impose", "announce", "lodge", "issue", "conduct",
     "carry", "start", "resume", "end", "attend", "follow", "host", "make", "order", "call", "declare", "step"}
)  # fmt: skip


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
    particle_verbs: frozenset[str]  # first words of verb_particles: most verbs have no phrase to look for
    object_verbs: frozenset[str]  # first words of verb_objects
    forms: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)  # lemma_candidates, memoised
    found: dict[tuple[int, str], tuple[str, str] | None] = field(default_factory=dict, compare=False, repr=False)  # lookup, memoised


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
        particle_verbs=frozenset(str(key).split()[0] for key in data["verb_particles"]),
        object_verbs=frozenset(str(key).split()[0] for key in data["verb_objects"]),
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
    key = (id(table), word)  # the tables live as long as the lexicon that memoises them
    if key in lex.found:
        return lex.found[key]
    found = next(((lemma, table[lemma]) for lemma in lemma_candidates(word, lex) if lemma in table), None)
    if len(lex.found) < 100_000:
        lex.found[key] = found
    return found


def base(word: str, lex: Lexicon) -> str:
    """The base form of a word as far as the lexicon knows it (for phrases, reporting verbs and governors)."""
    for lemma in lemma_candidates(word, lex):
        if lemma in lex.known:
            return lemma
    return word.lower()
