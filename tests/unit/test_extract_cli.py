"""``wirewatch extract``: JSON lines in, the issue's JSON shape out, in order, bad lines reported, never a stop."""

import io
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from rich.console import Console

from streams.cli.extract import run_extract
from streams.cli.main import main

ENTITY_KEYS = {"id", "name", "type", "aliases", "mentions"}
EVENT_KEYS = {"id", "type", "mode", "actors", "recipients", "location", "date", "magnitudes", "negated", "future",
              "hypothetical", "sentence", "start", "end", "confidence"}  # fmt: skip
TEXT = "Mayor Marta Kowalczyk met Defence Minister Tomas Arvid in Lindenport on Monday. Police arrested 12 protesters."


def lines(*objects: object) -> io.BytesIO:
    return io.BytesIO(b"".join((o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n" for o in objects))


def test_output_shape_order_and_errors() -> None:
    sink, messages = io.StringIO(), io.StringIO()
    source = lines({"id": "a", "text": TEXT, "title": "Talks"}, b"{not json", {"id": "b"}, {"id": "c", "text": ""}, {"text": "Rain."})
    code = run_extract(source, sink, 2, Console(file=messages, width=200))
    out = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    assert code == 1  # two bad lines: the run finishes but says so
    assert [o.get("id") for o in out] == ["a", None, None, "c", "5"]
    assert out[1] == {"line": 2, "id": None, "error": out[1]["error"]} and "line 2: invalid JSON" in out[1]["error"]
    assert "line 3: expected an object with a string 'text'" in out[2]["error"]
    assert "line 2: invalid JSON" in messages.getvalue()
    first = out[0]
    assert set(first) == {"id", "entities", "events"}
    assert all(set(entity) == ENTITY_KEYS for entity in first["entities"])
    assert all(set(event) == EVENT_KEYS for event in first["events"])
    for entity in first["entities"]:
        for mention in entity["mentions"]:
            assert set(mention) == {"start", "end", "text"} and TEXT[mention["start"] : mention["end"]] == mention["text"]
    names = {entity["name"]: entity["type"] for entity in first["entities"]}
    assert names["Marta Kowalczyk"] == "PERSON" and names["Tomas Arvid"] == "PERSON" and names["Lindenport"] == "GPE"
    types = {event["type"]: event for event in first["events"]}
    assert types["CONSULT"]["recipients"] == ["Tomas Arvid"] and types["CONSULT"]["location"] == "Lindenport"
    assert types["COERCE"]["magnitudes"] == [{"kind": "arrested", "value": 12}]
    assert out[3] == {"id": "c", "entities": [], "events": []}


def test_a_text_over_the_chunk_size_is_extracted_whole_with_offsets_into_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text over spaCy's limit (here: the chunk size, made small) is parsed in pieces, never refused."""
    import streams.enrich.step as step

    monkeypatch.setattr(step, "CHUNK_CHARS", 150)
    long_text = "\n\n".join([TEXT] * 6)
    sink = io.StringIO()
    code = run_extract(lines({"id": "ok1", "text": TEXT}, {"id": "long", "text": long_text}), sink, 8, Console(file=io.StringIO()))
    out = {o["id"]: o for o in (orjson.loads(line) for line in sink.getvalue().splitlines())}
    assert code == 0
    names = {e["name"] for e in out["long"]["entities"]}
    assert names == {e["name"] for e in out["ok1"]["entities"]}
    kowalczyk = next(e for e in out["long"]["entities"] if e["name"] == "Marta Kowalczyk")
    assert len(kowalczyk["mentions"]) == 6  # one per copy, in one entity across the pieces
    for entity in out["long"]["entities"]:
        assert all(long_text[m["start"] : m["end"]] == m["text"] for m in entity["mentions"])
    assert max(m["start"] for m in kowalczyk["mentions"]) > 5 * len(TEXT)


def test_cli_with_a_watchlist(tmp_path: Path) -> None:
    watchlist = tmp_path / "watch.yaml"
    watchlist.write_text("watch:\n  - name: Marta Kowalczyk\n    aliases: [Kowalczyk]\n    type: PERSON\n    wikidata: Q999\n", "utf-8")
    source = tmp_path / "in.jsonl"
    source.write_bytes(orjson.dumps({"id": "a", "text": TEXT}) + b"\n")
    result = CliRunner().invoke(main, ["extract", str(source), "--watchlist", str(watchlist)])
    assert result.exit_code == 0, result.output
    (record,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    (watched,) = [e for e in record["entities"] if e.get("watch_ids")]
    assert watched["name"] == "Marta Kowalczyk" and watched["wikidata"] == "Q999"
