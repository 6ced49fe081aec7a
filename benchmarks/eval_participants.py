"""PLOVER participants on the gold-standard dev records: among sentences where an event of the gold type is found,
whether the gold source actor is among its actors and the gold target among its recipients; and the share of all
sentences with type, actor and recipient right (the method of issue 12).

A gold actor text matches an extracted name when one holds the other, compared without case and dots ("U.S." =
"US"): the gold texts are descriptions ("British Defence Secretary Tom King", "Moroccan diplomats").
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.eval_events import GSR_DEV, OLD_TO_NEW
from streams.enrich.model import load_model
from streams.enrich.registry import Registry
from streams.enrich.step import Resolution, extract_texts

SEED = GSR_DEV.parent.parent / "samples" / "seed-article.txt"

#: the sample article's four key events (those tests/unit/test_nlp.py checks on its invented twin): how each sentence
#: starts, the type, the actors and recipients that must be among the event's, its location, a magnitude it must carry
KEY_EVENTS = (
    ("A senior advisor to the Leader", "CONSULT", {"Ali Akbar Velayati"}, {"Haider al-Abadi"}, None, None),
    ("Before that meeting, Velayati", "CONSULT", {"Ali Akbar Velayati"}, {"Fuad Masum"}, None, None),
    ("The Iraqi Army has launched", "ASSAULT", {"Iraqi Army"}, set(), "Mosul", None),
    ("The fighting has forced", "ASSAULT", set(), set(), None, ("displaced", 5640)),
)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[.\u2019']", "", text).casefold().split())


def matches(gold: list[str], names: list[str]) -> bool:
    """Whether any extracted name and any gold actor text hold one another."""
    return any((n := _norm(name)) and (n in _norm(g) or _norm(g) in n) for g in gold for name in names)


def _actors(value: Any) -> list[str]:
    return [str(a["actorText"]) for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def evaluate(model: str = "en_core_web_sm", path: Path = GSR_DEV, show: bool = False) -> dict[str, float]:
    records = [r for r in json.loads(path.read_text("utf-8")) if r.get("event") not in (None, "DOCUMENT") and r.get("text")]
    texts = [str(r["text"]).strip().strip("{}").strip() for r in records]
    nlp = load_model(model)
    typed = actor = recipient = with_target = all_three = 0
    for record, text, extraction in zip(records, texts, extract_texts(nlp, texts, None, 32), strict=True):
        kind = OLD_TO_NEW.get(record["event"], record["event"])
        events = [e for e in extraction.events if e.type == kind]
        sources, targets = _actors(record.get("source")), _actors(record.get("target"))
        all_three += any(matches(sources, e.actors) and matches(targets, e.recipients) for e in events)
        if not events:
            continue
        typed += 1
        actor_right = any(matches(sources, e.actors) for e in events)
        actor += actor_right
        if targets:
            with_target += 1
            recipient_right = any(matches(targets, e.recipients) for e in events)
            recipient += recipient_right
            if show and not recipient_right:
                print(f"R {kind:9} gold {targets!s:40} got {[e.recipients for e in events]!s:40} {text[:120]}")
        if show and not actor_right:
            print(f"A {kind:9} gold {sources!s:40} got {[e.actors for e in events]!s:40} {text[:120]}")
    return {"sentences": len(records), "typed": typed, "actor": actor / typed if typed else 0.0,
            "recipient": recipient / with_target if with_target else 0.0, "with_target": with_target,
            "all_three": all_three / len(records) if records else 0.0}  # fmt: skip


def seed_events(model: str = "en_core_web_sm", path: Path = SEED) -> list[tuple[str, bool, str]]:
    """The sample article through a registry as the stream reads it: each key event, whether it is right, what was found."""
    nlp = load_model(model)
    text = path.read_text("utf-8")
    (extraction,) = extract_texts(nlp, [text], None, 16, ["seed"], [Resolution(Registry(), datetime(2016, 10, 21, tzinfo=UTC))])
    out = []
    for start, kind, actors, recipients, location, magnitude in KEY_EVENTS:
        found = [e for e in extraction.events if e.sentence.startswith(start) and e.type == kind]
        right = any(actors <= set(e.actors) and recipients <= set(e.recipients) and (location is None or e.location == location)
                    and (magnitude is None or magnitude in [(m.kind, m.value) for m in e.magnitudes]) for e in found)  # fmt: skip
        got = "; ".join(f"{e.type} {e.actors} -> {e.recipients} at {e.location}" for e in found) or "no event of the type"
        out.append((f"{kind} {start}...", right, got))
    return out


def main() -> int:
    if not GSR_DEV.exists():
        print(f"{GSR_DEV} is not there", file=sys.stderr)
        return 1
    r = evaluate(show="--show" in sys.argv)
    print(f"PLOVER GSR dev: {r['sentences']:.0f} sentences, {r['typed']:.0f} with an event of the gold type")
    print(f"  actor right {r['actor']:.3f}, recipient right {r['recipient']:.3f} (of {r['with_target']:.0f} with a gold target), "
          f"type + actor + recipient right {r['all_three']:.3f} of all sentences")  # fmt: skip
    if SEED.exists():
        seeds = seed_events()
        print(f"sample article: {sum(right for _, right, _ in seeds)} of {len(seeds)} key events right")
        for what, right, got in seeds:
            print(f"  {'right' if right else 'WRONG'}: {what} got {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
