"""Every parser of input from people and files, fuzzed (Hypothesis): a bad input is an InputError, never another exception.

The command line turns an InputError into one line on stderr and exit 2 (streams/cli/common.py); these tests run
the pure parsers directly with generated input, then the real commands through click's CliRunner with a broker
address where nothing listens, so nothing reaches a real topic and every command must still end cleanly.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas import encode
from streams.alert.rulefile import RULE_OPTIONS, load_rules_yaml, make_rule, parse_magnitude
from streams.clock import MAX_AHEAD, MAX_SINCE, parse_since
from streams.config import Settings, get_settings
from streams.deliver.specs import validate_destination
from streams.errors import InputError
from streams.poll.feedlist import make_source, parse_opml, parse_registry_file, parse_yaml
from tests.figures import record_figure

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: any YAML-able value: what a hand-edited file may hold where a string, number or list was expected
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
DURATIONS = st.from_regex(r"\A\s*-?\d{1,30}(\.\d{0,5})?\s*[smhdwSMHDWy]?\s*\Z") | st.from_regex(
    r"\A\d{1,6}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?\Z"
)
URLISH = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda s, h, p: f"{s}://{h}{p}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "file", "javascript", ""]),
        st.text(alphabet=string.printable, max_size=25),
        st.text(max_size=15),
    ),  # fmt: skip
    st.sampled_from(
        [
            "http://[::1",
            "http://a:99999/",
            "https://[fe80::1%25eth0]/x",
            "http://0x7f.1/",
            "https://",
            "http:///x",
            "https://exa mple.org/",
            "http://user:pw@/",
            "https://example.org:-1/",
        ]
    ),  # fmt: skip
)


#: what the run tried, for the summary: parser inputs, those refused with an InputError, commands run
TRIED = {"inputs": 0, "refused": 0, "commands": 0}


@pytest.fixture(scope="module", autouse=True)
def tried_figures() -> Any:
    yield
    row = "bad input gets one line and exit 2, never a traceback (Hypothesis)"
    record_figure(row, "parser inputs tried", TRIED["inputs"])
    record_figure(row, "of them refused with an InputError", TRIED["refused"])
    record_figure(row, "real commands run (click CliRunner, no broker)", TRIED["commands"])


def only_input_errors(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run the parser: a result, or an InputError (a ValueError the CLI prints in one line); anything else fails."""
    TRIED["inputs"] += 1
    try:
        return call(*args, **kwargs)
    except InputError:
        TRIED["refused"] += 1
        return None


@FUZZ
@given(st.one_of(DURATIONS, st.text(max_size=40)))
@example("9999999999d")
@example("99999999999999999999999999999999w")
@example("0001-01-01")
@example("9999-12-31T23:59:59+00:00")
def test_since(value: str) -> None:
    moment = only_input_errors(parse_since, value, NOW)
    if moment is not None:  # usable by every command: `alerts` seeks Kafka a minute before it, `search` bounds SQL
        assert NOW - MAX_SINCE <= moment <= NOW + MAX_AHEAD
        (moment - timedelta(minutes=1)).timestamp()


@FUZZ
@given(st.one_of(st.text(max_size=30), st.from_regex(r"\A[a-z]{0,8}\s*(>=|≥)?\s*[\d,]{0,40}\Z")))
@example("killed>=99999999999999999999999")
def test_magnitude(text: str) -> None:
    parsed = only_input_errors(parse_magnitude, text)
    if parsed is not None:
        rule = only_input_errors(make_rule, "Blast", [], kind="event", **parsed)
        if rule is not None:
            encode(rule)  # a rule the CLI would publish must be one the topic can carry


@FUZZ
@given(st.text(max_size=30), st.lists(st.text(max_size=10), max_size=3), st.dictionaries(st.sampled_from(RULE_OPTIONS), YAML_VALUES))
def test_rules_from_options(name: str, aliases: list[str], options: dict[str, Any]) -> None:
    rule = only_input_errors(make_rule, name, aliases, **options)
    if rule is not None:
        encode(rule)


PREFIXES = st.sampled_from(["slack:", "mailto:", "file:", "digest:daily:", "digest:x:"])


@FUZZ
@given(st.one_of(URLISH, st.builds(lambda p, u: p + u, PREFIXES, URLISH)))
@example("file:../../etc/passwd")
@example("digest:hourly:digest:daily:https://example.org/x")
def test_destination_specs(spec: str) -> None:
    validated = Settings(data_dir=Path("/tmp/wirewatch-fuzz"), smtp_host="smtp.example.org")
    only_input_errors(validate_destination, spec, validated)


