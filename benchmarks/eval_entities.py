"""One entity across articles: B-cubed of Wirewatch's entity ids against AIDA CoNLL-YAGO's Wikidata links (dev half).

The method of issue 12: every document through one ``wirewatch extract`` run (so they share a registry); each
(document, Wikidata id) is an item whose predicted id is the Wirewatch entity id covering most of its mentions (an
item no entity covers is a cluster of its own); B-cubed precision and recall over the items of entities linked in
two or more documents. The text is rebuilt from CoNLL-2003 ``dev.txt`` tokens joined by single spaces (SOURCES.md).
"""

from __future__ import annotations

import io
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
AIDA_DEV = DATA / "ner" / "aida-conll" / "aida-conll-dev.benchmark.jsonl"
CONLL_DEV = DATA / "ner" / "conll2003" / "dev.txt"

Item = tuple[str, str]  # document id, Wikidata id


def conll_texts(path: Path = CONLL_DEV) -> list[str]:
    """Each ``-DOCSTART-`` document's tokens joined by single spaces."""
    docs: list[list[str]] = []
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            docs.append([])
        elif line.strip() and docs:
            docs[-1].append(line.split()[0])
    return [" ".join(tokens) for tokens in docs]


def aida_documents(path: Path = AIDA_DEV) -> list[dict[str, Any]]:
    """AIDA's documents with their text rebuilt from CoNLL's tokens (checked against AIDA's masked text)."""
    docs = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    for doc, text in zip(docs, conll_texts(), strict=True):
        masked = doc["text"]
        if len(masked) != len(text) or any(m != "*" and m != t for m, t in zip(masked, text, strict=True)):
            raise ValueError(f"AIDA document {doc['id']} does not line up with CoNLL-2003 dev.txt")
        doc["text"] = text
    return docs


def predicted_items(docs: list[dict[str, Any]], lines: list[dict[str, Any]]) -> dict[Item, str | None]:
    """Each (document, Wikidata id) → the entity id covering most of its gold mentions (None when none does)."""
    items: dict[Item, str | None] = {}
    for doc, line in zip(docs, lines, strict=True):
        spans = [(m["start"], m["end"], e["id"]) for e in line.get("entities", []) for m in e["mentions"]]
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for label in doc["labels"]:
            qid = label["entity_id"]
            if not qid.startswith("Q"):
                continue  # <NIL>: linked to nothing
            start, end = label["span"]
            votes[qid].update(entity for s, e, entity in spans if s < end and start < e)
        for qid, counts in votes.items():
            items[(str(doc["id"]), qid)] = counts.most_common(1)[0][0] if counts else None
    return items


def b_cubed(items: dict[Item, str | None]) -> dict[str, float]:
    """B-cubed precision, recall and F1 over the items of Wikidata ids linked in two or more documents."""
    documents = Counter(qid for _, qid in items)
    kept = [item for item in items if documents[item[1]] >= 2]
    predicted = {item: items[item] or f"none:{item[0]}:{item[1]}" for item in kept}
    gold: dict[str, set[Item]] = defaultdict(set)
    clusters: dict[str, set[Item]] = defaultdict(set)
    for item in kept:
        gold[item[1]].add(item)
        clusters[predicted[item]].add(item)
    p = sum(len(clusters[predicted[i]] & gold[i[1]]) / len(clusters[predicted[i]]) for i in kept) / len(kept)
    r = sum(len(clusters[predicted[i]] & gold[i[1]]) / len(gold[i[1]]) for i in kept) / len(kept)
    return {"items": len(kept), "entities": len(gold), "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "uncovered": sum(1 for i in kept if items[i] is None)}  # fmt: skip


def run_extract_lines(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents through one ``wirewatch extract`` run (its own function, in this process), its output lines read back."""
    from streams.cli.extract import run_extract

    source = io.BytesIO(b"".join(orjson.dumps({"id": str(d["id"]), "text": d["text"]}) + b"\n" for d in docs))
    sink = io.StringIO()
    run_extract(source, sink, 32, Console(stderr=True, quiet=True))
    return [orjson.loads(line) for line in sink.getvalue().splitlines()]


def evaluate() -> dict[str, float]:
    docs = aida_documents()
    return b_cubed(predicted_items(docs, run_extract_lines(docs)))


def main() -> int:
    if not AIDA_DEV.exists() or not CONLL_DEV.exists():
        print(f"{AIDA_DEV} or {CONLL_DEV} is not there", file=sys.stderr)
        return 1
    r = evaluate()
    print(f"AIDA CoNLL-YAGO dev: {r['items']:.0f} items of {r['entities']:.0f} entities in two or more documents "
          f"({r['uncovered']:.0f} covered by no entity)")  # fmt: skip
    print(f"  B-cubed P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
