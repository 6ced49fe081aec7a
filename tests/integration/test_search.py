"""Search and entity reports on real SQLite (FTS5) and PostgreSQL (tsvector), through the sink and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas import EnrichedArticle
from streams.clock import parse_since
from streams.errors import InputError, QueryError, QuerySyntaxError
from streams.store.base import Sink
from streams.store.postgres import PostgresSink
from streams.store.queries import SearchQuery
from streams.store.sqlite import SQLiteSink
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(tz=UTC).replace(microsecond=0)

# Invented articles: (id, title, text, published hours ago, [(name, type)])
ARTICLES = [
    ("a1", "Ali Akbar Velayati visits Mosul", "Ali Akbar Velayati met officials in Mosul and Baghdad on Tuesday.", 24,
     [("Ali Akbar Velayati", "PERSON"), ("Mosul", "GPE"), ("Baghdad", "GPE")]),
    ("a2", "Repairs begin at the Mosul Dam", "Engineers started repairs at the Mosul Dam after the spring floods.", 120,
     [("Mosul Dam", "FAC")]),
    ("a3", "Mosul United lift the cup", "Mosul United won the regional cup final on penalties.", 1,
     [("Mosul United", "ORG")]),
    ("a4", "Velayati speaks in Tehran", "Ali Akbar Velayati gave a speech in Tehran about regional trade.", 72,
     [("Ali Akbar Velayati", "PERSON"), ("Tehran", "GPE")]),
    ("a5", "Redmoor bridge vote", "Councillors in Redmoor voted for the new bridge.", 2,
     [("Redmoor", "GPE")]),
]  # fmt: skip


def stored(article_id: str, title: str, text: str, hours_ago: int, names: list[tuple[str, str]]) -> EnrichedArticle:
    article = factories.article(
        article_id,
        text,
        feed_id="invented-wire",
        feed_url="http://127.0.0.1/wire.xml",
        url=f"http://127.0.0.1/{article_id}",
        canonical_url=f"http://127.0.0.1/{article_id}",
        title=title,
        published=NOW - timedelta(hours=hours_ago),
        fetched=NOW,
    )
    return factories.enriched(article, *(factories.entity(name, kind) for name, kind in names), enriched=NOW)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Sink, dict[str, str]]]:
    """A filled sink of either kind, with the environment that points the CLI at the same database."""
    if request.param == "sqlite":
        path = tmp_path / "search.db"
        sink: Sink = SQLiteSink(path)
        env = {"WIREWATCH_SQLITE_PATH": str(path)}
        cleanup = None
    else:
        import asyncpg

        postgres_url = request.getfixturevalue("postgres_url")
        schema = f"t{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f"CREATE SCHEMA {schema}")
        url = f"{postgres_url}?options=-csearch_path%3D{schema}"
        sink = PostgresSink(url)
        env = {"WIREWATCH_DATABASE_URL": url}
        cleanup = (admin, schema)
    await sink.open()
    try:
        await sink.write_enriched([stored(*row) for row in ARTICLES])
        yield sink, env
    finally:
        await sink.close()
        if cleanup is not None:
            admin, schema = cleanup
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


async def test_search_by_words_time_and_entity_type(backend: tuple[Sink, dict[str, str]]) -> None:
    sink, _ = backend
    every = await sink.search(SearchQuery("Mosul"))
    assert [hit.article_id for hit in every] == ["a3", "a1", "a2"]  # newest first
    recent = await sink.search(SearchQuery("mosul", since=NOW - timedelta(days=2)))
    assert [hit.article_id for hit in recent] == ["a3", "a1"]
    places = await sink.search(SearchQuery("Mosul", since=NOW - timedelta(days=2), entity_type="GPE"))
    assert [hit.article_id for hit in places] == ["a1"]
    assert places[0].entities == ["Mosul (GPE)"]
    marked = [places[0].snippet[h.start : h.end] for h in places[0].highlights]
    assert marked == ["Mosul"] and [(s.where, s.text) for s in places[0].spans] == [("title", "Mosul"), ("text", "Mosul")]
    # a list of words: every word must occur; the rest is the rules' query language, errors with the column
    assert [hit.article_id for hit in await sink.search(SearchQuery("Velayati Tehran"))] == ["a4"]
    assert [hit.article_id for hit in await sink.search(SearchQuery("Mosul OR Tehran"))] == ["a3", "a1", "a4", "a2"]
    assert [hit.article_id for hit in await sink.search(SearchQuery('"Mosul Dam" OR (title:mosul -cup -Baghdad)'))] == ["a2"]
    assert [hit.article_id for hit in await sink.search(SearchQuery("Mosul AND entity:Baghdad"))] == ["a1"]
    assert [hit.article_id for hit in await sink.search(SearchQuery("type:FAC OR (Velayati AND NOT Mosul)"))] == ["a4", "a2"]
    assert [hit.article_id for hit in await sink.search(SearchQuery("Mos*"))] == ["a3", "a1", "a2"]
    assert await sink.search(SearchQuery("Atlantis")) == []
    assert await sink.search(SearchQuery("Mosul AND source:bbc.co.uk")) == []
    with pytest.raises(QuerySyntaxError, match="unterminated quote.*at column 11"):
        await sink.search(SearchQuery('Mosul "Dam'))
    with pytest.raises(QueryError):
        await sink.search(SearchQuery("  ?! "))


async def test_entity_report_timeline_and_company(backend: tuple[Sink, dict[str, str]]) -> None:
    sink, _ = backend
    report = await sink.entity_report("Velayati")
    assert report is not None
    assert (report.entity.name, report.entity.type, report.entity.mentions) == ("Ali Akbar Velayati", "PERSON", 2)
    assert sum(count for _, count in report.timeline) == 2 and len(report.timeline) == 2
    assert [day for day, _ in report.timeline] == sorted(day for day, _ in report.timeline)
    assert sorted(other.name for other in report.co_mentioned) == ["Baghdad", "Mosul", "Tehran"]
    assert [article["id"] for article in report.articles] == ["a1", "a4"]
    # an exact name wins over longer names containing it; the others are listed
    mosul = await sink.entity_report("mosul")
    assert mosul is not None and mosul.entity.name == "Mosul"
    assert sorted(other.name for other in mosul.others) == ["Mosul Dam", "Mosul United"]
    assert await sink.entity_report("Atlantis") is None


def wirewatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")} | {"COLUMNS": "200"} | env
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=full, cwd=ROOT, capture_output=True, text=True, timeout=60)


async def test_cli_search_and_entity(backend: tuple[Sink, dict[str, str]]) -> None:
    _, env = backend
    found = wirewatch(env, "search", "Mosul", "--since", "2d", "--type", "gpe", "--json")
    assert found.returncode == 0, found.stderr
    assert [hit["article_id"] for hit in orjson.loads(found.stdout)] == ["a1"]
    table = wirewatch(env, "search", "Mosul", "--since", "2d")
    assert table.returncode == 0 and "Mosul United lift the cup" in table.stdout and "2 article(s)" in table.stdout
    report = wirewatch(env, "entity", "Velayati", "--json")
    assert report.returncode == 0, report.stderr
    body = orjson.loads(report.stdout)
    assert body["entity"]["name"] == "Ali Akbar Velayati" and {e["name"] for e in body["co_mentioned"]} == {"Baghdad", "Mosul", "Tehran"}
    human = wirewatch(env, "entity", "Velayati")
    assert human.returncode == 0 and "co-mentioned" in human.stdout and "Tehran" in human.stdout
    missing = wirewatch(env, "entity", "Atlantis")
    assert missing.returncode == 1 and "no stored entity matches 'Atlantis'" in missing.stderr
    # empty results say why: the matches the filters left out, and the option that finds them
    older = wirewatch(env, "search", "Velayati", "--since", "12h")
    print(older.stdout, older.stderr)
    assert older.returncode == 0 and "0 article(s)" in older.stdout
    assert "2 older match(es), the newest 1 d 0 h ago" in older.stderr or "2 older match(es), the newest 24 h" in older.stderr
    assert older.stderr.rstrip().endswith("try --since 2d")
    untyped = wirewatch(env, "search", "Redmoor", "--type", "PERSON")
    assert "no match names a PERSON entity; 1 match(es) without --type" in untyped.stderr
    nothing = wirewatch(env, "search", "Atlantis")
    assert "no stored article matches 'Atlantis'" in nothing.stderr
    invalid = wirewatch(env, "search", "Mosul AND (Dam OR Baghdad")
    assert invalid.returncode == 2 and "expected ')' at column 26" in invalid.stderr and "Traceback" not in invalid.stderr
    found = orjson.loads(wirewatch(env, "search", '"mosul dam"', "--json").stdout)
    assert [(h["article_id"], [s["text"] for s in h["spans"]]) for h in found] == [("a2", ["Mosul Dam", "Mosul Dam"])]
    assert {h["where"] for h in found[0]["highlights"]} == {"snippet"}
    narrow = wirewatch(env | {"COLUMNS": "80"}, "search", "Mosul", "-n", "1")
    print(narrow.stdout)
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80 and " ago" in narrow.stdout
    bad = wirewatch(env, "search", "Mosul", "--since", "yesterday")
    assert bad.returncode == 2 and "expected a duration like 30m, 12h, 2d" in bad.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2d", timedelta(days=2)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)), ("1w", timedelta(weeks=1))],
    ids=["days", "hours", "minutes", "weeks"],
)
def test_parse_since_durations(text: str, expected: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - expected


def test_parse_since_dates() -> None:
    assert parse_since("2026-11-27", NOW) == datetime(2026, 11, 27, tzinfo=UTC)
    with pytest.raises(InputError, match="yesterday"):
        parse_since("yesterday")
    with pytest.raises(InputError, match="at most 3660 days back"):
        parse_since("9999999999d")


async def test_cli_stories_story_and_search_grouped_by_story(backend: tuple[Sink, dict[str, str]]) -> None:
    from schemas import Story

    sink, env = backend
    copies = [
        stored(f"v{n}", f"Velayati in Basra, report {n}", "Ali Akbar Velayati visited Basra port.", n, [("Ali Akbar Velayati", "PERSON")])
        for n in range(3)
    ]
    copies = [c.model_copy(update={"story_id": "story-basra", "article": c.article.model_copy(update={"feed_id": f"outlet-{n}",
              "url": f"http://outlet{n}.example/basra"})}) for n, c in enumerate(copies)]  # fmt: skip
    await sink.write_enriched(copies)
    basra = Story(id="story-basra", headline="Velayati in Basra <port>", url="http://outlet0.example/basra", article_id="v0",
                  first_seen=NOW - timedelta(hours=2), last_seen=NOW, article_count=3, source_count=3, lifecycle="growing",
                  velocity=2, per_hour=[0] * 22 + [1, 2])  # fmt: skip
    # the same news opened as a second story in the same minutes, linked from the first
    split = basra.model_copy(update={"id": "story-split", "headline": "Iranian adviser visits Basra", "article_count": 1,
                                     "source_count": 1})  # fmt: skip
    await sink.write_stories([basra.model_copy(update={"linked_story_ids": ["story-split"]}), split])
    listed = wirewatch(env, "stories", "--since", "6h", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(s["id"], s["article_count"]) for s in orjson.loads(listed.stdout)] == [("story-basra", 3), ("story-split", 1)]
    table = wirewatch(env, "stories", "--since", "6h")
    assert table.returncode == 0 and "Velayati in Basra <port>" in table.stdout and "growing" in table.stdout
    one = wirewatch(env, "story", "story-ba")
    assert one.returncode == 0, one.stderr
    assert "articles by outlet" in one.stdout and "outlet1.example" in one.stdout and "3 article(s) from 3 source(s)" in one.stdout
    assert "same news, opened apart in the same minutes: story story-spli 'Iranian adviser visits Basra' (1 article(s))" in one.stdout
    as_json = orjson.loads(wirewatch(env, "story", "story-basra", "--json").stdout)
    assert [other["id"] for other in as_json["linked"]] == ["story-split"] and as_json["story"]["linked_story_ids"] == ["story-split"]
    assert wirewatch(env, "story", "nothing-like-it").returncode == 1
    grouped = wirewatch(env, "search", "Basra")
    assert grouped.returncode == 0 and "3 article(s) in 1 story" in grouped.stdout and "and 2 more outlets" in grouped.stdout


async def test_cli_stories_says_when_older_stories_exist(backend: tuple[Sink, dict[str, str]]) -> None:
    from schemas import Story

    sink, env = backend
    empty = wirewatch(env, "stories", "--since", "6h")
    assert empty.returncode == 0 and "0 stories since" in empty.stdout + empty.stderr
    assert "older stories are stored" not in empty.stdout + empty.stderr  # nothing stored at all: nothing to point at
    old = NOW - timedelta(days=3)
    await sink.write_stories([Story(id="story-old", headline="Harbour strike ends", url="http://outlet0.example/strike", article_id="o1",
                                    first_seen=old - timedelta(hours=5), last_seen=old, article_count=4, source_count=2,
                                    lifecycle="fading", velocity=0, per_hour=[0] * 24)])  # fmt: skip
    listed = wirewatch(env, "stories", "--since", "6h")
    said = listed.stdout + listed.stderr
    assert listed.returncode == 0 and "0 stories since" in said
    assert "older stories are stored: the latest grew" in said and f"({old:%Y-%m-%d %H:%M} UTC)" in said and "--since 30d" in said
    wide = wirewatch(env, "stories", "--since", "4d", "--json")
    assert [story["id"] for story in orjson.loads(wide.stdout)] == ["story-old"]


# Invented articles for the agreement test: (id, url, title, text, summary, language, [(name, type)])
MORE = [
    ("m1", "https://www.outlet-one.example/m1", "Carl Icahn buys into eBay", "Carl Icahn bought eBay shares; PayPal rose.", "", "en",
     [("Carl Icahn", "PERSON"), ("eBay", "ORG")]),
    ("m2", "https://news.outlet-two.example/m2", "Icahn and the football club", "Carl Icahn watched football with PayPal staff.", "",
     "en", [("Carl Icahn", "PERSON")]),
    ("m3", "https://outlet-two.example/m3", "Propaganda film premieres", "The propaganda film was shown to pagan-themed crowds.", "",
     "en", []),
    ("m4", "https://outlet-three.example/m4", "Summary only", "", "Amazon.com and eBay report economic gains.", "en", []),
    ("m5", "https://outlet-three.example/m5", "Die Straße nach Mosul", "Die Straße wurde gesperrt, sagt die Stadt.", "", "de",
     [("Mosul", "GPE")]),
]  # fmt: skip

AGREEMENT_QUERIES = [
    '"Carl Icahn" AND (eBay OR PayPal) -football',
    "pagan",
    "propaganda OR pagan",
    "amazon AND ebay",
    "econom*",
    "title:icahn OR text:propaganda",
    "source:outlet-two.example AND NOT football",
    "lang:de strasse",
    "entity:mosul OR type:ORG",
    "feed:invented-wire velayati -tehran",
    'icahn "paypal staff"',
    "mosul",
]


async def test_search_and_a_query_rule_agree(backend: tuple[Sink, dict[str, str]]) -> None:
    """`search Q` finds exactly the stored articles a rule with query Q matches where rules are matched."""
    from streams.alert.queryindex import QueryIndex, doc_of
    from streams.alert.rulefile import make_rule

    sink, _ = backend
    more = []
    for article_id, url, title, text, summary, language, names in MORE:
        item = stored(article_id, title, text, 3, names)
        article = item.article.model_copy(update={"url": url, "canonical_url": url, "summary": summary, "language": language})
        more.append(item.model_copy(update={"article": article}))
    await sink.write_enriched(more)
    corpus = [stored(*row) for row in ARTICLES] + more
    for text in AGREEMENT_QUERIES:
        index = QueryIndex([make_rule("", [], kind="query", query=text)])
        expected = {item.article.id for item in corpus if index.matches(doc_of(item))}
        found = {hit.article_id for hit in await sink.search(SearchQuery(text, limit=100))}
        print(f"{text!r}: {sorted(found)}")
        assert found == expected, text
        assert expected, f"{text!r} matches nothing: the case proves nothing"