@FUZZ
@given(URLISH, st.text(max_size=10), st.lists(st.text(max_size=8), max_size=3), st.none() | st.integers(), st.none() | st.integers())
def test_feed_sources(url: str, title: str, tags: list[str], low: int | None, high: int | None) -> None:
    source = only_input_errors(make_source, url, title, tags, None, low, high)
    if source is not None:
        encode(source)


def outline_tree(depth: int, attributes: dict[str, str]) -> str:
    attrs = "".join(f' {key}="{value}"' for key, value in attributes.items())
    folder = '<outline text="f">'
    return f"<opml><body>{folder * depth}<outline{attrs}/>{'</outline>' * depth}</body></opml>"


ATTRIBUTE_TEXT = st.text(alphabet=st.characters(blacklist_characters='"<&', blacklist_categories=("Cs", "Cc")), max_size=25)


@FUZZ
@given(
    st.integers(min_value=0, max_value=60),
    st.dictionaries(st.sampled_from(["xmlUrl", "xmlurl", "title", "text", "category", "language", "type"]), ATTRIBUTE_TEXT, max_size=5),
)
def test_opml_outlines(depth: int, attributes: dict[str, str]) -> None:
    sources = only_input_errors(parse_opml, outline_tree(depth, attributes))
    for source in sources or []:
        encode(source)


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deeply_nested_opml_is_an_error_not_a_crash(depth: int) -> None:
    with pytest.raises(InputError, match="nested"):
        parse_opml(outline_tree(depth, {"xmlUrl": "https://example.org/feed.xml"}))


@FUZZ
@given(st.one_of(st.text(max_size=200), st.from_regex(r"\A<\??[a-z]{0,6}[^\n]{0,60}\Z"), st.just("<opml><body>")))
def test_registry_files_as_text(text: str) -> None:
    only_input_errors(parse_registry_file, text)


@FUZZ
@given(
    st.one_of(
        YAML_VALUES,
        st.lists(
            st.dictionaries(
                st.sampled_from(["url", "title", "tags", "language", "min_interval", "max_interval", "fulltext", "enabled", "other"]),
                YAML_VALUES,
            )
        ),
    )
)
def test_feed_yaml(data: Any) -> None:
    for source in only_input_errors(parse_yaml, yaml.safe_dump(data)) or []:
        encode(source)


@pytest.mark.parametrize("text", ["[" * 50_000, "a: " + "{b: " * 50_000, "- " * 50_000 + "x", "&a [*a, *a]"])
def test_feed_and_watchlist_yaml_bombs_are_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_yaml(text)
    with pytest.raises(InputError):
        load_rules_yaml(text)


WATCH_KEYS = ["name", "aliases", "type", "wikidata", "kind", "other", "magnitude", "unknown", *RULE_OPTIONS]


@FUZZ
@given(st.one_of(YAML_VALUES, st.dictionaries(st.just("watch"), st.lists(st.dictionaries(st.sampled_from(WATCH_KEYS), YAML_VALUES)))))
@example({"watch": [{"name": "A", "aliases": 5}]})
@example({"watch": [{"name": "A", "kind": ["spike"]}]})
@example({"watch": [{"name": "A", "lookback_days": 10**30}]})
def test_watchlist_yaml(data: Any) -> None:
    for rule in only_input_errors(load_rules_yaml, yaml.safe_dump(data)) or []:
        encode(rule)


