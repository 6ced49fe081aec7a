"""The two Faust apps, ``wirewatch-poller`` and ``wirewatch-worker``, built from the settings."""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.types import Message
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams.config import Settings, get_settings
from streams.kafka.metrics import AGENT_CRASHES
from streams.kafka.sizes import limits
from streams.kafka.transport import HoldingFlowControl, ReliableConsumer, Topic, broker_url

log = logging.getLogger(__name__)


class App(faust.App):
    """Faust's app, remembering every agent that crashed, so /health can say so (streams/kafka/health.py).

    Agents catch what one message or batch can raise inside their loop; an exception that still escapes is a
    bug. Faust's supervisor restarts the agent, but the batch it held was acknowledged on the way out, so the
    process stays unhealthy until it is restarted.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: agent name → the exception that ended it, for the life of this process
        self.crashed_agents: dict[str, str] = {}

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Faust's flow control, holding each message it drops from a stream's buffer (HoldingFlowControl)."""
        return HoldingFlowControl(self._hold_dropped, loop=self.loop)

    def _hold_dropped(self, message: Message) -> None:
        if isinstance(self.consumer, ReliableConsumer):
            self.consumer.hold(message)

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        name = str(getattr(agent, "name", agent)).rsplit(".", 1)[-1]
        self.crashed_agents[name] = f"{type(exc).__name__}: {exc}"[:500]
        AGENT_CRASHES.labels(name).inc()
        log.error("agent %s crashed: %s: %s", name, type(exc).__name__, exc, exc_info=exc, extra={"agent": name})
        await super()._on_agent_error(agent, exc)


def create_app(role: str, settings: Settings | None = None) -> App:
    """A Faust app for ``role`` (``poller``, ``worker`` or ``nlp``) configured from the settings."""
    settings = settings or get_settings()
    port = settings.poller_web_port if role == "poller" else settings.web_port
    datadir = settings.data_dir / "faust" / role
    datadir.mkdir(parents=True, exist_ok=True)
    sizes = limits(settings)
    return App(
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
        # The size policy (streams/kafka/sizes.py): one message of WIREWATCH_MAX_MESSAGE_BYTES with its framing; batches of
        # 512 KiB (aiokafka's 16 KiB default held one or two enriched articles, so every further send to that partition
        # waited for a produce round trip: one request per ~1.5 messages measured), never above the message limit.
        producer_max_request_size=sizes.producer_request,
        producer_max_batch_size=sizes.producer_batch,
        # A send waits up to 5 ms for others to the same partition (aiokafka's default of 0 sends each at once): fewer,
        # fuller produce requests for the worker and the broker on the same cores. Apache Kafka's own producer took 5 ms
        # as its default in 4.0 (KIP-1030); the `all` worker's enrich rate rose 1.8 % in paired runs (docs/design.md).
        producer_linger=0.005,
        # One standby would double every changelog read on a two-process machine for little gain;
        # the changelog itself is the durable copy.
        table_standby_replicas=0,
        web_enabled=True,
        # Faust binds web_bind (default 0.0.0.0) and only builds URLs from web_host: both are the setting.
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=port,
        # Faust's own pages are off: /table/ and /router/ serve table values (pending digests hold destination URLs
        # and their tokens), / and /graph/ sensor data and the service graph. Only our pages are served.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        web_in_thread=False,
        broker_commit_every=100,
        # Faust's default of 60 s leaves a killed process's partitions idle for a minute; heartbeats
        # run on the event loop, which NLP never blocks, so a shorter timeout is safe.
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_session_timeout_seconds / 5,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        # Backpressure: a stalled agent (a slow database) pauses fetching instead of buffering the topic.
        stream_buffer_maxsize=settings.stream_buffer_size,
        # at least one whole message of the largest size the topics accept (the size policy), else consumer_fetch_bytes
        consumer_max_fetch_size=sizes.partition_fetch,
        broker_max_poll_records=settings.consumer_poll_records,
        logging_config=None,
        Topic=Topic,
    )


poller_app = create_app("poller")
# An NLP-only worker is a consumer group of its own (wirewatch-nlp): its members subscribe to the articles topic
# alone, and Faust's assignor expects one set of topics per group.
worker_app = create_app("nlp" if get_settings().worker_role == "nlp" else "worker")
