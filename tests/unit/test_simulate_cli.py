"""``wirewatch simulate``: past articles through enrich, stories and rules, alerts as JSON lines; bad lines skipped."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from schemas import Alert
from streams.alert.rulefile import load_rules_yaml
from streams.cli.main import main
from streams.cli.simulate import article_of, simulation_registry
from streams.enrich.gazetteer import watched_entity_id
from streams.story.decide import story_id_for

LINES = [
    {"id": "a1", "title": "Harbour master Teodor Brankovic closes Saltmere docks as storm nears", "url": "http://one.example/docks",
     "published": "2026-11-27T07:30:00Z"},
    {"id": "a2", "title": "Saltmere docks shut by Brankovic ahead of the storm", "summary": "Teodor Brankovic shut the docks.",
     "url": "http://two.example/docks", "published": 1795764600000},  # unix milliseconds, an hour later
    {"id": "a2", "title": "Saltmere docks shut by Brankovic ahead of the storm", "url": "http://two.example/docks",
     "published": 1795764600},  # the same id again: a repeat, no alert
    {"title": "   "},  # no title: reported and skipped
    {"id": "b1", "title": "Redmoor library reopens after the flood", "url": "http://three.example/lib", "published": "2026-11-27T09:00"},
]  # fmt: skip


def test_simulate_prints_one_alert_per_story_and_writes_story_ids(tmp_path: Path) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in LINES) + b"not json\n")
    watchlist = tmp_path / "watch.yaml"
    watchlist.write_text("watch:\n  - name: Teodor Brankovic\n    aliases: [Brankovic]\n    type: PERSON\n    kind: mention\n", "utf-8")
    stories = tmp_path / "stories.jsonl"
    result = CliRunner().invoke(main, ["simulate", str(source), "--watchlist", str(watchlist), "--stories", str(stories)])
    assert result.exit_code == 1, result.output  # two unusable lines
    assert "line 4: needs a non-empty string 'title'" in result.stderr and "line 6: invalid JSON" in result.stderr
    # the repeat of a2 is an article of the run too (it is assigned its story again, and raises nothing)
    summary = "simulated 4 article(s) in 2 stories: 1 alert(s) and 1 update(s) from 1 rule(s); 2 line(s) skipped"
    assert summary in " ".join(result.stderr.split())  # the console wraps at its width
    alerts = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    # the update counts the second outlet and still quotes the story's earliest mention (the same alert in any order)
    assert [(a.article_id, a.update, a.source_count) for a in alerts] == [("a1", False, 1), ("a1", True, 2)]
    assert {a.story_id for a in alerts} == {story_id_for("a1")}
    assigned = [orjson.loads(line) for line in stories.read_text().splitlines()]
    assert [(row["id"], row["story_id"]) for row in assigned] == [
        ("a1", story_id_for("a1")), ("a2", story_id_for("a1")), ("a2", story_id_for("a1")), ("b1", story_id_for("b1"))]  # fmt: skip


def test_simulate_reads_fields_as_the_poller_does() -> None:
    # an archive's raw feed fields: character references decoded and tags dropped, as the poller's parse gives them
    article = article_of({"id": "r1", "title": "Caf&#233; owner <b>Mar&iacute;a</b> reopens", "summary": "<p>Doors open &amp; busy.</p>",
                          "url": "http://one.example/cafe", "published": "2026-11-27T07:30:00Z"}, 1)  # fmt: skip
    assert article.title == "Café owner María reopens"
    assert article.summary == article.text == "Doors open & busy."


def test_simulation_shares_one_registry_that_starts_with_the_watched_entities() -> None:
    rules = load_rules_yaml("watch:\n  - name: Teodor Brankovic\n    aliases: [T. Brankovic]\n    type: PERSON\n    kind: mention\n")
    registry = simulation_registry(rules)
    entry = registry.get(watched_entity_id(rules[0].entity))
    assert entry is not None and entry.name == "Teodor Brankovic"


def test_a_watchlist_without_rules_is_refused_or_warned_about(tmp_path: Path) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_bytes(orjson.dumps(LINES[0]) + b"\n")
    guessed = tmp_path / "guessed.yaml"
    guessed.write_text("rules:\n  - name: Teodor Brankovic\n", "utf-8")  # a section name guessed wrong: not an empty watchlist
    result = CliRunner().invoke(main, ["simulate", str(source), "--watchlist", str(guessed)])
    said = " ".join(result.stderr.split())  # the console wraps at its width
    assert result.exit_code != 0 and "unknown top-level key(s) rules" in said and "under 'watch:'" in said
    empty = tmp_path / "empty.yaml"
    empty.write_text("watch: []\n", "utf-8")
    stories = tmp_path / "stories.jsonl"
    result = CliRunner().invoke(main, ["simulate", str(source), "--watchlist", str(empty), "--stories", str(stories)])
    assert result.exit_code == 0, result.output
    assert "has no watch rules: no alert can fire" in " ".join(result.stderr.split()) and result.stdout == ""
    assert [orjson.loads(line)["id"] for line in stories.read_text().splitlines()] == ["a1"]  # still clustered
