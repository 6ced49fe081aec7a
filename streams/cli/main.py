"""The ``wirewatch`` command: one group; each command group lives in a module of its own."""

from __future__ import annotations

import logging

import click

from streams.cli import alerts, config, data, destinations, entities, extract, feeds, gendocs, processes, simulate, stories, topics, watch
from streams.cli.common import fail
from streams.config import get_settings
from streams.errors import InputError


@click.group()
@click.version_option(package_name="wirewatch")
def main() -> None:
    """Wirewatch: live news feeds to entities, key events and alerts on Apache Kafka."""
    # aiokafka logs retried produce errors (a new topic's leader not yet elected) and failed connection attempts; a
    # command reports what matters itself, in one line (`wirewatch poller` and `worker` set their own log levels)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        get_settings()  # read once here, so a bad variable or settings file is one line and exit 2 for every command
    except InputError as exc:
        fail(str(exc))


for _command in (
    processes.poller, processes.worker, processes.run, processes.demo, feeds.feeds, watch.watch, alerts.alerts,
    destinations.destinations, topics.tail, extract.extract, simulate.simulate, config.config, data.search, data.entity,
    entities.entities, stories.stories, stories.story, gendocs.docs,
):  # fmt: skip
    main.add_command(_command)
