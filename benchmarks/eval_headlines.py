"""Headline entities: what extraction finds in the titles of the UCI News Aggregator dev CSV, judged by hand on a
seeded sample of 200 titles (every entity found in them: a real name or not); the figures are in docs/benchmarks.md.

Every title goes through one ``wirewatch extract`` run as a document of its own (``{"id", "text": title}``), as a
headline-only feed item is enriched. ``--show`` prints the sample's titles (seed 12) with their entities to judge (the
titles go to the terminal only: the repository keeps row numbers and entity strings, never the dataset's text);
``--score`` counts against the judgements in docs/headlines-judged.md: the junk share, the real names found and the
real names that the main branch's extraction found and this one loses; ``--before`` runs without the headline handling.
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
from pathlib import Path

import orjson
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
UCI_DEV = DATA / "stories" / "uci-news-aggregator-dev.csv"
JUDGED = ROOT / "docs" / "headlines-judged.md"
SAMPLE = 200
SEED = 12
#: a judgement row of docs/headlines-judged.md: | row | `entity` | name or junk | runs |
_JUDGEMENT = re.compile(r"^\|\s*(\d+)\s*\|\s*`(.+?)`\s*\|\s*(name|junk)\s*\|")


def rows(path: Path = UCI_DEV) -> list[tuple[str, str]]:
    """(the CSV's ID, title) of every row."""
    with path.open(encoding="utf-8", newline="") as source:
        return [(row["ID"], row["TITLE"]) for row in csv.DictReader(source)]


def titles(path: Path = UCI_DEV) -> list[str]:
    return [title for _, title in rows(path)]


def headline_entities() -> tuple[int, list[tuple[str, str, str]]]:
    """(titles, every extracted entity as (name, type, row ID))."""
    from streams.cli.extract import run_extract

    heads = rows()
    source = io.BytesIO(b"".join(orjson.dumps({"id": row, "text": title}) + b"\n" for row, title in heads))
    sink = io.StringIO()
    run_extract(source, sink, 64, Console(stderr=True, quiet=True))
    found = []
    for line in sink.getvalue().splitlines():
        record = orjson.loads(line)
        for entity in record.get("entities", []):
            found.append((entity["name"], entity["type"], str(record["id"])))
    return len(heads), found


def sample_rows(heads: list[tuple[str, str]]) -> list[str]:
    """The IDs of the 200 sampled titles (seed 12), in the CSV's order."""
    chosen = set(random.Random(SEED).sample(range(len(heads)), min(SAMPLE, len(heads))))
    return [row for i, (row, _) in enumerate(heads) if i in chosen]


def judgements(path: Path = JUDGED) -> dict[tuple[str, str], str]:
    """(row ID, entity) → "name" or "junk", from the judged list."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _JUDGEMENT.match(line)
        if match:
            out[(match.group(1), match.group(2))] = match.group(3)
    return out


def score(
    found: list[tuple[str, str, str]], sampled: list[str], judged: dict[tuple[str, str], str], main: set[tuple[str, str]]
) -> dict[str, object]:
    """Junk share of the entities found in the sampled titles, real names found, and real names ``main`` found that are lost."""
    inside = set(sampled)
    now = [(row, name) for name, _, row in found if row in inside]
    unjudged = sorted({item for item in now if item not in judged})
    junk = sum(judged.get(item) == "junk" for item in now)
    names = {item for item in now if judged.get(item) == "name"}
    lost = sorted(item for item in main if judged.get(item) == "name" and not any(_same(item, other) for other in names))
    every = {item for item, verdict in judged.items() if verdict == "name" and item[0] in inside}
    return {"entities": len(now), "junk": junk, "share": junk / max(1, len(now)), "names": len(names), "real_names": len(every),
            "lost": lost, "unjudged": unjudged}  # fmt: skip


def _same(one: tuple[str, str], other: tuple[str, str]) -> bool:
    """The same real name of one title, however spelled or shortened ("Jos A. Bank" / "Jos. A. Bank", "Miley" / "Miley Cyrus")."""
    from streams.enrich.normal import name_key

    if one[0] != other[0]:
        return False
    a, b = name_key(one[1], org=True), name_key(other[1], org=True)
    return bool(a and b) and (a in b or b in a)


def main_run(path: Path = JUDGED) -> set[tuple[str, str]]:
    """The (row ID, entity) pairs the main branch's extraction found, as the judged list records them."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _JUDGEMENT.match(line)
        if match and "main" in line.rsplit("|", 2)[-2]:
            out.add((match.group(1), match.group(2)))
    return out


def without_headline_handling() -> None:
    """The extraction as it was before issue 12's headline handling (the model reads the title as it is written)."""
    from streams.enrich import step

    step.model_view = lambda text: text  # type: ignore[assignment]
    step.headline_entities = lambda text, entities, known: entities  # type: ignore[assignment]


def main() -> int:
    if not UCI_DEV.exists():
        print(f"{UCI_DEV} is not there", file=sys.stderr)
        return 1
    if "--before" in sys.argv:
        without_headline_handling()
    heads = rows()
    count, found = headline_entities()
    sampled = sample_rows(heads)
    print(f"UCI dev: {count} titles, {len(found)} entities ({len(found) / count:.2f} per title)")
    if "--show" in sys.argv:
        text = dict(heads)
        by_row: dict[str, list[str]] = {}
        for name, kind, row in found:
            by_row.setdefault(row, []).append(f"{name!r} {kind}")
        for row in sampled:
            print(f"{row:>5} {text[row][:100]}\n      -> {'; '.join(by_row.get(row, [])) or '(none)'}")
    if "--score" in sys.argv:
        result = score(found, sampled, judgements(), main_run())
        print(f"sample: {len(sampled)} titles, {result['entities']} entities, junk {result['junk']} ({result['share']:.1%}); "
              f"real names found {result['names']} of {result['real_names']} judged real in these titles")  # fmt: skip
        print(f"real names main found and this run loses: {len(result['lost'])} {result['lost']}")  # type: ignore[arg-type]
        if result["unjudged"]:
            print(f"not judged yet: {result['unjudged']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
