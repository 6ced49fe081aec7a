"""Topic records and their JSON Schemas, webhook signatures and the settings object."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest
from pydantic import SecretStr

from schemas import Alert, Article, DecodeError, FeedSource, decode, encode
from schemas.generate import OUT, TOPIC_RECORDS, schema_files
from streams.config import Settings, get_settings
from streams.deliver.signing import sign_webhook, verify_webhook
from streams.errors import InputError

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def test_checked_in_schemas_match_records() -> None:
    files = schema_files()
    assert sorted(files) == sorted(p.name for p in OUT.glob("*.json")), "run `make schemas`"
    for name, body in files.items():
        assert (OUT / name).read_bytes() == body, f"{name} is stale: run `make schemas`"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_golden_payloads_decode_and_validate(path: Path) -> None:
    topic = path.name.split(".")[0]
    model = TOPIC_RECORDS[topic]
    record = decode(model, path.read_bytes())
    schema = json.loads((OUT / f"{model.__name__}.v{record.schema_version}.json").read_text())
    jsonschema.validate(orjson.loads(encode(record)), schema)


def test_round_trip() -> None:
    article = Article(
        id="a",
        feed_id="f",
        feed_url="http://f/",
        url="http://x/",
        canonical_url="http://x/",
        title="T",
        fetched=datetime(2026, 1, 1, tzinfo=UTC),
        content_hash="h",
    )
    assert decode(Article, encode(article)) == article


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"schema_version": 2, "id": "x", "url": "http://x"}', "unsupported schema_version 2"),
        (b'{"id": "x", "url": "http://x"}', "unsupported schema_version None"),
        (b'{"schema_version": 1, "id": 5}', "id: Input should be a valid string"),
        (None, "tombstone"),
        (b"{" + b" " * (5 * 1024 * 1024) + b"}", "exceeds"),
        (b'{"schema_version": 1, "id": "x", "url": 3}', "url"),
        (b'{"schema_version": 1, "id": "x", "url": "http://x", "tags": ["a\\u0000"]}', "tags.0: NUL character"),
    ],
    ids=["invalid", "array", "future-version", "no-version", "missing-field", "tombstone", "too-big", "wrong-type", "nul-in-string"],
)
def test_decode_errors_are_specific(data: bytes | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode(FeedSource, data)


def test_standard_webhooks_golden_vector() -> None:
    # The published test vector of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign_webhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": signature}
    assert verify_webhook(secret, headers, body, now=1614265330)
    assert not verify_webhook(secret, headers, body + b" ", now=1614265330)
    assert not verify_webhook(secret, headers | {"webhook-id": "msg_other"}, body, now=1614265330)
    assert not verify_webhook(secret, headers, body, now=1614265330 + 301)


def test_settings_from_env_and_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "wirewatch.yaml"
    config.write_text("partitions: 4\ntopic_prefix: yaml.\n")
    monkeypatch.setenv("WIREWATCH_CONFIG", str(config))
    monkeypatch.setenv("WIREWATCH_TOPIC_PREFIX", "env.")
    monkeypatch.setenv("WIREWATCH_FETCH_ALLOW_HOSTS", "127.0.0.1/32, ::1")
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", "postgresql://u:secret@h/db")
    settings = Settings()
    assert settings.partitions == 4
    assert settings.topic("alerts") == "env.alerts"
    assert settings.fetch_allow_hosts == ["127.0.0.1/32", "::1"]
    masked = settings.masked()
    assert masked["database_url"] == "postgresql://u:***@h/db"  # the password masked, the rest shown
    assert "u:secret" not in json.dumps(masked)
    assert isinstance(settings.database_url, SecretStr)


def test_invalid_settings_fail_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_PARTITIONS", "zero")
    with pytest.raises(ValueError, match="partitions"):
        Settings()


@pytest.mark.parametrize(("variable", "value"), [("WIREWATCH_WEB_PORT", "70000"), ("WIREWATCH_POLLER_WEB_PORT", "0"),
                                                 ("WIREWATCH_PARTITIONS", "1000000"), ("WIREWATCH_NEW_MENTION_LOOKBACK_DAYS", "99999"),
                                                 ("WIREWATCH_DIGEST_MAX_ALERTS", "10000000")])  # fmt: skip
def test_numbers_out_of_range_are_named_with_their_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.delenv("WIREWATCH_CONFIG", raising=False)
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()  # read once per process: this test reads them again
    try:
        with pytest.raises(InputError, match=variable):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_alert_schema_requires_ids() -> None:
    with pytest.raises(DecodeError, match="Alert"):
        decode(Alert, b'{"schema_version": 1}')


@pytest.mark.parametrize("url", ["sqlite:///data/wirewatch.db", "mysql://u:secret@h/db"])
def test_database_url_other_than_postgres_says_where_sqlite_is_set(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.delenv("WIREWATCH_CONFIG", raising=False)
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        with pytest.raises(InputError, match="WIREWATCH_SQLITE_PATH") as caught:
            get_settings()
        assert "secret" not in str(caught.value)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("url", ["postgres://u:p@h/db", "host=127.0.0.1 dbname=wirewatch"])
def test_database_url_accepts_libpq_forms(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("WIREWATCH_DATABASE_URL", url)
    assert Settings().database_url is not None
