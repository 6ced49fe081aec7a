"""The correctness figure of query rules: 20 queries over the UCI News Aggregator dev headlines through the simulate
code path (enrich → stories → rules), checked against a reference evaluation written here independently (regular
expressions over the raw headline, not the query module's word index): precision and recall 1.0.

Every alerted article satisfies its query (precision), and every article that satisfies one belongs to a story the
rule alerted on (recall: once per story, so later articles of the story are covered by the story's alert).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from schemas import Alert
from streams.alert.rulefile import load_rules_yaml
from streams.cli.simulate import run_simulation
from streams.enrich.fingerprint import source_of
from tests.conftest import ROOT
from tests.figures import record_figure

UCI = ROOT.parent / "shared" / "data" / "stories" / "uci-news-aggregator-dev.csv"
ROW = "query rules: precision and recall on the UCI dev headlines"
Row = dict[str, str]


def has(row: Row, phrase: str, prefix: bool = False) -> bool:
    """Whether the headline holds ``phrase`` as whole words (case-insensitive; words joined by any non-word run)."""
    words = [re.escape(w) for w in re.findall(r"\w+", phrase)]
    pattern = r"(?<!\w)" + r"\W+".join(words) + (r"\w*" if prefix else r"(?!\w)")
    return re.search(pattern, row["TITLE"], re.IGNORECASE) is not None


def host(row: Row, *domains: str) -> bool:
    name = source_of(row["URL"])
    return any(name == domain or name.endswith("." + domain) for domain in domains)


#: (query, reference): phrases, OR, NOT / -, parentheses, prefixes and the title:, source: and feed: scopes
QUERIES: list[tuple[str, Callable[[Row], bool]]] = [
    ('"Game of Thrones"', lambda r: has(r, "Game of Thrones")),
    ('"Justin Bieber" OR "Selena Gomez"', lambda r: has(r, "Justin Bieber") or has(r, "Selena Gomez")),
    ("Snowden -SXSW", lambda r: has(r, "Snowden") and not has(r, "SXSW")),
    ("Snowden AND SXSW", lambda r: has(r, "Snowden") and has(r, "SXSW")),
    ("(Chiquita OR Fyffes) AND merger", lambda r: (has(r, "Chiquita") or has(r, "Fyffes")) and has(r, "merger")),
    ("bitcoin NOT (Japan OR Gox)", lambda r: has(r, "bitcoin") and not (has(r, "Japan") or has(r, "Gox"))),
    ('"Flappy Bird"', lambda r: has(r, "Flappy Bird")),
    ("Fannie OR Freddie", lambda r: has(r, "Fannie") or has(r, "Freddie")),
    ("Icahn eBay", lambda r: has(r, "Icahn") and has(r, "eBay")),
    ('"General Motors" recall', lambda r: has(r, "General Motors") and has(r, "recall")),
    ("recall -GM -\"General Motors\"", lambda r: has(r, "recall") and not has(r, "GM") and not has(r, "General Motors")),
    ("bank*", lambda r: has(r, "bank", prefix=True)),
    ("title:(Beyonce OR Swift)", lambda r: has(r, "Beyonce") or has(r, "Swift")),
    ("Apple AND (iPhone OR iPad OR iOS)", lambda r: has(r, "Apple") and (has(r, "iPhone") or has(r, "iPad") or has(r, "iOS"))),
    ("Google feed:t", lambda r: has(r, "Google") and r["CATEGORY"] == "t"),
    ("stocks feed:b -China", lambda r: has(r, "stocks") and r["CATEGORY"] == "b" and not has(r, "China")),
    ("source:reuters.com", lambda r: host(r, "reuters.com")),
    ("(source:bizjournals.com OR source:sfgate.com) -Bieber", lambda r: host(r, "bizjournals.com", "sfgate.com") and not has(r, "Bieber")),
    ('"Men\'s Wearhouse" OR "Jos. A. Bank"', lambda r: has(r, "Men's Wearhouse") or has(r, "Jos. A. Bank")),
    ("(Sandberg OR Lean) AND bossy", lambda r: (has(r, "Sandberg") or has(r, "Lean")) and has(r, "bossy")),
]  # fmt: skip


@pytest.mark.skipif(not UCI.exists(), reason="the shared UCI dev data is not here")
def test_twenty_queries_have_precision_and_recall_1(nlp: Any, tmp_path: Path) -> None:
    with UCI.open(encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: (int(r["TIMESTAMP"]), int(r["ID"])))
    watchlist = {"watch": [{"name": f"q{n}", "query": query} for n, (query, _) in enumerate(QUERIES)]}
    rules = load_rules_yaml(yaml.safe_dump(watchlist))
    lines = [
        (n, {"id": r["ID"], "title": r["TITLE"], "url": r["URL"], "feed_id": r["CATEGORY"], "published": int(r["TIMESTAMP"])})
        for n, r in enumerate(rows, start=1)
    ]
    out, stories = io.StringIO(), io.StringIO()
    assert run_simulation(iter(lines), rules, nlp, out, stories) == 0
    alerts = [Alert.model_validate_json(line) for line in out.getvalue().splitlines()]
    placed = [orjson.loads(line) for line in stories.getvalue().splitlines()]
    story_of = {row["id"]: row["story_id"] for row in placed}
    # stories split in one burst (an article would have joined either, the rows' "linked") count as one for a rule
    burst = {row["story_id"]: row["story_id"] for row in placed}

    def root(story: str) -> str:
        while burst[story] != story:
            story = burst[story]
        return story

    for row in placed:
        for other in row.get("linked", []):
            burst[root(other)] = root(row["story_id"])
    by_id = {r["ID"]: r for r in rows}
    total_alerted = total_matching = 0
    for rule, (query, reference) in zip(rules, QUERIES, strict=True):
        mine = [a for a in alerts if a.rule_id == rule.id]
        alerted_articles = {a.article_id for a in mine}
        alerted_stories = {root(a.story_id) for a in mine if not a.update}
        matching = {r["ID"] for r in rows if reference(r)}
        wrong = sorted(a for a in alerted_articles if not reference(by_id[a]))
        missed = sorted(a for a in matching if root(story_of[a]) not in alerted_stories)
        assert not wrong, f"{query}: alerted articles that do not satisfy it: {[by_id[a]['TITLE'] for a in wrong[:5]]}"
        assert not missed, f"{query}: matching articles in no alerted story: {[by_id[a]['TITLE'] for a in missed[:5]]}"
        assert matching, f"{query}: matches nothing in the data, so it proves nothing"
        fresh = [a.story_id for a in mine if not a.update]
        assert len(fresh) == len(set(fresh))  # one alert per story, never two
        assert alerted_stories == {root(story_of[a]) for a in matching}  # every burst of matching stories alerted
        total_alerted += len(alerted_articles)
        total_matching += len(matching)
    print(f"{len(QUERIES)} queries, {len(rows)} headlines: {total_matching} matching articles, {total_alerted} alerted articles")
    record_figure(ROW, "precision", 1.0)
    record_figure(ROW, "recall", 1.0)
    record_figure(ROW, "matching articles (20 queries)", total_matching)
