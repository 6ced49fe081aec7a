"""NER quality on CoNLL-2003 dev (gold tokens): raw spaCy entities vs Wirewatch's canonical entities, exact span + type F1."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.enrich.model import load_model
from streams.enrich.step import extract_doc

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CONLL_DEV = DATA / "ner" / "conll2003" / "dev.txt"
#: OntoNotes labels → CoNLL types, as the issue states it; labels not here are not CoNLL entities
TO_CONLL = {
    "PERSON": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
}

Span = tuple[int, int, str]  # first token, token after the last, CoNLL type


@dataclass
class GoldDoc:
    """One ``-DOCSTART-`` document: its tokens, where sentences start, and its gold mentions."""

    words: list[str]
    sent_starts: list[bool | int | None]
    spans: set[Span]


def read_conll(path: Path) -> list[GoldDoc]:
    """Documents of a CoNLL-2003 file (``token POS chunk NER``, IOB2 tags)."""
    docs: list[GoldDoc] = []
    words: list[str] = []
    starts: list[bool | int | None] = []
    tags: list[str] = []
    new_sentence = True

    def flush() -> None:
        if words:
            docs.append(GoldDoc(list(words), list(starts), _iob_spans(tags)))
        words.clear()
        starts.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            flush()
            new_sentence = True
            continue
        if not line.strip():
            new_sentence = True
            continue
        parts = line.split()
        words.append(parts[0])
        tags.append(parts[-1])
        starts.append(new_sentence)
        new_sentence = False
    flush()
    return docs


def _iob_spans(tags: list[str]) -> set[Span]:
    spans: set[Span] = set()
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        if start >= 0 and (tag == "O" or tag.startswith("B-") or tag[2:] != kind):
            spans.add((start, i, kind))
            start = -1
        if tag != "O" and start < 0:
            start, kind = i, tag[2:]
    return spans


def raw_spans(doc: Any) -> set[Span]:
    """spaCy's own entities, mapped to CoNLL types."""
    return {(ent.start, ent.end, TO_CONLL[ent.label_]) for ent in doc.ents if ent.label_ in TO_CONLL}


def canonical_spans(doc: Any) -> set[Span]:
    """Every mention of every canonical entity, typed by its entity (the article-wide decision)."""
    spans: set[Span] = set()
    for entity in extract_doc(doc).entities:
        kind = TO_CONLL.get(entity.type)
        if kind is None:
            continue
        for mention in entity.mentions:
            span = doc.char_span(mention.start, mention.end, alignment_mode="expand")
            if span is not None:
                spans.add((span.start, span.end, kind))
    return spans


@dataclass
class Score:
    """Counts of one system over the whole file."""

    tp: int = 0
    predicted: int = 0
    gold: int = 0

    def add(self, predicted: set[Span], gold: set[Span]) -> None:
        self.tp += len(predicted & gold)
        self.predicted += len(predicted)
        self.gold += len(gold)

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def parsed(nlp: Any, docs: Iterable[GoldDoc]) -> Iterable[tuple[Any, GoldDoc]]:
    """Gold-tokenised spaCy docs run through every component of the pipeline."""
    from spacy.tokens import Doc

    gold_docs = list(docs)
    inputs = [Doc(nlp.vocab, words=g.words, sent_starts=g.sent_starts) for g in gold_docs]
    yield from zip(nlp.pipe(inputs, batch_size=16), gold_docs, strict=True)


def evaluate(model: str = "en_core_web_sm", path: Path = CONLL_DEV) -> dict[str, float]:
    """Precision, recall and F1 of raw spaCy and of Wirewatch on one CoNLL file."""
    nlp = load_model(model)
    raw, ours = Score(), Score()
    started = time.perf_counter()
    gold_docs = read_conll(path)
    for doc, gold in parsed(nlp, gold_docs):
        raw.add(raw_spans(doc), gold.spans)
        ours.add(canonical_spans(doc), gold.spans)
    return {
        "docs": len(gold_docs),
        "mentions": raw.gold,
        "raw_p": raw.precision,
        "raw_r": raw.recall,
        "raw_f1": raw.f1,
        "ours_p": ours.precision,
        "ours_r": ours.recall,
        "ours_f1": ours.f1,
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    if not CONLL_DEV.exists():
        print(f"{CONLL_DEV} is not there", file=sys.stderr)
        return 1
    r = evaluate()
    print(f"CoNLL-2003 dev: {r['docs']:.0f} docs, {r['mentions']:.0f} gold mentions")
    print(f"  raw spaCy  P {r['raw_p']:.3f} R {r['raw_r']:.3f} F1 {r['raw_f1']:.3f}")
    print(f"  Wirewatch  P {r['ours_p']:.3f} R {r['ours_r']:.3f} F1 {r['ours_f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
