"""The two Faust apps, ``wirewatch-poller`` and ``wirewatch-worker``, built from the settings."""

from __future__ import annotations

from typing import Any

import faust
from faust.serializers import codecs
from faust.transport import drivers
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.config import Settings, get_settings


class _Utf8(codecs.Codec):
    """Keys are UTF-8 strings on every topic and in every table."""

    def _loads(self, s: bytes) -> Any:
        return s.decode("utf-8", "replace")

    def _dumps(self, s: Any) -> bytes:
        return s if isinstance(s, bytes) else str(s).encode("utf-8")


codecs.register("utf8", _Utf8())


class IdempotentProducer(aiokafka_driver.Producer):
    """Faust's producer with ``acks=all`` and idempotence on, so retries never duplicate a message."""

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class IdempotentTransport(aiokafka_driver.Transport):
    """The aiokafka transport using :class:`IdempotentProducer`."""

    Producer = IdempotentProducer


drivers.TRANSPORTS.aliases["wirewatch"] = "streams.app:IdempotentTransport"


def broker_url(settings: Settings) -> str:
    """Faust's broker URL for the comma-separated bootstrap list."""
    hosts = ";".join(host.strip() for host in settings.kafka_bootstrap.split(",") if host.strip())
    return f"wirewatch://{hosts}"


def create_app(role: str, settings: Settings | None = None) -> faust.App:
    """A Faust app for ``role`` (``poller`` or ``worker``) configured from the settings."""
    settings = settings or get_settings()
    port = settings.poller_web_port if role == "poller" else settings.web_port
    datadir = settings.data_dir / "faust" / role
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{settings.app_prefix}-{role}",
        broker=broker_url(settings),
        autodiscover=False,
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        key_serializer="utf8",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # One standby would double every changelog read on a two-process machine for little gain;
        # the changelog itself is the durable copy.
        table_standby_replicas=0,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=port,
        web_in_thread=False,
        broker_commit_every=100,
        # Faust's default of 60 s leaves a killed process's partitions idle for a minute; heartbeats
        # run on the event loop, which NLP never blocks, so a shorter timeout is safe.
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_session_timeout_seconds / 5,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        logging_config=None,
    )


poller_app = create_app("poller")
worker_app = create_app("worker")
