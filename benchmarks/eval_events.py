"""PLOVER event quality on the gold-standard dev sentences: recall of the gold type and precision of what is extracted."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from streams.enrich.model import load_model
from streams.enrich.step import extract_doc

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
GSR_DEV = DATA / "events" / "plover-gsr-dev.json"
#: the gold file uses the older 18-type scheme; these are their PLOVER 2.0 names (as the issue states)
OLD_TO_NEW = {"DEMAND": "REQUEST", "DISAPPROVE": "ACCUSE", "INVESTIGATE": "ACCUSE", "FIGHT": "ASSAULT"}


def gold_records(path: Path = GSR_DEV) -> list[tuple[str, str, dict[str, Any]]]:
    """(sentence, PLOVER 2.0 type, the whole gold record) of every gold record that codes an event: the one loader of
    the gold file, for the events here and the participants (benchmarks/eval_participants.py)."""
    out = []
    for record in json.loads(path.read_text("utf-8")):
        if record.get("event") in (None, "DOCUMENT") or not record.get("text"):
            continue
        text = str(record["text"]).strip().strip("{}").strip()
        out.append((text, OLD_TO_NEW.get(record["event"], record["event"]), record))
    return out


def gold_sentences(path: Path = GSR_DEV) -> list[tuple[str, str]]:
    """(sentence, PLOVER 2.0 type) of every gold record that codes an event."""
    return [(text, kind) for text, kind, _ in gold_records(path)]


def evaluate(model: str = "en_core_web_sm", path: Path = GSR_DEV, show: bool = False) -> dict[str, Any]:
    """Share of sentences with an event of the gold type; share of extracted events of the gold type."""
    nlp = load_model(model)
    gold = gold_sentences(path)
    found = extracted = correct = 0
    confusion: Counter[tuple[str, str]] = Counter()
    for (text, expected), doc in zip(gold, nlp.pipe([t for t, _ in gold], batch_size=32), strict=True):
        events = extract_doc(doc, None, "gsr").events
        types = [event.type for event in events]
        extracted += len(types)
        correct += types.count(expected)
        found += expected in types
        confusion[(expected, types[0] if types else "-")] += 1
        if show and expected not in types:
            print(f"{expected:10} got {types!s:28} {text[:110]}")
    return {
        "sentences": len(gold),
        "type_recall": found / len(gold) if gold else 0.0,
        "precision": correct / extracted if extracted else 0.0,
        "extracted": extracted,
        "confusion": confusion,
    }


def main() -> int:
    if not GSR_DEV.exists():
        print(f"{GSR_DEV} is not there", file=sys.stderr)
        return 1
    r = evaluate(show="--show" in sys.argv)
    print(f"PLOVER GSR dev: {r['sentences']} sentences, {r['extracted']} events extracted")
    print(f"  sentences with an event of the gold type {r['type_recall']:.3f}, precision of extracted events {r['precision']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
