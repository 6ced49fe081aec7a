"""``wirewatch tail``: any topic as JSON lines."""

from __future__ import annotations

import sys

import click
import orjson

from streams.cli.common import run_async
from streams.config import get_settings


@click.command()
@click.argument("topic")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new messages.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="Stop after this many messages.")
def tail(topic: str, follow: bool, limit: int | None) -> None:
    """Print a topic's messages as JSON lines: {"key", "value"} (TOPIC without prefix, e.g. alerts)."""
    from streams.kafka.catalogue import TOPIC_NAMES
    from streams.kafka.client import read_topic

    settings = get_settings()
    suffix = topic.removeprefix(settings.topic_prefix)
    if suffix not in TOPIC_NAMES:
        raise click.BadParameter(f"unknown topic {topic!r}; one of: {', '.join(TOPIC_NAMES)}", param_hint="TOPIC")

    async def go() -> None:
        count = 0
        async for key, value in read_topic(settings, suffix, follow=follow):
            try:
                decoded = orjson.loads(value) if value is not None else None
            except orjson.JSONDecodeError:
                decoded = {"undecodable": value.decode("utf-8", "replace") if value else None}
            sys.stdout.write(orjson.dumps({"key": key, "value": decoded}).decode() + "\n")
            sys.stdout.flush()
            count += 1
            if limit is not None and count >= limit:
                return

    try:
        run_async(go())
    except KeyboardInterrupt:
        pass