@FUZZ
@given(st.one_of(YAML_VALUES, st.dictionaries(st.sampled_from(sorted(Settings.model_fields)), YAML_VALUES, max_size=4)))
@example({"partitions": 10**30})
@example({"web_port": -1})
def test_settings_file(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    path = tmp_path_factory.mktemp("config") / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(__import__("os").environ):
            if name.startswith("WIREWATCH_"):
                patch.delenv(name)
        patch.setenv("WIREWATCH_CONFIG", str(path))
        get_settings.cache_clear()
        try:
            only_input_errors(get_settings)
        finally:
            get_settings.cache_clear()


# ------------------------------------------------------------------ the real commands, no broker behind them

#: nothing listens on port 9 (discard) of loopback: every command that needs the broker must fail cleanly
UNREACHABLE = {"WIREWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9", "WIREWATCH_DATABASE_URL": "", "WIREWATCH_CONFIG": ""}
CLI = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
STATE: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def command_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where the commands keep state (an SQLite file for `search`): never the checkout's .local/."""
    base = tmp_path_factory.mktemp("commands")
    STATE.update({"WIREWATCH_DATA_DIR": str(base), "WIREWATCH_SQLITE_PATH": str(base / "wirewatch.db")})


def invoke(*args: str, env: dict[str, str] | None = None, codes: tuple[int, ...] = (0, 2)) -> None:
    """Run the real ``wirewatch`` command in-process; it must end with one of ``codes`` (0 or 2: done, or bad input in
    one line) and never a traceback."""
    from streams.cli.main import main

    TRIED["commands"] += 1
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, list(args), env={**UNREACHABLE, **STATE, **(env or {})}, catch_exceptions=True)
    finally:
        get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception, result.output)
    assert result.exit_code in codes, (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:") or line.startswith("Error:")]
    if result.exit_code == 2:
        assert len(errors) == 1 or "Usage:" in result.output, (args, result.output)


@CLI
@given(DURATIONS | st.text(max_size=20))
@example("9999999999d")
@example("0001-01-01")
def test_since_on_every_command(value: str) -> None:
    invoke("alerts", "--since", value)
    invoke("alerts", "replay", "--since", value, "--to", "console")
    invoke("search", "mayor", "--since", value)


@CLI
@given(st.text(max_size=20).filter(lambda s: not s.startswith("-")), st.text(max_size=30), st.lists(URLISH, max_size=2))
def test_watch_add(name: str, magnitude: str, destinations: list[str]) -> None:
    args = ["watch", "add", name or "x", "--kind", "event", "--magnitude", magnitude]
    for spec in destinations:
        args += ["--destination", spec]
    invoke(*args)


@CLI
@given(st.lists(URLISH.filter(lambda s: not s.startswith("-")), min_size=1, max_size=2), st.integers(min_value=1, max_value=10**30))
def test_feeds_add(urls: list[str], interval: int) -> None:
    invoke("feeds", "add", *urls, "--min-interval", str(interval), "--no-check")


@CLI
@given(st.text(max_size=300))
@example("<opml><body>" + '<outline text="f">' * 10_000 + "</body></opml>")
@example("watch:\n  - name: A\n    aliases: 5\n")
@example("[" * 10_000)
def test_file_importers_on_the_command_line(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("import") / "list.txt"
    path.write_text(text, "utf-8")
    invoke("feeds", "import", str(path))
    invoke("watch", "import", str(path))


def test_a_file_that_is_not_utf8_or_not_there(tmp_path: Path) -> None:
    path = tmp_path / "latin1.opml"
    path.write_bytes(b"<opml><body><outline xmlUrl='http://example.org/\xe9'/></body></opml>")
    invoke("feeds", "import", str(path))
    invoke("watch", "import", str(path))
    invoke("extract", "--watchlist", str(path), env={"WIREWATCH_SPACY_MODEL": "no_such_model"})
    invoke("feeds", "import", str(tmp_path / "missing.opml"))


@CLI
@given(st.dictionaries(st.sampled_from(["WIREWATCH_PARTITIONS", "WIREWATCH_WEB_PORT", "WIREWATCH_FETCH_ALLOW_HOSTS",
                                        "WIREWATCH_ALERT_DESTINATIONS", "WIREWATCH_LOG_LEVEL", "WIREWATCH_POLL_TICK_SECONDS",
                                        "WIREWATCH_WORKER_ROLE", "WIREWATCH_WEB_HOST"]),
                       st.text(alphabet=string.printable, max_size=20), min_size=1))  # fmt: skip
def test_settings_from_the_environment(env: dict[str, str]) -> None:
    invoke("config", "--json", env=env)
    invoke("destinations", env=env)


@CLI
@given(st.one_of(URLISH, st.builds(lambda p, u: p + u, PREFIXES, URLISH)), st.text(max_size=15), st.integers(-5, 10**12).map(str))
@example("digest:daily:file:x", "alerts", "0")
def test_other_arguments(spec: str, word: str, number: str) -> None:
    invoke("alerts", "replay", "--since", "1h", "--to", spec)
    invoke("alerts", "--limit", number)
    invoke("search", word or "x", "--limit", number, "--type", word)
    invoke("entity", word or "x", "--limit", number, codes=(0, 1, 2))  # 1: nothing stored matches, as grep says
    invoke("tail", word or "x", "--limit", number)
    invoke("destinations", "enable", word or "x")
